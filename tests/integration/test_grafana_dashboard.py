"""deploy/grafana/ovserve-dashboard.json queries only metrics the server exports.

Every PromQL expression of the dashboard (panel targets and template variables) is parsed for its
metric names; each must be a family that a running ovserve lists on /metrics (every family
enabled, a model with dynamic batching so the batcher's families show) and one of ovserve's
declared families (``ovserve.metrics.families``), with ``_bucket``/``_sum``/``_count`` only on
histograms.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from models import F32, add_scaled, save
from serverproc import ServerProcess

from ovserve.metrics.families import ALL_FAMILIES

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "ovserve-dashboard.json"
PROMQL_WORDS = {
    "sum", "avg", "min", "max", "count", "rate", "irate", "increase", "histogram_quantile", "label_values",
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset",
    "topk", "bottomk", "clamp_min", "clamp_max", "abs", "delta", "deriv", "time", "vector", "scalar",
}  # fmt: skip
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (Grafana's ``$variables`` removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", text)  # grouping labels
    text = re.sub(r"label_values\(\s*([A-Za-z_:][\w:]*)\s*,\s*\w+\s*\)", r"\1", text)
    text = re.sub(r"\$\w+", "", text)
    return {word for word in re.findall(r"[A-Za-z_:][\w:]*", text) if word not in PROMQL_WORDS}


def test_metric_names_parser() -> None:
    expr = 'histogram_quantile(0.99, sum by (le, name) (rate(x_time_bucket{name=~"$model", a="b{c}"}[5m])))'
    assert metric_names(expr) == {"x_time_bucket"}
    assert metric_names("label_values(ovms_requests_success, name)") == {"ovms_requests_success"}
    assert metric_names("sum(rate(a[1m])) / sum(rate(b[$__rate_interval]))") == {"a", "b"}


def expressions(node: Any) -> Iterator[str]:
    """Every ``expr`` of the dashboard's targets and every query of its template variables."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                yield value
            elif key == "query" and isinstance(value, dict) and isinstance(value.get("query"), str):
                yield value["query"]
            else:
                yield from expressions(value)
    elif isinstance(node, list):
        for item in node:
            yield from expressions(item)


@pytest.fixture
def exported(tmp_path: Path) -> dict[str, str]:
    """family -> type, as a running ovserve lists them on /metrics with every family enabled."""
    models = tmp_path / "models"
    entries = [
        {"name": "m", "base_path": str(save(add_scaled(), models / "m")), "plugin_config": F32},
        {
            "name": "batched",
            "base_path": str(save(add_scaled(), models / "batched")),
            "plugin_config": F32,
            "dynamic_batching": {"max_batch_size": 4},
        },
    ]
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model_config_list": [{"config": e} for e in entries]}))
    families = ",".join(f.name for f in ALL_FAMILIES)
    args = ["--config_path", str(config), "--metrics_enable", "--metrics_list", families]
    server = ServerProcess(args, tmp_path / "ovserve.log").start()
    try:
        with urllib.request.urlopen(f"{server.rest_url}/metrics", timeout=30) as answer:
            text = answer.read().decode()
    finally:
        assert server.stop() == 0, server.log()
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))


def test_dashboard_queries_only_exported_metrics(exported: dict[str, str]) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = list(expressions(dashboard))
    assert len(exprs) >= 15
    declared = {family.name for family in ALL_FAMILIES}
    used: set[str] = set()
    for expr in exprs:
        for name in metric_names(expr):
            family = name
            if name not in exported:
                base = next((name[: -len(s)] for s in HISTOGRAM_SUFFIXES if name.endswith(s)), name)
                assert exported.get(base) == "histogram", f"{name!r} in {expr!r} is not exported"
                family = base
            assert family in declared, f"{family!r} is not one of ovserve's metric families"
            used.add(family)
    # the dashboard covers traffic, latency and saturation, and the batcher's own families
    assert {
        "ovms_requests_success",
        "ovms_request_time_us",
        "ovms_current_requests",
        "ovserve_batch_size",
    } <= used
