"""Configuration: frozen objects, config.json parsing and validation."""

from ovserve.config.file import ConfigFile, load_config_file
from ovserve.config.types import (
    LayoutSpec,
    MetricsConfig,
    ModelConfig,
    ServerConfig,
    ShapeSpec,
    VersionPolicy,
)

__all__ = [
    "ConfigFile",
    "LayoutSpec",
    "MetricsConfig",
    "ModelConfig",
    "ServerConfig",
    "ShapeSpec",
    "VersionPolicy",
    "load_config_file",
]
