"""Triton's model configuration and statistics extensions, from what ovserve knows.

``GET /v2/models/{m}[/versions/{v}]/config`` / gRPC ``ModelConfig`` describe a served version as
Triton's ``ModelConfig`` (what perf_analyzer reads before it sends a request);
``GET /v2/models/{m}[/versions/{v}]/stats`` / gRPC ``ModelStatistics`` report the counters of
:mod:`ovserve.api.statistics`. One dict per answer is built here: REST sends it as JSON, gRPC
parses it into the protobuf message (same field names).

Configuration: ``max_batch_size`` is 0 (dims are the whole shape, -1 for a dynamic dimension)
unless the model has ovserve's ``dynamic_batching``: then it is the batcher's largest batch and
dims leave out dimension 0, as in Triton. One CPU instance group whose count is the servable's
parallelism (the infer-request pool size); ``model_transaction_policy.decoupled`` when a streaming
call may answer one request other than once (:attr:`Servable.decoupled`: a MediaPipe graph with a
generative Python node or several output streams), so Triton clients (perf_analyzer) read it as a
stream of replies. Statistics: an empty model name means
every model, an empty version every AVAILABLE version.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from ovserve._generated.kserve import grpc_predict_v2_pb2 as pb
from ovserve.api import request_path
from ovserve.api.context import ServingContext
from ovserve.api.http import HttpRequest, HttpResponse, Router, json_response
from ovserve.api.statistics import ModelStats
from ovserve.core.ids import ServableId
from ovserve.core.servable import Servable
from ovserve.tensors import TensorSpec

PLATFORM = "openvino"
#: KServe datatype -> Triton DataType enum name
_TRITON_TYPES = {"BYTES": "TYPE_STRING"}


def _tensor(spec: TensorSpec, batched: bool) -> dict[str, Any]:
    dims = list(spec.shape[1:] if batched else spec.shape)
    return {
        "name": spec.name,
        "data_type": _TRITON_TYPES.get(spec.datatype, "TYPE_" + spec.datatype),
        "dims": dims,
    }


def model_config(servable: Servable) -> dict[str, Any]:
    """Triton's ``ModelConfig`` of one served version, as a JSON-ready dict."""
    batching = servable.batching
    batched = batching is not None
    config: dict[str, Any] = {
        "name": servable.name,
        "platform": PLATFORM,
        "backend": PLATFORM,
        "max_batch_size": batching.max_batch_size if batching is not None else 0,
        "input": [_tensor(spec, batched) for spec in servable.inputs.values()],
        "output": [_tensor(spec, batched) for spec in servable.outputs.values()],
        "instance_group": [{"name": servable.name, "kind": "KIND_CPU", "count": servable.parallelism}],
        "model_transaction_policy": {"decoupled": servable.decoupled},
    }
    if batching is not None:
        config["dynamic_batching"] = {
            "preferred_batch_size": list(batching.preferred_batch_sizes),
            "max_queue_delay_microseconds": batching.max_queue_delay_microseconds,
        }
    return config


def _duration(count: int, ns: int) -> dict[str, int]:
    return {"count": count, "ns": ns}


def model_statistics(sid: ServableId, stats: ModelStats) -> dict[str, Any]:
    """Triton's ``ModelStatistics`` of one version."""
    ok = stats.success_count
    return {
        "name": sid.name,
        "version": str(sid.version),
        "last_inference": stats.last_inference_ms,
        "inference_count": ok,
        "execution_count": ok,
        "inference_stats": {
            "success": _duration(ok, stats.success_ns),
            "fail": _duration(stats.fail_count, stats.fail_ns),
            "queue": _duration(ok, stats.queue_ns),
            "compute_input": _duration(ok, stats.input_ns),
            "compute_infer": _duration(ok, stats.infer_ns),
            "compute_output": _duration(ok, stats.output_ns),
            "cache_hit": _duration(0, 0),
            "cache_miss": _duration(0, 0),
        },
        "batch_stats": [],
    }


def statistics(ctx: ServingContext, name: str, version: int | None) -> dict[str, Any]:
    """``{"model_stats": [...]}`` for one version, every AVAILABLE version of a model, or every model."""
    manager = ctx.manager
    if version is not None:
        with manager.acquire(name, version) as servable:
            sids = [servable.id]
    else:
        names = [name] if name else manager.names()
        sids = [ServableId(n, v) for n in names for v in manager.available_versions(n)]
    return {"model_stats": [model_statistics(sid, ctx.stats.peek(sid)) for sid in sids]}


def config_message(servable: Servable) -> pb.ModelConfigResponse:
    config = pb.ModelConfig()
    json_format.ParseDict(model_config(servable), config)
    return pb.ModelConfigResponse(config=config)


def statistics_message(ctx: ServingContext, name: str, version: int | None) -> pb.ModelStatisticsResponse:
    message = pb.ModelStatisticsResponse()
    json_format.ParseDict(statistics(ctx, name, version), message)
    return message


def add_routes(router: Router, ctx: ServingContext) -> None:
    """Mount the REST endpoints of both extensions on ``router``."""

    async def config(request: HttpRequest) -> HttpResponse:
        name, version = request.params["name"], request_path.parse_version(request.params.get("version"))
        with ctx.manager.acquire(name, version) as servable:
            return json_response(model_config(servable))

    async def stats(request: HttpRequest) -> HttpResponse:
        name, version = request.params["name"], request_path.parse_version(request.params.get("version"))
        return json_response(statistics(ctx, name, version))

    async def all_stats(request: HttpRequest) -> HttpResponse:
        return json_response(statistics(ctx, "", None))

    for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        router.add("GET", prefix + "/config", config)
        router.add("GET", prefix + "/stats", stats)
    router.add("GET", "/v2/models/stats", all_stats)
