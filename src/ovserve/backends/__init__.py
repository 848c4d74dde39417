"""Inference backends. Each turns a model version on disk into a servable."""
