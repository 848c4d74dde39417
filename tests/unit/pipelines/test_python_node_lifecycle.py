"""Python nodes: loading (OVMS's checks), streaming generators, concurrency, close and finalize."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pynodes import WAIT, Nodes, collect, copy_handler, run, write_handler

from ovserve.config.pipelines import NodeConfig, NodeOutput, TensorSource
from ovserve.errors import Code, PythonNodeFailed, PythonNodeLoadFailed
from ovserve.pipelines.python_node import PythonNode
from pyovms import Tensor

IDENTITY = """
    class OvmsPythonModel:
        def execute(self, inputs):
            return inputs
"""


@pytest.mark.parametrize(
    ("source", "text"),
    [
        ("x = 1\n", "no OvmsPythonModel class found"),
        ("class OvmsPythonModel:\n    pass\n", "OvmsPythonModel does not implement the execute method"),
        ("import not_a_module_anywhere\n", "importing it raised ModuleNotFoundError"),
        ("def broken(:\n", "importing it raised SyntaxError"),
        (
            IDENTITY + "        def initialize(self, kwargs):\n            raise ValueError('no weights')\n",
            "initialize raised ValueError: no weights",
        ),
    ],
)
def test_a_handler_that_cannot_load_names_node_file_and_reason(
    tmp_path: Path, source: str, text: str
) -> None:
    path = write_handler(tmp_path, "bad.py", source)
    with pytest.raises(PythonNodeLoadFailed) as caught:
        PythonNode("loader", str(path), ["in"], ["out"])
    message = caught.value.message
    assert message.startswith(
        f"The Python Node state initialization failed - node 'loader', handler_path '{path}': "
    )
    assert text in message
    assert caught.value.code == Code.FAILED_PRECONDITION


def test_a_missing_handler_file_is_ovms_does_not_exist_error(tmp_path: Path) -> None:
    with pytest.raises(PythonNodeLoadFailed, match="The Python Node file path does not exist - node 'n'"):
        PythonNode("n", str(tmp_path / "absent.py"), ["in"], ["out"])


def test_a_relative_handler_path_is_taken_from_base_dir_and_may_import_its_neighbours(
    nodes: Nodes, tmp_path: Path
) -> None:
    graph_dir = tmp_path / "graph"
    (graph_dir / "code").mkdir(parents=True)
    write_handler(graph_dir / "code", "helper_for_pynode_test.py", "OFFSET = 10\n")
    source = """
        import numpy as np
        from helper_for_pynode_test import OFFSET
        from pyovms import Tensor

        class OvmsPythonModel:
            def execute(self, inputs):
                return [Tensor("out", np.array(inputs[0]) + OFFSET)]
    """
    write_handler(graph_dir / "code", "model.py", source)
    node = nodes.load("code/model.py", ["in"], ["out"], base_dir=graph_dir)
    assert node.handler_path == graph_dir / "code" / "model.py"
    assert run(node.run({"in": np.arange(3, dtype=np.int32)}))["out"].tolist() == [10, 11, 12]


def test_nodes_of_one_handler_file_have_their_own_instance_and_module_state(nodes: Nodes) -> None:
    source = """
        import numpy as np
        from pyovms import Tensor
        CALLS = []

        class OvmsPythonModel:
            def execute(self, inputs):
                CALLS.append(1)
                return [Tensor("calls", np.array([len(CALLS)], dtype=np.int32))]
    """
    first = nodes(source, ["in"], ["calls"], name="first")
    second = nodes.load(str(first.handler_path), ["in"], ["calls"], name="second")
    x = {"in": np.zeros(1, np.float32)}
    assert [run(first.run(x))["calls"][0] for _ in range(3)] == [1, 2, 3]
    assert run(second.run(x))["calls"][0] == 1
    assert first.model is not second.model


def test_a_dag_node_config_makes_a_node_with_its_inputs_and_output_names(tmp_path: Path) -> None:
    copy_handler(tmp_path, "crop.py")
    config = NodeConfig(
        name="crop",
        kind="python",
        inputs={"image": TensorSource("request", "image"), "boxes": TensorSource("detect", "boxes")},
        outputs=(NodeOutput("crops", "crop_images"),),
        handler_path="crop.py",
    )
    node = PythonNode.from_config(config, base_dir=tmp_path)
    try:
        assert (list(node.inputs), list(node.outputs)) == (["image", "boxes"], ["crops"])
    finally:
        node.close()
        assert node.finalized.wait(WAIT)


def test_a_generator_node_streams_each_set_of_outputs(nodes: Nodes, tmp_path: Path) -> None:
    node = nodes.load(str(copy_handler(tmp_path, "stream_increment.py")), ["input"], ["output"])
    x = np.array([1.0, 2.0], np.float32)
    outs = run(collect(node.run_stream({"input": x})))
    assert [o["output"].tolist() for o in outs] == [[2.0, 3.0], [3.0, 4.0], [4.0, 5.0]]
    tensors = run(collect(node.execute_stream([Tensor("input", x)])))
    assert [[t.name for t in ts] for ts in tensors] == [["output"]] * 3
    with pytest.raises(PythonNodeFailed, match="only a streaming request can take"):
        run(node.run({"input": x}))


def test_a_returning_node_streams_once_and_partial_outputs_pass_at_the_tensor_level(nodes: Nodes) -> None:
    source = """
        from pyovms import Tensor

        class OvmsPythonModel:
            def execute(self, inputs):
                return [Tensor("a", b"1")]
    """
    node = nodes(source, ["in"], ["a", "b"])
    assert [[t.name for t in ts] for ts in run(collect(node.execute_stream([Tensor("in", b"x")])))] == [["a"]]
    with pytest.raises(PythonNodeFailed, match="returned no output 'b'"):
        run(collect(node.run_stream({"in": np.zeros(1, np.uint8)})))


def test_an_error_in_a_generator_ends_the_stream_after_what_it_yielded(nodes: Nodes) -> None:
    source = """
        from pyovms import Tensor

        class OvmsPythonModel:
            def execute(self, inputs):
                yield [Tensor("out", b"first")]
                raise KeyError("gone")
    """
    node = nodes(source, ["in"], ["out"], name="gen")
    got: list[bytes] = []

    async def consume() -> None:
        async for outputs in node.run_stream({"in": np.zeros(1, np.uint8)}):
            got.append(bytes(outputs["out"]))

    with pytest.raises(PythonNodeFailed, match="Python node 'gen': execute raised KeyError: 'gone'"):
        run(consume())
    assert got == [b"first"]


def test_an_abandoned_stream_closes_its_generator_before_finalize(tmp_path: Path) -> None:
    log = tmp_path / "events.txt"
    source = f"""
        from pyovms import Tensor

        def note(event):
            with open({str(log)!r}, "a") as f:
                f.write(event + "\\n")

        class OvmsPythonModel:
            def execute(self, inputs):
                try:
                    for i in range(1000):
                        yield [Tensor("out", bytes([i]))]
                finally:
                    note("generator closed")

            def finalize(self):
                note("finalize")
    """
    node = PythonNode("gen", str(write_handler(tmp_path, "gen.py", source)), ["in"], ["out"])

    async def take_two() -> None:
        stream = node.run_stream({"in": np.zeros(1, np.uint8)})
        assert [bytes((await anext(stream))["out"]) for _ in range(2)] == [b"\x00", b"\x01"]
        node.close()  # while the stream is open: finalize waits for it
        await stream.aclose()

    run(take_two())
    assert node.finalized.wait(WAIT)
    assert log.read_text().splitlines() == ["generator closed", "finalize"]


def test_concurrent_requests_run_execute_at_once_on_the_shared_instance(nodes: Nodes) -> None:
    source = """
        import threading
        from pyovms import Tensor

        class OvmsPythonModel:
            def initialize(self, kwargs):
                self.both_inside = threading.Barrier(2, timeout=30)

            def execute(self, inputs):
                self.both_inside.wait()  # passes only when two calls are inside execute together
                return [Tensor("out", inputs[0])]
    """
    node = nodes(source, ["in"], ["out"])

    async def two() -> list[dict[str, np.ndarray]]:
        return await asyncio.gather(*(node.run({"in": np.full(1, i, np.uint8)}) for i in range(2)))

    assert [o["out"].tolist() for o in run(two())] == [[0], [1]]


def test_close_lets_running_calls_finish_refuses_new_ones_then_finalizes(tmp_path: Path) -> None:
    source = """
        import threading
        from pyovms import Tensor

        class OvmsPythonModel:
            def initialize(self, kwargs):
                self.entered, self.release, self.events = threading.Event(), threading.Event(), []

            def execute(self, inputs):
                self.entered.set()
                self.release.wait(30)
                self.events.append("execute")
                return [Tensor("out", inputs[0])]

            def finalize(self):
                self.events.append("finalize")
                raise RuntimeError("finalize errors are logged, the unload goes on")
    """
    node = PythonNode("slow", str(write_handler(tmp_path, "slow.py", source)), ["in"], ["out"])
    model = node.model

    async def scenario() -> dict[str, np.ndarray]:
        running = asyncio.ensure_future(node.run({"in": np.ones(1, np.uint8)}))
        assert await asyncio.to_thread(model.entered.wait, WAIT)  # type: ignore[attr-defined]
        node.close()
        assert not node.finalized.is_set()
        with pytest.raises(PythonNodeFailed, match="Python node 'slow' is closed"):
            await node.run({"in": np.ones(1, np.uint8)})
        model.release.set()  # type: ignore[attr-defined]
        return await running

    assert run(scenario())["out"].tolist() == [1]
    assert node.finalized.wait(WAIT)
    assert model.events == ["execute", "finalize"]  # type: ignore[attr-defined]
    node.close()  # a second close does nothing


GATED = """
    import threading
    from pyovms import Tensor

    class OvmsPythonModel:
        def initialize(self, kwargs):
            self.entered, self.release, self.events = threading.Event(), threading.Event(), []

        def wait(self):
            self.entered.set()
            self.release.wait(30)

        def execute(self, inputs):
            if inputs[0].name == "stream":
                return self.steps()
            self.wait()
            self.events.append("execute")
            return [Tensor("out", b"x")]

        def steps(self):
            try:
                yield [Tensor("out", b"1")]
                self.wait()
                self.events.append("second step")
                yield [Tensor("out", b"2")]
            finally:
                self.events.append("generator closed")

        def finalize(self):
            self.events.append("finalize")
"""


def test_a_cancelled_request_does_not_finalize_under_its_running_execute(tmp_path: Path) -> None:
    node = PythonNode("gated", str(write_handler(tmp_path, "gated.py", GATED)), ["unary"], ["out"])
    model: Any = node.model

    async def scenario() -> None:
        task = asyncio.ensure_future(node.run({"unary": np.zeros(1, np.uint8)}))
        assert await asyncio.to_thread(model.entered.wait, WAIT)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        node.close()
        assert not node.finalized.is_set()  # execute still runs on the node's thread
        model.release.set()

    run(scenario())
    assert node.finalized.wait(WAIT)
    assert model.events == ["execute", "finalize"]


def test_a_stream_cancelled_mid_step_closes_its_generator_once_the_step_ends(tmp_path: Path) -> None:
    node = PythonNode("gated", str(write_handler(tmp_path, "gated.py", GATED)), ["stream"], ["out"])
    model: Any = node.model

    async def scenario() -> None:
        stream = node.run_stream({"stream": np.zeros(1, np.uint8)})
        assert bytes((await anext(stream))["out"]) == b"1"
        step = asyncio.ensure_future(anext(stream))
        assert await asyncio.to_thread(model.entered.wait, WAIT)
        step.cancel()
        with pytest.raises(asyncio.CancelledError):
            await step
        node.close()
        assert not node.finalized.is_set()
        model.release.set()

    run(scenario())
    assert node.finalized.wait(WAIT)
    assert model.events == ["second step", "generator closed", "finalize"]


def test_a_generator_yielding_something_else_than_a_list_is_an_error(nodes: Nodes) -> None:
    source = """
        from pyovms import Tensor

        class OvmsPythonModel:
            def execute(self, inputs):
                yield Tensor("out", b"x")
    """
    node = nodes(source, ["in"], ["out"], name="gen")
    with pytest.raises(
        PythonNodeFailed, match=r"Python node 'gen': Unexpected Python object type\. Expected: list"
    ):
        run(collect(node.run_stream({"in": np.zeros(1, np.uint8)})))


def test_a_dag_python_node_without_handler_path_is_a_load_error() -> None:
    config = NodeConfig(name="p", kind="python", inputs={}, outputs=(NodeOutput("o", "o"),))
    with pytest.raises(
        PythonNodeLoadFailed, match="The Python Node is missing options definition - node 'p'"
    ):
        PythonNode.from_config(config)
