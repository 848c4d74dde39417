"""C custom nodes through ctypes: nodes of our own, compiled with the system C compiler against
ovserve's custom_node_interface.h (tests/data/custom_nodes), results compared with numpy.

Every test also checks the library's own count of buffers handed out and not released: the
server must give each one back through ``release``, on success and on every failure.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pipeline_fakes
import pytest
from custom_nodes import build_all, build_program, crop_reference, detections
from hypothesis import given, settings
from hypothesis import strategies as st

from ovserve.config.pipelines import CustomNodeLibraryConfig
from ovserve.errors import Code, CustomNodeFailed, CustomNodeLibraryInvalid, InvalidInput
from ovserve.pipelines import custom_node_abi as abi
from ovserve.pipelines.custom_node import CustomNode, CustomNodeLibrary
from ovserve.pipelines.node_factory import NodeFactory
from ovserve.tensors import Dim

RNG = np.random.default_rng(15)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_all(tmp_path_factory.mktemp("custom_nodes"))


def load(built: dict[str, Path], name: str) -> CustomNodeLibrary:
    return CustomNodeLibrary.load(CustomNodeLibraryConfig(name, str(built[name])))


def outstanding(path: Path) -> int:
    """Buffers the library handed out and the server has not released (the node's own count)."""
    counter = abi.open_library(str(path)).outstanding_allocations  # the handle the server opened
    counter.restype = ctypes.c_long
    return int(counter())


def run(node: CustomNode, **inputs: np.ndarray) -> dict[str, np.ndarray]:
    return asyncio.run(asyncio.wait_for(node.run(inputs), 90))


@pytest.fixture
def no_leaks(built: dict[str, Path]) -> Iterator[None]:
    yield
    counted = [name for name in built if name != "no_release"]
    assert {name: outstanding(built[name]) for name in counted} == dict.fromkeys(counted, 0)


# -- the interface itself ---------------------------------------------------------------------


def test_ctypes_structures_match_the_c_layout(tmp_path: Path) -> None:
    """Field offsets, sizes and precision values as the C compiler lays them out from the header."""
    program = build_program("abi_layout", tmp_path)
    layout = json.loads(subprocess.run([str(program)], capture_output=True, text=True, check=True).stdout)
    for struct in (abi.CustomNodeTensor, abi.CustomNodeTensorInfo, abi.CustomNodeParam):
        assert layout[f"sizeof {struct.__name__}"] == ctypes.sizeof(struct)
        for field, *_ in struct._fields_:
            assert layout[f"{struct.__name__}.{field}"] == getattr(struct, field).offset, field
    assert layout["sizeof precision"] == ctypes.sizeof(ctypes.c_int)
    assert layout["precisions"] == list(range(10))
    assert [abi.precision_name(v) for v in layout["precisions"]] == list(abi.PRECISION_NAMES)


# -- add_one: the simplest node ------------------------------------------------------------------


def test_add_one_matches_numpy(built: dict[str, Path], no_leaks: None) -> None:
    node = CustomNode(load(built, "add_one"), "plus", {"add_number": "2.5"})
    assert node.inputs["input_numbers"].dtype == np.float32
    assert node.inputs["input_numbers"].dims == (Dim.any(), Dim.any())
    assert list(node.outputs) == ["output_numbers"]
    for shape in [(1, 10), (3, 7), (0, 4)]:
        x = RNG.standard_normal(shape).astype(np.float32)
        result = run(node, input_numbers=x)
        np.testing.assert_array_equal(result["output_numbers"], x + np.float32(2.5))
    node.close()


def test_inputs_of_any_memory_layout_reach_the_node_as_dense_arrays(
    built: dict[str, Path], no_leaks: None
) -> None:
    node = CustomNode(load(built, "add_one"), "plus", {})
    x = RNG.standard_normal((6, 4)).astype(np.float32)
    for view in (x.T, x[::2], x.astype(">f4")):  # transposed, strided, big-endian
        np.testing.assert_array_equal(run(node, input_numbers=view)["output_numbers"], view + np.float32(1))
    assert np.array_equal(x, x.copy())  # inputs are not written to
    node.close()


def test_execute_runs_on_the_executor_given(built: dict[str, Path], no_leaks: None) -> None:
    submitted: list[str] = []

    class Recording(ThreadPoolExecutor):
        def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
            submitted.append(getattr(fn, "__name__", ""))
            return super().submit(fn, *args, **kwargs)

    with Recording(2) as pool:
        node = CustomNode(load(built, "add_one"), "plus", {}, executor=pool)
        result = run(node, input_numbers=np.zeros((1, 2), np.float32))
        node.close()
    np.testing.assert_array_equal(result["output_numbers"], np.ones((1, 2), np.float32))
    assert submitted == ["_execute"]


def test_an_input_of_a_datatype_without_a_precision_is_refused(
    built: dict[str, Path], no_leaks: None
) -> None:
    node = CustomNode(load(built, "add_one"), "plus", {})
    with pytest.raises(InvalidInput, match="input_numbers is BOOL"):
        run(node, input_numbers=np.ones((1, 2), dtype=bool))
    node.close()


def test_a_failing_return_code_is_an_error_naming_the_code(built: dict[str, Path], no_leaks: None) -> None:
    node = CustomNode(load(built, "add_one"), "plus", {})
    with pytest.raises(
        CustomNodeFailed, match="Custom node failed during execution: execute returned 1"
    ) as caught:
        run(node, input_numbers=np.ones((2, 2, 2), np.float32))  # add_one takes 2-D only
    assert caught.value.code is Code.UNKNOWN  # OVMS: HTTP 500, gRPC UNKNOWN
    node.close()


# -- crop: dynamic demultiplexing's producer ---------------------------------------------------


def test_crop_cuts_every_confident_box_out_of_the_image(built: dict[str, Path], no_leaks: None) -> None:
    params = {"target_image_width": "8", "target_image_height": "6", "confidence_threshold": "0.5"}
    node = CustomNode(load(built, "crop"), "crop", params)
    assert node.outputs["images"].dims == (Dim.any(), Dim.static(1), Dim.any(), Dim.static(6), Dim.static(8))
    assert node.inputs["detection"].dims == (Dim.static(1), Dim.static(1), Dim.any(), Dim.static(7))
    image = RNG.uniform(0, 255, (1, 3, 20, 30)).astype(np.float32)
    for confidences in ([0.9, 0.2, 0.7, 0.5, 0.1, 0.95], [0.3], [0.99] * 12):
        detection = detections(confidences, RNG)
        result = run(node, image=image, detection=detection)
        expected = crop_reference(image, detection, 8, 6, 0.5)
        assert list(result) == ["images", "coordinates", "confidences"]
        for got, want in zip(result.values(), expected, strict=True):
            np.testing.assert_array_equal(got, want)
    node.close()


def test_crop_gives_empty_outputs_when_nothing_is_detected(built: dict[str, Path], no_leaks: None) -> None:
    params = {"target_image_width": "4", "target_image_height": "4", "confidence_threshold": "0.5"}
    node = CustomNode(load(built, "crop"), "crop", params)
    result = run(node, image=np.zeros((1, 3, 5, 5), np.float32), detection=detections([0.1, 0.2], RNG))
    assert result["images"].shape == (0, 1, 3, 4, 4)
    assert result["confidences"].shape == (0, 1, 1)
    node.close()


def test_crop_without_its_required_parameters_fails_initialize(
    built: dict[str, Path], no_leaks: None
) -> None:
    with pytest.raises(
        CustomNodeLibraryInvalid,
        match=re.escape("initialization - node crop (library crop): initialize returned 1"),
    ):
        CustomNode(load(built, "crop"), "crop", {"target_image_width": "4"})


# -- libraries that break the interface -------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("fail", "Custom node failed during execution: execute returned 7"),
        ("null_outputs", "Custom node library has returned corrupted outputs handle"),
        ("zero_outputs", "Custom node library has produced corrupted number of outputs: 0"),
        (
            "bad_bytes",
            "Custom node output has invalid content size - output y: 12 bytes, but shape (1,4) of FP32 needs 16",
        ),
        (
            "null_data",
            "Custom node output has invalid content size - output y: no data, but shape (1,4) of FP32 needs 16",
        ),
        ("bad_dims_count", "not matching shape - output y: (1,4,1), but getOutputsInfo declares (1,4)"),
        ("bad_dims", "not matching shape - output y: (1,5), but getOutputsInfo declares (1,4)"),
        ("bad_precision", "not matching precision - output y: I32, but getOutputsInfo declares FP32"),
        ("unspecified", "Custom node has produced tensor with unspecified precision - output y: UNSPECIFIED"),
        ("no_name", "Custom node output is missing name"),
        ("missing_output", "Custom node output is missing - y"),
    ],
)
def test_a_bad_output_is_an_error_naming_it_and_everything_is_released(
    built: dict[str, Path], no_leaks: None, mode: str, message: str
) -> None:
    node = CustomNode(load(built, "faulty"), "faulty", {"mode": mode})
    with pytest.raises(CustomNodeFailed) as caught:
        run(node, x=np.zeros(3, np.float32))
    assert message in caught.value.message
    node.close()
    healthy = CustomNode(load(built, "faulty"), "faulty", {})  # the library is still usable
    assert run(healthy, x=np.zeros(1, np.float32))["y"].shape == (1, 4)
    healthy.close()


@st.composite
def output_specs(draw: st.DrawFn) -> tuple[int, int, list[int]]:
    """(precision, dataBytes, dims) of an output, right or wrong in any of its parts."""
    count = draw(st.one_of(st.integers(0, 5), st.just(40)))
    dims = draw(st.lists(st.integers(0, 5), min_size=count, max_size=count))
    precision = draw(st.integers(-2, 11))
    itemsize = abi.PRECISION_DTYPES[precision].itemsize if precision in abi.PRECISION_DTYPES else 4
    right = int(np.prod(dims, dtype=np.int64)) * itemsize
    size = draw(st.one_of(st.just(right), st.integers(0, 300))) if right <= 300 else draw(st.integers(0, 300))
    return precision, size, dims


@settings(  # bounded and derandomized: every run tries the same outputs
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
)
@given(spec=output_specs())
def test_any_output_is_taken_or_refused_naming_it_and_always_released(
    built: dict[str, Path], spec: tuple[int, int, list[int]]
) -> None:
    precision, size, dims = spec
    node = CustomNode(load(built, "faulty"), "fuzz", {"mode": "spec"})
    described = np.array([len(dims), precision, size, *dims], np.float32)
    try:
        result = run(node, x=described)
        assert (precision, size, dims) == (1, 16, [1, 4])  # only what getOutputsInfo declares is taken
        np.testing.assert_array_equal(result["y"], np.zeros((1, 4), np.float32))
    except CustomNodeFailed as error:
        assert (precision, size, dims) != (1, 16, [1, 4])
        assert "output y" in error.message, error.message
    finally:
        node.close()
    assert outstanding(built["faulty"]) == 0


def test_undeclared_outputs_are_released_and_left_out(built: dict[str, Path], no_leaks: None) -> None:
    node = CustomNode(load(built, "faulty"), "faulty", {"mode": "extra_output"})
    result = run(node, x=np.zeros(3, np.float32))
    assert list(result) == ["y"]
    np.testing.assert_array_equal(result["y"], np.array([[1, 2, 3, 4]], np.float32))
    node.close()


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        (
            "fail_initialize",
            "Failure during custom node library initialization - node n (library faulty): initialize returned 5",
        ),
        (
            "fail_metadata",
            "Custom node failed on metadata call - node n (library faulty): getInputsInfo returned 3",
        ),
        (
            "no_info",
            "Custom node failed on metadata call - node n (library faulty): getInputsInfo gave 0 tensors",
        ),
    ],
)
def test_a_node_whose_library_cannot_start_it_is_refused(
    built: dict[str, Path], no_leaks: None, mode: str, message: str
) -> None:
    with pytest.raises(CustomNodeLibraryInvalid) as caught:
        CustomNode(load(built, "faulty"), "n", {"mode": mode})
    assert caught.value.message == message
    assert caught.value.code is Code.FAILED_PRECONDITION


def test_libraries_that_cannot_be_loaded_are_refused_with_the_reason(
    built: dict[str, Path], tmp_path: Path
) -> None:
    def refused(path: str) -> str:
        with pytest.raises(CustomNodeLibraryInvalid) as caught:
            CustomNodeLibrary.load(CustomNodeLibraryConfig("lib", path))
        return caught.value.message

    assert "does not export release" in refused(str(built["no_release"]))
    assert "Custom node library failed to open - library lib" in refused(str(tmp_path / "absent.so"))
    assert "not an absolute path" in refused("libcustom_node_add_one.so")
    assert "'..' is forbidden" in refused(str(tmp_path / ".." / "x.so"))
    (tmp_path / "text.so").write_text("not a library")
    assert "failed to open" in refused(str(tmp_path / "text.so"))


def test_libraries_are_bound_lazily_as_ovms_binds_them(built: dict[str, Path], no_leaks: None) -> None:
    """A symbol nothing defines, in a function never called, does not stop the library loading
    (ctypes.CDLL alone binds every symbol at once and refuses it)."""
    node = CustomNode(load(built, "unresolved"), "copy", {})
    np.testing.assert_array_equal(
        run(node, x=np.arange(4, dtype=np.float32))["y"], np.arange(4, dtype=np.float32)
    )
    node.close()


def test_outputs_are_released_with_the_state_of_the_node_that_made_them(
    built: dict[str, Path], no_leaks: None
) -> None:
    """Two nodes of one library, each with a pool of two output buffers in its own state: many runs
    work only if every output goes back, through release, to the pool of the state it came from."""
    library = load(built, "pooled")
    nodes = [CustomNode(library, f"n{i}", {"pool_size": "2"}) for i in range(2)]
    for i in range(6):
        for k, node in enumerate(nodes):
            x = np.full(i + 1, k + i, np.float32)
            np.testing.assert_array_equal(run(node, x=x)["y"], x * 2)
    wrong = abi.open_library(str(built["pooled"])).wrong_state_releases
    assert wrong() == 0
    for node in nodes:
        node.close()


# -- concurrency, closing and cancellation ------------------------------------------------------


def rendezvous(built: dict[str, Path]) -> ctypes.CDLL:
    controls = abi.open_library(str(built["rendezvous"]))  # the handle the server opened: the same globals
    controls.reset_gate()
    return controls


def test_concurrent_runs_share_the_node_state_and_keep_the_loop_free(
    built: dict[str, Path], no_leaks: None
) -> None:
    """Four runs complete only if all four are inside execute at once on one state: neither the event
    loop nor the node serializes them. Each still gets its own outputs."""
    rendezvous(built)
    node = CustomNode(load(built, "rendezvous"), "meet", {"expected": "4"})

    async def four() -> list[dict[str, np.ndarray]]:
        return await asyncio.gather(*(node.run({"x": np.full(3, i, np.float32)}) for i in range(4)))

    results = asyncio.run(asyncio.wait_for(four(), 90))
    for i, result in enumerate(results):
        np.testing.assert_array_equal(result["y"], np.full(3, i, np.float32))
    node.close()


def test_close_waits_for_the_running_call_before_deinitialize(built: dict[str, Path], no_leaks: None) -> None:
    controls = rendezvous(built)
    node = CustomNode(load(built, "rendezvous"), "meet", {"expected": "99"})

    async def held_call() -> None:
        running = asyncio.create_task(node.run({"x": np.arange(3, dtype=np.float32)}))
        assert await asyncio.to_thread(controls.wait_inside, 1) == 1
        node.close()  # the call is inside execute: its state must outlive it
        with pytest.raises(CustomNodeFailed, match="closed"):
            await node.run({"x": np.zeros(1, np.float32)})
        controls.open_gate()
        np.testing.assert_array_equal((await running)["y"], np.arange(3, dtype=np.float32))
        assert await asyncio.to_thread(controls.wait_deinitialized, 1) == 1

    asyncio.run(asyncio.wait_for(held_call(), 90))


def test_a_cancelled_run_still_releases_its_outputs(built: dict[str, Path], no_leaks: None) -> None:
    controls = rendezvous(built)
    node = CustomNode(load(built, "rendezvous"), "meet", {"expected": "99"})

    async def cancelled() -> None:
        running = asyncio.create_task(node.run({"x": np.ones(5, np.float32)}))
        assert await asyncio.to_thread(controls.wait_inside, 1) == 1
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        node.close()
        controls.open_gate()  # the worker thread finishes the call, releases, then deinitializes
        assert await asyncio.to_thread(controls.wait_deinitialized, 1) == 1

    asyncio.run(asyncio.wait_for(cancelled(), 90))


def test_a_blocked_custom_node_does_not_stop_a_model_load(
    built: dict[str, Path], no_leaks: None, tmp_path: Path
) -> None:
    """Custom nodes made by the server's factory run on threads of their own: with every thread of
    the loop's shared pool's size held inside a library, a real model still loads (the manager
    loads on that pool) and answers, while the held calls are still inside."""
    controls = rendezvous(built)
    library = CustomNodeLibraryConfig("rendezvous", str(built["rendezvous"]))
    config = pipeline_fakes.node(
        "meet", {"x": "request:x"}, ["y"], library_name="rendezvous", params={"expected": "99"}
    )
    made = NodeFactory().for_libraries({"rendezvous": library})(config)
    held_count = 2
    side = ThreadPoolExecutor(1)  # waits on the library's controls off the pools under test

    async def body(served: pipeline_fakes.Served) -> None:
        loop = asyncio.get_running_loop()
        shared = ThreadPoolExecutor(held_count)
        loop.set_default_executor(shared)  # the pool model loads run on, as small as the calls held
        held = [asyncio.create_task(made.run({"x": np.full(2, i, np.float32)})) for i in range(held_count)]
        assert await loop.run_in_executor(side, controls.wait_inside, held_count) == 1
        await served.serve("rows", pipeline_fakes.rows())
        x = np.arange(12, dtype=np.float32).reshape(1, 12)
        with served.manager.acquire("rows", None) as rows:
            answer = await rows.infer({"x": x})
        for name, expected in served.reference("rows", {"x": x}).items():
            np.testing.assert_array_equal(answer[name], expected)
        assert not any(task.done() for task in held)  # the load did not wait for the blocked node
        controls.open_gate()
        for i, task in enumerate(held):
            np.testing.assert_array_equal((await task)["y"], np.full(2, i, np.float32))
        made.close()
        assert await loop.run_in_executor(side, controls.wait_deinitialized, 1) == 1

    try:
        pipeline_fakes.run_served(tmp_path, lambda served: asyncio.wait_for(body(served), 90))
    finally:
        side.shutdown()
