"""Triton's model configuration and statistics extensions over the REST router and the gRPC servicer."""

from __future__ import annotations

import asyncio
from typing import Any

from ovserve._generated.kserve import grpc_predict_v2_pb2 as pb
from ovserve.api.kserve import triton
from ovserve.api.kserve.grpc import KServeServicer
from ovserve.config.types import BatchingConfig
from ovserve.errors import Code, ServingError
from ovserve.scheduling import BatchingServable

from .fakes import EchoServable, call_rest, make_context, spec

INFER = b'{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}'


def _echo(version: int = 1) -> EchoServable:
    return EchoServable("m", [spec("x", "FP32", -1, 4), spec("t", "BYTES", 2)], version=version)


def test_config_of_a_plain_model() -> None:
    config = triton.model_config(_echo())
    assert config["max_batch_size"] == 0
    assert config["input"] == [
        {"name": "x", "data_type": "TYPE_FP32", "dims": [-1, 4]},
        {"name": "t", "data_type": "TYPE_STRING", "dims": [2]},
    ]
    assert config["instance_group"] == [{"name": "m", "kind": "KIND_CPU", "count": 1}]
    assert "dynamic_batching" not in config


def test_config_of_a_batched_model_leaves_out_the_batch_dimension() -> None:
    inner = EchoServable("b", [spec("x", "FP32", -1, 4)])
    batching = BatchingConfig(
        max_batch_size=8, max_queue_delay_microseconds=500, preferred_batch_sizes=(4, 8)
    )
    config = triton.model_config(BatchingServable(inner, batching))
    assert config["max_batch_size"] == 8
    assert config["input"] == [{"name": "x", "data_type": "TYPE_FP32", "dims": [4]}]
    assert config["output"] == [{"name": "x_out", "data_type": "TYPE_FP32", "dims": [4]}]
    assert config["dynamic_batching"] == {"preferred_batch_size": [4, 8], "max_queue_delay_microseconds": 500}
    message = triton.config_message(BatchingServable(inner, batching))
    assert message.config.max_batch_size == 8 and list(message.config.input[0].dims) == [4]


def test_rest_config_stats_and_errors() -> None:
    async def scenario() -> dict[str, Any]:
        ctx = await make_context(_echo(1), _echo(2))
        replies = {
            "config": await call_rest(ctx, "GET", "/v2/models/m/config"),
            "config_v1": await call_rest(ctx, "GET", "/v2/models/m/versions/1/config"),
            "missing": await call_rest(ctx, "GET", "/v2/models/nope/config"),
            "bad_version": await call_rest(ctx, "GET", "/v2/models/m/versions/x1/stats"),
            "unknown_version": await call_rest(ctx, "GET", "/v2/models/m/versions/9/stats"),
            "post": await call_rest(ctx, "POST", "/v2/models/m/config"),
        }
        for _ in range(2):
            assert (await call_rest(ctx, "POST", "/v2/models/m/versions/1/infer", INFER)).status == 400
        replies["stats"] = await call_rest(ctx, "GET", "/v2/models/m/stats")
        replies["all"] = await call_rest(ctx, "GET", "/v2/models/stats")
        return replies

    replies = asyncio.run(scenario())
    assert replies["config"].status == 200 and replies["config"].json()["name"] == "m"
    assert replies["config_v1"].status == 200
    assert (replies["missing"].status, "nope" in replies["missing"].error) == (404, True)
    assert replies["bad_version"].status == 400 and "x1" in replies["bad_version"].error
    assert replies["unknown_version"].status == 404
    assert replies["post"].status == 406
    stats = {s["version"]: s for s in replies["stats"].json()["model_stats"]}
    assert set(stats) == {"1", "2"}
    assert stats["1"]["inference_stats"]["fail"]["count"] == 2  # input t missing: failed requests
    assert stats["2"]["inference_stats"]["fail"]["count"] == 0
    assert [s["name"] for s in replies["all"].json()["model_stats"]] == ["m", "m"]


def test_grpc_config_and_statistics() -> None:
    async def scenario() -> tuple[Any, Any, ServingError]:
        ctx = await make_context(_echo(1))
        servicer = KServeServicer(ctx)
        config = await servicer.ModelConfig(pb.ModelConfigRequest(name="m"), None)
        stats = await servicer.ModelStatistics(pb.ModelStatisticsRequest(name="m", version="1"), None)
        try:
            await servicer.ModelStatistics(pb.ModelStatisticsRequest(name="nope"), None)
        except ServingError as exc:
            return config, stats, exc
        raise AssertionError("no error for an unknown model")

    config, stats, error = asyncio.run(scenario())
    assert config.config.name == "m" and config.config.input[0].data_type == pb.TYPE_FP32
    assert [(s.name, s.version) for s in stats.model_stats] == [("m", "1")]
    assert error.code == Code.NOT_FOUND
