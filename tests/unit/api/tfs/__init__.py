"""Unit tests of the TF Serving front end (a package so its fakes import relatively)."""
