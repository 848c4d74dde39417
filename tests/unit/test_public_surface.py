"""The public surface of ``import ovserve`` is pinned: adding or removing a name is a decision."""

from __future__ import annotations

import importlib
import subprocess
import sys

import ovserve

SURFACE = [
    "__version__",
    "parse_args",
    "HelpRequested",
    "VersionRequested",
    "ServerConfig",
    "ModelConfig",
    "VersionPolicy",
    "BatchingConfig",
    "StatefulConfig",
    "LayoutSpec",
    "PreprocessSpec",
    "MetricsConfig",
    "SecurityConfig",
    "TlsConfig",
    "CorsConfig",
    "TracingConfig",
    "Server",
    "run",
    "Code",
    "ServingError",
    "ConfigError",
    "StartupError",
    "Dim",
    "TensorSpec",
    "InferRequest",
    "InferResponse",
]


def test_all_is_exactly_the_pinned_surface() -> None:
    assert ovserve.__all__ == SURFACE


def test_each_public_name_imports_and_is_the_defining_modules_object() -> None:
    namespace: dict[str, object] = {}
    exec(f"from ovserve import {', '.join(SURFACE)}", namespace)
    for name in SURFACE[1:]:
        obj = namespace[name]
        assert getattr(importlib.import_module(obj.__module__), name) is obj  # type: ignore[attr-defined]
    assert set(SURFACE) <= set(dir(ovserve))


def test_unknown_name_is_an_attribute_error() -> None:
    try:
        ovserve.no_such_name  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_import_ovserve_loads_no_heavy_module() -> None:
    code = (
        "import sys, ovserve; "
        "print(','.join(m for m in ('numpy', 'openvino', 'grpc', 'uvicorn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
