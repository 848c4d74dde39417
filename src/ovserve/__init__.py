"""ovserve: a fast Python model server for OpenVINO models.

It speaks KServe v2 and TensorFlow Serving over REST and gRPC and takes OpenVINO
Model Server's command line and config.json. Start it with ``ovserve`` or
``python -m ovserve``; embed it with :func:`ovserve.run` or :class:`ovserve.Server`.

The public surface
------------------
``__all__`` below is what an embedding user may import from ``ovserve`` and rely on;
everything else (``ovserve.api``, ``ovserve.core``, ``ovserve.backends``, ...) is
internal and may change between releases. The surface is what embedding needs and
nothing more:

- **Configure**: :func:`parse_args` turns OVMS's command line into a frozen
  :class:`ServerConfig` (and raises :class:`HelpRequested` / :class:`VersionRequested`
  for ``--help`` / ``--version``); or build :class:`ServerConfig` and its parts
  (:class:`ModelConfig`, :class:`VersionPolicy`, :class:`BatchingConfig`,
  :class:`StatefulConfig`, :class:`LayoutSpec`, :class:`PreprocessSpec`,
  :class:`MetricsConfig`, :class:`SecurityConfig`, :class:`TlsConfig`,
  :class:`CorsConfig`, :class:`TracingConfig`) directly.
- **Run**: :func:`run` (blocking, returns the exit code) or :class:`Server` (``await
  Server(config).run()`` inside your own event loop).
- **Errors**: :class:`ConfigError` (bad command line or config.json),
  :class:`StartupError` (a port cannot be bound), and the family every request error
  belongs to, :class:`ServingError` with its canonical :class:`Code`.
- **Tensors**: :class:`TensorSpec` and :class:`Dim` (what model metadata reports),
  :class:`InferRequest` / :class:`InferResponse` (numpy in, numpy out).

Importing ``ovserve`` stays cheap (no numpy, OpenVINO or gRPC): each name is imported
from its module on first use (PEP 562 module ``__getattr__``).
``tests/unit/test_public_surface.py`` pins the list.
"""

TYPE_CHECKING = False  # typing's own constant, without importing typing at run time

__version__ = "0.1.0"

#: Public name -> the module that defines it (imported on first attribute access).
_SURFACE: dict[str, str] = {
    # configure
    "parse_args": "ovserve.cli",
    "HelpRequested": "ovserve.cli",
    "VersionRequested": "ovserve.cli",
    "ServerConfig": "ovserve.config.types",
    "ModelConfig": "ovserve.config.types",
    "VersionPolicy": "ovserve.config.types",
    "BatchingConfig": "ovserve.config.types",
    "StatefulConfig": "ovserve.config.types",
    "LayoutSpec": "ovserve.config.types",
    "PreprocessSpec": "ovserve.config.types",
    "MetricsConfig": "ovserve.config.types",
    "SecurityConfig": "ovserve.config.types",
    "TlsConfig": "ovserve.config.types",
    "CorsConfig": "ovserve.config.types",
    "TracingConfig": "ovserve.config.types",
    # run
    "Server": "ovserve.app",
    "run": "ovserve.app",
    # errors
    "Code": "ovserve.errors",
    "ServingError": "ovserve.errors",
    "ConfigError": "ovserve.errors",
    "StartupError": "ovserve.errors",
    # tensors
    "Dim": "ovserve.tensors",
    "TensorSpec": "ovserve.tensors",
    "InferRequest": "ovserve.tensors",
    "InferResponse": "ovserve.tensors",
}

__all__ = ["__version__", *_SURFACE]

# The same names for type checkers and IDEs, without the import cost at run time.
if TYPE_CHECKING:
    from ovserve.app import Server as Server
    from ovserve.app import run as run
    from ovserve.cli import (
        HelpRequested as HelpRequested,
    )
    from ovserve.cli import (
        VersionRequested as VersionRequested,
    )
    from ovserve.cli import (
        parse_args as parse_args,
    )
    from ovserve.config.types import (
        BatchingConfig as BatchingConfig,
    )
    from ovserve.config.types import (
        CorsConfig as CorsConfig,
    )
    from ovserve.config.types import (
        LayoutSpec as LayoutSpec,
    )
    from ovserve.config.types import (
        MetricsConfig as MetricsConfig,
    )
    from ovserve.config.types import (
        ModelConfig as ModelConfig,
    )
    from ovserve.config.types import (
        PreprocessSpec as PreprocessSpec,
    )
    from ovserve.config.types import (
        SecurityConfig as SecurityConfig,
    )
    from ovserve.config.types import (
        ServerConfig as ServerConfig,
    )
    from ovserve.config.types import (
        StatefulConfig as StatefulConfig,
    )
    from ovserve.config.types import (
        TlsConfig as TlsConfig,
    )
    from ovserve.config.types import (
        TracingConfig as TracingConfig,
    )
    from ovserve.config.types import (
        VersionPolicy as VersionPolicy,
    )
    from ovserve.errors import (
        Code as Code,
    )
    from ovserve.errors import (
        ConfigError as ConfigError,
    )
    from ovserve.errors import (
        ServingError as ServingError,
    )
    from ovserve.errors import (
        StartupError as StartupError,
    )
    from ovserve.tensors import (
        Dim as Dim,
    )
    from ovserve.tensors import (
        InferRequest as InferRequest,
    )
    from ovserve.tensors import (
        InferResponse as InferResponse,
    )
    from ovserve.tensors import (
        TensorSpec as TensorSpec,
    )


def __getattr__(name: str) -> object:
    module = _SURFACE.get(name)
    if module is None:
        raise AttributeError(f"module 'ovserve' has no attribute {name!r}")
    value = getattr(__import__(module, fromlist=[name]), name)  # builtin: no importlib to load
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_SURFACE})
