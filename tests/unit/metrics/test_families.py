"""The declared families match OVMS's names, types, labels and buckets."""

from __future__ import annotations

from ovserve.config.types import (
    DEFAULT_METRIC_FAMILIES,
    OPTIONAL_METRIC_FAMILIES,
    MetricsConfig,
)
from ovserve.metrics import ALL_FAMILIES, MetricsRegistry
from ovserve.metrics.calls import UNVERSIONED_CALLS, VERSIONED_CALLS
from ovserve.metrics.families import BATCH_SIZE, LATENCY_BUCKETS_US

#: OVMS's bucket bounds, written out (OVMS_COMPAT.md §12)
OVMS_BUCKETS = (
    10, 18, 32, 58, 104, 188, 340, 612, 1101, 1983, 3570, 6426, 11568, 20822, 37481, 67466, 121439, 218591,
    393464, 708235, 1274823, 2294682, 4130428, 7434771, 13382588, 24088659, 43359586, 78047255, 140485060,
    252873108, 455171596, 819308872, 1474755971,
)  # fmt: skip

#: OVMS's MediaPipe graph families (metrics/graphs.py)
GRAPH_METRIC_FAMILIES: tuple[str, ...] = (
    "ovms_current_graphs",
    "ovms_requests_accepted",
    "ovms_requests_rejected",
    "ovms_responses",
    "ovms_graph_error",
    "ovms_graph_processing_time_us",
    "ovms_graph_request_latency_us",
)

#: name -> (type, labels) as OVMS exposes them
OVMS = {
    "ovms_requests_success": ("counter", ("api", "interface", "method", "name", "version")),
    "ovms_requests_fail": ("counter", ("api", "interface", "method", "name", "version")),
    "ovms_request_time_us": ("histogram", ("interface", "name", "version")),
    "ovms_inference_time_us": ("histogram", ("name", "version")),
    "ovms_wait_for_infer_req_time_us": ("histogram", ("name", "version")),
    "ovms_streams": ("gauge", ("name", "version")),
    "ovms_current_requests": ("gauge", ("name", "version")),
    "ovms_infer_req_queue_size": ("gauge", ("name", "version")),
    "ovms_infer_req_active": ("gauge", ("name", "version")),
    # MediaPipe graphs (generative models in ovserve)
    "ovms_requests_accepted": ("counter", ("api", "interface", "method", "name")),
    "ovms_requests_rejected": ("counter", ("api", "interface", "method", "name")),
    "ovms_responses": ("counter", ("api", "interface", "method", "name")),
    "ovms_current_graphs": ("gauge", ("name",)),
    "ovms_graph_error": ("counter", ("api", "interface", "method", "name")),
    "ovms_graph_processing_time_us": ("histogram", ("method", "name")),
    "ovms_graph_request_latency_us": ("histogram", ("method", "name")),
}


def test_latency_buckets_are_ovms() -> None:
    assert LATENCY_BUCKETS_US == OVMS_BUCKETS
    for family in ALL_FAMILIES:
        if family.kind == "histogram" and family is not BATCH_SIZE:
            assert family.buckets == OVMS_BUCKETS, family.name


def test_ovms_families_names_types_labels() -> None:
    declared = {f.name: (f.kind, f.labels) for f in ALL_FAMILIES if f.name.startswith("ovms_")}
    assert declared == OVMS


def test_every_configurable_model_family_is_declared() -> None:
    names = {f.name for f in ALL_FAMILIES}
    assert set(DEFAULT_METRIC_FAMILIES + OPTIONAL_METRIC_FAMILIES) <= names
    assert set(GRAPH_METRIC_FAMILIES) <= names


def test_own_families_are_prefixed() -> None:
    for family in ALL_FAMILIES:
        assert family.name.startswith(("ovms_", "ovserve_")), family.name


def test_calls_are_ovms_methods() -> None:
    versioned = {(c.api, c.interface, c.method) for c in VERSIONED_CALLS}
    unversioned = {(c.api, c.interface, c.method) for c in UNVERSIONED_CALLS}
    assert versioned == {
        (api, interface, method)
        for interface in ("REST", "gRPC")
        for api, method in (
            ("TensorFlowServing", "Predict"),
            ("TensorFlowServing", "GetModelMetadata"),
            ("KServe", "ModelInfer"),
            ("KServe", "ModelMetadata"),
        )
    }
    assert unversioned == {
        (api, interface, method)
        for interface in ("REST", "gRPC")
        for api, method in (("TensorFlowServing", "GetModelStatus"), ("KServe", "ModelReady"))
    }
    assert [c.index for c in VERSIONED_CALLS] == list(range(len(VERSIONED_CALLS)))
    assert [c.index for c in UNVERSIONED_CALLS] == list(range(len(UNVERSIONED_CALLS)))


def test_exposed_families_follow_the_config() -> None:
    default = MetricsRegistry.from_config(MetricsConfig(enable=True))
    assert default.families == set(DEFAULT_METRIC_FAMILIES) | {
        "ovserve_batch_queue_length",
        "ovserve_batch_size",
        "ovserve_prompt_tokens",
        "ovserve_generated_tokens",
        "ovserve_time_to_first_token_us",
        "ovserve_time_per_output_token_us",
        "ovserve_kv_cache_usage_percent",
    }
    listed = MetricsRegistry.from_config(
        MetricsConfig(enable=True, metrics_list=("ovms_requests_success", "ovms_infer_req_active"))
    )
    assert listed.families == {"ovms_requests_success", "ovms_infer_req_active"}


def test_config_knows_every_family_the_registry_declares() -> None:
    from ovserve.config.types import (
        DEFAULT_METRIC_FAMILIES,
        OPTIONAL_METRIC_FAMILIES,
        OVSERVE_METRIC_FAMILIES,
    )
    from ovserve.metrics.families import OVSERVE_FAMILIES

    assert set(OVSERVE_FAMILIES) == set(OVSERVE_METRIC_FAMILIES)
    assert not set(OVSERVE_METRIC_FAMILIES) & (set(DEFAULT_METRIC_FAMILIES) | set(OPTIONAL_METRIC_FAMILIES))


def test_ovserve_families_may_be_listed() -> None:
    from ovserve.config.syntax import parse_metrics_list

    assert parse_metrics_list(["ovserve_batch_size", "ovms_requests_success"], "k") == (
        "ovserve_batch_size",
        "ovms_requests_success",
    )
