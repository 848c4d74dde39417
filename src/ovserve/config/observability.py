"""Checks and conversions of the observability flags (--log_format, --tracing_*)."""

from __future__ import annotations

import math

from ovserve.config.types import TracingConfig
from ovserve.errors import ConfigError

LOG_FORMATS = ("text", "json")
TRACING_PROTOCOLS = ("http/protobuf", "grpc")


def parse_log_format(text: str) -> str:
    if text not in LOG_FORMATS:
        raise ConfigError(
            "--log_format", f"log_format should be one of: {', '.join(LOG_FORMATS)}; got {text!r}"
        )
    return text


def parse_tracing(enable: bool, endpoint: str, protocol: str, ratio: str) -> TracingConfig:
    """The tracing settings; empty texts are left to the OTEL_* environment variables."""
    if protocol and protocol not in TRACING_PROTOCOLS:
        raise ConfigError(
            "--tracing_protocol",
            f"tracing_protocol should be one of: {', '.join(TRACING_PROTOCOLS)}; got {protocol!r}",
        )
    if endpoint and not endpoint.startswith(("http://", "https://")):
        raise ConfigError(
            "--tracing_endpoint", f"tracing_endpoint should be an http:// or https:// URL; got {endpoint!r}"
        )
    sample_ratio = None
    if ratio:
        try:
            sample_ratio = float(ratio)
        except ValueError:
            sample_ratio = math.nan
        if not 0.0 <= sample_ratio <= 1.0:
            raise ConfigError(
                "--tracing_sample_ratio",
                f"tracing_sample_ratio should be a number from 0 to 1; got {ratio!r}",
            )
    if not enable and (endpoint or protocol or ratio):
        raise ConfigError(
            "--tracing_enable",
            "tracing_endpoint, tracing_protocol and tracing_sample_ratio need tracing_enable",
        )
    return TracingConfig(enable, endpoint or None, protocol or None, sample_ratio)
