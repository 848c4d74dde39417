"""Finding the model file in a version directory, in OVMS's order of formats."""

from __future__ import annotations

from pathlib import Path

from ovserve.errors import BASE_PATH_INVALID, LoadError


def find_model_file(version_dir: Path) -> Path:
    """The file OpenVINO should read: IR, then ONNX, Paddle, TensorFlow, TFLite.

    A SavedModel (a directory holding ``saved_model.pb``) is read as its directory.
    ``version_dir`` may also be one model file (a single-file base path, OVMS 2026.3).
    """
    if version_dir.is_file():
        return _single_file(version_dir)
    if not version_dir.is_dir():
        raise LoadError(f"{BASE_PATH_INVALID}: {version_dir}")
    files = sorted(p for p in version_dir.iterdir() if p.is_file())
    for xml in (p for p in files if p.suffix == ".xml"):
        if xml.with_suffix(".bin").exists():
            return xml
    for suffix in (".onnx", ".pdmodel"):
        for path in files:
            if path.suffix == suffix:
                if suffix == ".pdmodel" and not path.with_suffix(".pdiparams").exists():
                    continue
                return path
    if (version_dir / "saved_model.pb").exists():
        return version_dir
    for suffix in (".pb", ".tflite"):
        for path in files:
            if path.suffix == suffix:
                return path
    raise LoadError(
        f"File not found or cannot open: no model file (.xml+.bin, .onnx, .pdmodel, .pb, .tflite) in {version_dir}"
    )


def _single_file(path: Path) -> Path:
    """The file to read for a single-file model: an IR needs its .bin, Paddle both of its files."""
    if path.suffix == ".xml" and not path.with_suffix(".bin").is_file():
        raise LoadError(f"File not found or cannot open: missing {path.with_suffix('.bin').name} for {path}")
    if path.suffix in (".pdmodel", ".pdiparams"):
        pair = (path.with_suffix(".pdmodel"), path.with_suffix(".pdiparams"))
        if not all(p.is_file() for p in pair):
            raise LoadError(
                f"File not found or cannot open: a Paddle model needs {pair[0].name} and {pair[1].name}"
            )
        return pair[0]
    if path.name == "saved_model.pb":
        return path.parent
    return path
