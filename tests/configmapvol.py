"""A directory laid out as the kubelet lays out a ConfigMap volume, and updated as it updates one.

The kubelet mounts a ConfigMap as a directory: the data lives in a timestamped directory
(``..2026_12_06_10_00_00.000000001``), ``..data`` is a symlink to it and each key (``config.json``)
a symlink to ``..data/<key>``. An update writes a new timestamped directory, points a new
``..data_tmp`` symlink at it, renames that over ``..data`` (one atomic rename) and deletes the old
directory. A server reading ``config.json`` must see the new data through the unchanged path.
"""

from __future__ import annotations

import os
from pathlib import Path


class ConfigMapVolume:
    """A directory laid out as the kubelet lays out a ConfigMap volume, updated as it updates one."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True)
        self.updates = 0

    @property
    def config_path(self) -> Path:
        return self.root / "config.json"

    def write(self, data: dict[str, str]) -> None:
        self.updates += 1
        stamp = f"..2026_12_06_10_00_{self.updates:02d}.{self.updates:09d}"
        payload = self.root / stamp
        payload.mkdir()
        for key, text in data.items():
            (payload / key).write_text(text)
        old = os.readlink(self.root / "..data") if (self.root / "..data").is_symlink() else None
        os.symlink(stamp, self.root / "..data_tmp")
        os.replace(self.root / "..data_tmp", self.root / "..data")  # the atomic swap
        for key in data:
            if not (self.root / key).is_symlink():
                os.symlink(f"..data/{key}", self.root / key)
        if old is not None:
            for leftover in (self.root / old).iterdir():
                leftover.unlink()
            (self.root / old).rmdir()
