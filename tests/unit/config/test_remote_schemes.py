"""One list of object-store schemes: config validation and the repository sources agree."""

from __future__ import annotations

from ovserve.config import graphs, storage


def test_config_and_repository_read_the_same_schemes() -> None:
    assert storage.REMOTE_PREFIXES == ("s3://", "gs://", "az://", "azfs://")
    assert graphs.CLOUD_PREFIXES == storage.REMOTE_PREFIXES
