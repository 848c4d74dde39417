"""Sources: where model versions come from (local directories and S3, GCS or Azure Blob stores)."""
