"""The local filesystem source: version directories under each model's base path."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from ovserve.config.types import ModelConfig
from ovserve.core.manager import AspiredStream, AspiredVersion, Loader
from ovserve.errors import BASE_PATH_INVALID, LoadError

log = logging.getLogger(__name__)

#: The same type as scheduling.loader.LoaderFactory: the layers keep repository and scheduling
#: independent (and core knows no ModelConfig), so each declares it.
LoaderFactory = Callable[[ModelConfig, int, Path], Loader]
T = TypeVar("T")


#: A local base path may name one model file of these kinds (OVMS 2026.3): it is served as version 1.
SINGLE_FILE_SUFFIXES = (".xml", ".onnx", ".pdmodel", ".pdiparams", ".pb", ".tflite")


def scan_versions(base_path: Path) -> dict[int, Path]:
    """Positive integer subdirectories of ``base_path``; others are skipped with a warning.

    A base path that is one model file (OVMS 2026.3) is version 1, that file.
    """
    if base_path.is_file():
        if base_path.suffix not in SINGLE_FILE_SUFFIXES:
            raise LoadError(
                f"File not found or cannot open: {base_path} is not a model file "
                f"({', '.join(SINGLE_FILE_SUFFIXES)}) nor a directory of versions"
            )
        return {1: base_path}
    if not base_path.is_dir():
        raise LoadError(f"{BASE_PATH_INVALID}: {base_path}")
    found: dict[int, Path] = {}
    for entry in base_path.iterdir():
        if not entry.is_dir():
            continue
        if entry.name.isdigit() and int(entry.name) > 0:
            found[int(entry.name)] = entry
        else:
            log.warning(
                "%s: skipping %r, version directories have positive integer names", base_path, entry.name
            )
    return found


class LocalSource:
    """Turns model configs into aspired versions by listing their base paths (a stateless scan)."""

    def __init__(self, loader_factory: LoaderFactory) -> None:
        self.loader_factory = loader_factory

    def aspired_stream(self, config: ModelConfig) -> AspiredStream:
        try:
            versions = scan_versions(Path(config.base_path))
        except LoadError as exc:
            return AspiredStream((), exc)
        except OSError as exc:
            return AspiredStream((), LoadError(f"{BASE_PATH_INVALID}: {exc}"))
        return policy_stream(config, versions, lambda v, path: self.loader_factory(config, v, path))


def policy_stream(
    config: ModelConfig, found: Mapping[int, T], make_loader: Callable[[int, T], Loader]
) -> AspiredStream:
    """The versions of ``found`` (number -> where it is) that the model's policy serves.

    Shared by every source, so an empty repository or a policy that matches nothing reads
    the same whether the versions sit on local disk or in an object store.
    """
    if not found:
        return AspiredStream(
            (),
            LoadError(f"Not a single model version directory has valid numeric name: {config.base_path}"),
        )
    chosen = config.version_policy.select(found)
    if not chosen:
        return AspiredStream(
            (),
            LoadError(
                f"No version found on {config.base_path} matches the version policy {config.version_policy}"
            ),
        )
    fingerprint = config.fingerprint()
    return AspiredStream(tuple(AspiredVersion(v, make_loader(v, found[v]), fingerprint) for v in chosen))
