"""Sources: where model versions come from (local directories; remote stores later)."""
