"""Concurrency, failures and cancellation of pipeline requests, made deterministic with gates:
a test that needs two nodes running at once waits (bounded) for both to have started."""

from __future__ import annotations

import asyncio
from pathlib import Path

import models
import numpy as np
import pytest
from pipeline_fakes import (
    BarrierNode,
    FailingNode,
    FakeNode,
    GateNode,
    Served,
    factory,
    node,
    pipeline,
    spec,
    split_rows,
)

from ovserve.config.types import ModelConfig
from ovserve.core.ids import ServableId
from ovserve.core.manager import AspiredStream, AspiredVersion, ServableManager
from ovserve.core.states import State, VersionStatus
from ovserve.errors import Code, InvalidInput, NodeFailed, PipelineExecutionFailed, ServingError
from ovserve.pipelines.build import build_pipeline

#: a bound on waiting for something that must happen (never reached when the engine is right)
BOUND = 30.0


def two_branches(left: FakeNode, right: FakeNode):  # type: ignore[no-untyped-def]
    config = pipeline(
        [node("l", {"x": "request:x"}, ["y"]), node("r", {"x": "request:x"}, ["y"])],
        {"left": "l:y", "right": "r:y"},
    )
    return build_pipeline(config, ServableManager().acquire, factory(l=left, r=right))


def test_independent_branches_run_at_the_same_time() -> None:
    async def go() -> None:
        left, right = GateNode(1, 4), GateNode(1, 4)
        pipe = two_branches(left, right)
        data = np.arange(4, dtype=np.float32).reshape(1, 4)
        request = asyncio.ensure_future(pipe.infer({"x": data}))
        await asyncio.wait_for(asyncio.gather(left.started.wait(), right.started.wait()), BOUND)
        left.gate.set()
        right.gate.set()
        out = await asyncio.wait_for(request, BOUND)
        np.testing.assert_array_equal(out["left"], data)
        np.testing.assert_array_equal(out["right"], data)

    asyncio.run(go())


def test_cancelling_a_request_cancels_every_running_node() -> None:
    async def go() -> None:
        left, right = GateNode(1, 4), GateNode(1, 4)
        pipe = two_branches(left, right)
        request = asyncio.ensure_future(pipe.infer({"x": np.zeros((1, 4), np.float32)}))
        await asyncio.wait_for(asyncio.gather(left.started.wait(), right.started.wait()), BOUND)
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
        assert left.cancelled.is_set() and right.cancelled.is_set()
        assert asyncio.all_tasks() == {asyncio.current_task()}  # no node task outlives its request

    asyncio.run(go())


def test_a_failing_node_is_named_and_the_other_branch_is_cancelled() -> None:
    async def go() -> None:
        left = GateNode(1, 4)
        right = FailingNode(ServingError("Custom node failed during execution"), 1, 4)
        pipe = two_branches(left, right)
        with pytest.raises(NodeFailed) as caught:
            await asyncio.wait_for(pipe.infer({"x": np.zeros((1, 4), np.float32)}), BOUND)
        assert caught.value.message == "Custom node failed during execution; node: r"
        assert caught.value.code == Code.UNKNOWN
        assert left.cancelled.is_set()
        assert asyncio.all_tasks() == {asyncio.current_task()}

    asyncio.run(go())


def test_an_unexpected_exception_in_a_node_is_an_internal_error_naming_it() -> None:
    async def go() -> None:
        pipe = two_branches(
            FailingNode(ZeroDivisionError("boom"), 1, 4), FakeNode([], [], lambda i: {"y": i["x"]})
        )
        with pytest.raises(NodeFailed) as caught:
            await pipe.infer({"x": np.zeros((1, 4), np.float32)})
        assert caught.value.code == Code.INTERNAL
        assert caught.value.message == "Internal server error; node: l"

    asyncio.run(go())


def test_demultiplexed_items_run_concurrently_and_requests_do_not_mix() -> None:
    async def go() -> None:
        barrier = BarrierNode(5, 1, 4)
        config = pipeline(
            [
                node("split", {"x": "request:x"}, ["rows"], demultiply_count=-1),
                node("each", {"x": "split:rows"}, ["y"]),
            ],
            {"y": "each:y"},
        )
        pipe = build_pipeline(config, ServableManager().acquire, factory(split=split_rows(), each=barrier))
        data = np.arange(20, dtype=np.float32).reshape(1, 5, 4)
        out = await asyncio.wait_for(pipe.infer({"x": data}), BOUND)
        np.testing.assert_array_equal(out["y"], data[0][:, None, :])
        barrier.parties = 0  # from now on it does not wait
        inputs = [np.full((1, n, 4), n, np.float32) for n in range(1, 12)]
        outs = await asyncio.gather(*(pipe.infer({"x": i}) for i in inputs))
        for i, o in zip(inputs, outs, strict=True):
            np.testing.assert_array_equal(o["y"], i[0][:, None, :])

    asyncio.run(go())


def runtime_error(outputs: dict[str, np.ndarray], count: int = -1) -> ServingError:
    bad = FakeNode([spec("x", 1, 4)], [spec("y", -1, -1, -1)], lambda i: outputs)
    config = pipeline([node("bad", {"x": "request:x"}, ["y"], demultiply_count=count)], {"y": "bad:y"})
    pipe = build_pipeline(config, ServableManager().acquire, factory(bad=bad))
    with pytest.raises(ServingError) as caught:
        asyncio.run(pipe.infer({"x": np.zeros((1, 4), np.float32)}))
    return caught.value


def test_demultiplexer_outputs_that_break_the_rules() -> None:
    error = runtime_error({"y": np.zeros((3, 4), np.float32)})
    assert isinstance(error, PipelineExecutionFailed) and error.code == Code.UNKNOWN
    assert error.message.startswith(
        "Wrong number of dimensions in a tensor to be sharded - node: bad; output: y"
    )
    error = runtime_error({"y": np.zeros((2, 1, 4), np.float32)}, count=3)
    assert error.message == (
        "Wrong dimension size. Should match demultiply count - node: bad; output: y; shape: (2,1,4); demultiply_count: 3"
    )
    error = runtime_error({"y": np.zeros((10_001, 1, 1), np.float32)})
    assert error.message.startswith(
        "Too large dynamic demultiplication requested. - node: bad gave 10001 items"
    )
    error = runtime_error({"other": np.zeros((2, 1, 4), np.float32)})
    assert error.message == "Node output is missing - node: bad; output: y"


def test_gathered_items_of_different_shapes() -> None:
    ragged = FakeNode(
        [spec("x", -1, 4)],
        [spec("y", -1, 4)],
        lambda i: {"y": np.zeros((int(i["x"][0, 0]) + 1, 4), np.float32)},
    )
    config = pipeline(
        [
            node("split", {"x": "request:x"}, ["rows"], demultiply_count=-1),
            node("each", {"x": "split:rows"}, ["y"]),
        ],
        {"y": "each:y"},
    )
    pipe = build_pipeline(config, ServableManager().acquire, factory(split=split_rows(), each=ragged))
    with pytest.raises(PipelineExecutionFailed) as caught:
        asyncio.run(pipe.infer({"x": np.arange(8, dtype=np.float32).reshape(1, 2, 4)}))
    assert caught.value.message.startswith(
        "Gathered tensor shards dimensions are different - node: response; tensor: y of each; shapes (1,4) and (5,4)"
    )


def test_a_model_node_refusing_what_a_dynamic_node_gave_is_named(tmp_path: Path) -> None:
    widen = FakeNode([spec("x", 1, 4)], [spec("y", 1, -1)], lambda i: {"y": np.zeros((1, 5), np.float32)})

    async def go() -> None:
        served = Served(tmp_path)
        await served.serve("m", models.add_scaled())
        config = pipeline(
            [node("widen", {"x": "request:x"}, ["y"]), node("model", {"x": "widen:y"}, ["y"], model="m")],
            {"y": "model:y"},
        )
        pipe = build_pipeline(config, served.manager.acquire, factory(widen=widen))
        with pytest.raises(NodeFailed) as caught:
            await pipe.infer({"x": np.zeros((1, 4), np.float32)})
        assert isinstance(caught.value.cause, InvalidInput) and caught.value.code == Code.INVALID_ARGUMENT
        assert caught.value.message.endswith("input name: x; node: model"), caught.value.message
        await served.manager.close()

    asyncio.run(go())


def test_a_request_keeps_the_model_version_it_started_with(tmp_path: Path) -> None:
    gate = GateNode(1, 4)

    async def go() -> None:
        served = Served(tmp_path)
        await served.serve("m", models.add_scaled(scale=2.0), versions=(1,))
        config = pipeline(
            [node("gate", {"x": "request:x"}, ["y"]), node("model", {"x": "gate:y"}, ["y"], model="m")],
            {"y": "model:y"},
        )
        pipe = build_pipeline(config, served.manager.acquire, factory(gate=gate))
        data = np.ones((1, 4), np.float32)
        first = asyncio.ensure_future(pipe.infer({"x": data}))
        await asyncio.wait_for(gate.started.wait(), BOUND)
        base = models.save(models.add_scaled(scale=3.0), tmp_path / "m", [2])
        v2_available = asyncio.Event()

        def on_change(sid: ServableId, status: VersionStatus) -> None:
            if sid.version == 2 and status.state == State.AVAILABLE:
                v2_available.set()

        served.manager.subscribe(on_change)
        cfg = ModelConfig(name="m", base_path=str(base), plugin_config=models.F32)
        v2 = AspiredVersion(2, served.engine.loader(cfg, 2, base / "2"))
        swap = asyncio.ensure_future(served.manager.apply({"m": AspiredStream((v2,))}, complete=False))
        await asyncio.wait_for(v2_available.wait(), BOUND)  # v2 serves; v1 is retired once the request ends
        assert not swap.done()
        gate.gate.set()
        np.testing.assert_allclose((await first)["y"], data * 2 + 1)
        await asyncio.wait_for(swap, BOUND)
        np.testing.assert_allclose((await pipe.infer({"x": data}))["y"], data * 3 + 1)
        await served.manager.close()

    asyncio.run(go())


def test_closing_the_pipeline_closes_its_nodes() -> None:
    left, right = GateNode(1, 4), GateNode(1, 4)
    pipe = two_branches(left, right)
    pipe.close()
    assert left.closed and right.closed


def test_a_model_gone_after_the_build_fails_the_request_naming_the_node(tmp_path: Path) -> None:
    async def go() -> None:
        served = Served(tmp_path)
        await served.serve("m", models.add_scaled())
        config = pipeline([node("model", {"x": "request:x"}, ["y"], model="m")], {"y": "model:y"})
        pipe = build_pipeline(config, served.manager.acquire, factory())
        await served.manager.apply({}, complete=True)  # the model is retired; the pipeline was not rebuilt
        with pytest.raises(NodeFailed) as caught:
            await pipe.infer({"x": np.zeros((1, 4), np.float32)})
        assert caught.value.code == Code.NOT_FOUND
        assert caught.value.message == "Model with requested version is retired - m version 1; node: model"
        await served.manager.close()

    asyncio.run(go())


def test_a_failed_request_lets_go_of_its_model_versions(tmp_path: Path) -> None:
    async def go() -> None:
        served = Served(tmp_path)
        await served.serve("m", models.add_scaled(shape=(1, 4)))
        config = pipeline(
            [
                node("model", {"x": "request:x"}, ["y"], model="m"),
                node("fail", {"x": "request:x"}, ["y"]),
            ],
            {"y": "model:y", "z": "fail:y"},
        )
        failing = FailingNode(ServingError("Custom node failed during execution"), 1, 4)
        pipe = build_pipeline(config, served.manager.acquire, factory(fail=failing))
        for _ in range(3):
            with pytest.raises(NodeFailed, match=r"node: fail$"):
                await pipe.infer({"x": np.zeros((1, 4), np.float32)})
        await asyncio.wait_for(served.manager.close(), BOUND)  # retiring waits for every pin to go

    asyncio.run(go())
