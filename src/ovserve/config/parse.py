"""The config parsing surface in one import: value syntaxes, config.json, and diff.

The work lives in :mod:`ovserve.config.syntax` (OVMS's value syntaxes),
:mod:`ovserve.config.file` (config.json) and :mod:`ovserve.config.diff`.
"""

from __future__ import annotations

from ovserve.config.diff import ConfigDiff, diff
from ovserve.config.file import (
    CLOUD_PREFIXES,
    ConfigFile,
    load_config_file,
    parse_config,
    parse_config_text,
    parse_model_entry,
    resolve_base_path,
)
from ovserve.config.syntax import (
    is_valid_bind_address,
    parse_batch_size,
    parse_dim,
    parse_grpc_channel_arguments,
    parse_layout,
    parse_layout_setting,
    parse_metrics_list,
    parse_plugin_config,
    parse_shape,
    parse_shape_setting,
    parse_version_policy,
)

__all__ = [
    "CLOUD_PREFIXES",
    "ConfigDiff",
    "ConfigFile",
    "diff",
    "is_valid_bind_address",
    "load_config_file",
    "parse_batch_size",
    "parse_config",
    "parse_config_text",
    "parse_dim",
    "parse_grpc_channel_arguments",
    "parse_layout",
    "parse_layout_setting",
    "parse_metrics_list",
    "parse_model_entry",
    "parse_plugin_config",
    "parse_shape",
    "parse_shape_setting",
    "parse_version_policy",
    "resolve_base_path",
]
