"""The OpenAPI document names only routes the server has, with the methods it answers."""

from __future__ import annotations

import asyncio
import re

from ovserve.api.http import HttpResponse
from ovserve.api.openapi import document
from ovserve.app import build_router
from ovserve.config.types import MetricsConfig
from ovserve.metrics.registry import MetricsRegistry

from .kserve.fakes import make_context

SAMPLE = {"name": "m", "version": "3", "label": "stable"}


def test_every_documented_operation_is_routed() -> None:
    ctx = asyncio.run(make_context())
    ctx.metrics = MetricsRegistry.from_config(MetricsConfig(enable=True))  # /metrics is routed
    router = build_router(ctx)
    doc = document("test")
    assert doc["openapi"].startswith("3.0")
    for path, operations in doc["paths"].items():
        concrete = re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m.group(1)], path)
        for method in operations:
            routed = router.match(method.upper(), concrete)
            assert not isinstance(routed, HttpResponse), (method, path, routed)
