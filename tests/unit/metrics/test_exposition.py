"""The text format: parsed back by prometheus_client's parser, with OVMS's label sets."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from ovserve.config.types import MetricsConfig
from ovserve.core.ids import ServableId
from ovserve.metrics import MetricsRegistry, render
from ovserve.metrics.calls import (
    KSERVE_GRPC_INFER,
    KSERVE_REST_READY,
    TFS_GRPC_STATUS,
    TFS_REST_PREDICT,
    UNVERSIONED_CALLS,
    VERSIONED_CALLS,
)
from ovserve.metrics.families import LATENCY_BUCKETS_US


def parse(registry: MetricsRegistry) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    text = render(registry).decode()
    return {
        f.name: [(s.name, s.labels, s.value) for s in f.samples] for f in text_string_to_metric_families(text)
    }


def registry_with_traffic(config: MetricsConfig | None = None) -> MetricsRegistry:
    registry = MetricsRegistry.from_config(config or MetricsConfig(enable=True))
    v1 = registry.version(ServableId("m", 1))
    registry.version(ServableId("m", 2))
    v1.success[TFS_REST_PREDICT.index] += 3
    v1.fail[KSERVE_GRPC_INFER.index] += 1
    v1.request_time[TFS_REST_PREDICT.interface_index].observe(150)
    v1.request_time[TFS_REST_PREDICT.interface_index].observe(9)
    v1.current = 2
    registry.count(TFS_GRPC_STATUS, "m", None, ok=True)
    registry.count(KSERVE_REST_READY, "m", None, ok=False)
    return registry


def test_empty_registry_renders_nothing() -> None:
    assert render(MetricsRegistry.from_config(MetricsConfig(enable=True))) == b""


def test_counters_have_ovms_label_sets() -> None:
    families = parse(registry_with_traffic())
    success = families["ovms_requests_success"]
    # per name: the unversioned calls once, the versioned calls per version
    assert len(success) == len(UNVERSIONED_CALLS) + 2 * len(VERSIONED_CALLS)
    for name, labels, _ in success:
        assert name == "ovms_requests_success_total"  # the parser's name for counter samples
        if labels["method"] in ("GetModelStatus", "ModelReady"):
            assert set(labels) == {"api", "interface", "method", "name"}
        else:
            assert set(labels) == {"api", "interface", "method", "name", "version"}
    values = {(lab["api"], lab["interface"], lab["method"], lab.get("version")): v for _, lab, v in success}
    assert values[("TensorFlowServing", "REST", "Predict", "1")] == 3
    assert values[("TensorFlowServing", "gRPC", "GetModelStatus", None)] == 1
    assert values[("TensorFlowServing", "REST", "Predict", "2")] == 0
    fails = {
        (lab["api"], lab["interface"], lab["method"], lab.get("version")): v
        for _, lab, v in families["ovms_requests_fail"]
    }
    assert fails[("KServe", "gRPC", "ModelInfer", "1")] == 1
    assert fails[("KServe", "REST", "ModelReady", None)] == 1
    assert sum(fails.values()) == 2


def test_histograms() -> None:
    families = parse(registry_with_traffic())
    samples = families["ovms_request_time_us"]
    rest_v1 = [(n, lab, v) for n, lab, v in samples if lab["interface"] == "REST" and lab["version"] == "1"]
    buckets = [(lab["le"], v) for n, lab, v in rest_v1 if n.endswith("_bucket")]
    assert [le for le, _ in buckets] == [str(b) for b in LATENCY_BUCKETS_US] + ["+Inf"]
    cumulative = dict(buckets)
    assert cumulative["10"] == 1  # 9 µs
    assert cumulative["104"] == 1
    assert cumulative["188"] == 2  # 150 µs
    assert cumulative["+Inf"] == 2
    by_suffix = {n.rsplit("_", 1)[-1]: v for n, lab, v in rest_v1 if not n.endswith("_bucket")}
    assert by_suffix == {"sum": 159, "count": 2}
    # one histogram per version and interface, all at 0 but this one
    label_sets = {(lab["interface"], lab["name"], lab["version"]) for _, lab, _ in samples}
    assert label_sets == {(i, "m", v) for i in ("REST", "gRPC") for v in ("1", "2")}
    assert {tuple(sorted(lab)) for _, lab, _ in families["ovms_inference_time_us"]} == {
        ("le", "name", "version"),
        ("name", "version"),
    }


def test_gauges() -> None:
    families = parse(registry_with_traffic())
    assert families["ovms_current_requests"] == [
        ("ovms_current_requests", {"name": "m", "version": "1"}, 2),
        ("ovms_current_requests", {"name": "m", "version": "2"}, 0),
    ]
    assert families["ovms_streams"][0][2] == 0
    assert "ovms_infer_req_active" not in families  # optional: only when listed


def test_only_listed_families() -> None:
    config = MetricsConfig(enable=True, metrics_list=("ovms_requests_fail", "ovms_infer_req_queue_size"))
    families = parse(registry_with_traffic(config))
    assert set(families) == {"ovms_requests_fail", "ovms_infer_req_queue_size"}


def test_default_set_and_batcher_families() -> None:
    registry = registry_with_traffic()
    assert set(parse(registry)) == {
        "ovms_requests_success",
        "ovms_requests_fail",
        "ovms_request_time_us",
        "ovms_inference_time_us",
        "ovms_wait_for_infer_req_time_us",
        "ovms_streams",
        "ovms_current_requests",
    }
    batcher = registry.batcher(ServableId("m", 1))
    batcher.queue_length = 4
    batcher.observe_batch(3)
    families = parse(registry)
    assert families["ovserve_batch_queue_length"] == [
        ("ovserve_batch_queue_length", {"name": "m", "version": "1"}, 4)
    ]
    count = [v for n, _, v in families["ovserve_batch_size"] if n == "ovserve_batch_size_count"]
    assert count == [1]


def test_help_and_type_lines_and_escaping() -> None:
    registry = MetricsRegistry.from_config(MetricsConfig(enable=True, metrics_list=("ovms_streams",)))
    registry.version(ServableId('we"ird\\name', 3))
    text = render(registry).decode()
    lines = text.splitlines()
    assert lines[0].startswith("# HELP ovms_streams ")
    assert lines[1] == "# TYPE ovms_streams gauge"
    assert lines[2] == 'ovms_streams{name="we\\"ird\\\\name",version="3"} 0'
    family = next(text_string_to_metric_families(text))
    assert family.samples[0].labels == {"name": 'we"ird\\name', "version": "3"}
