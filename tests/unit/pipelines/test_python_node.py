"""Python nodes run OVMS's OvmsPythonModel contract: handler files written here, run in-process."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import numpy as np
import pytest
from pynodes import Nodes, copy_handler, run

from ovserve.errors import Code, PythonNodeFailed
from ovserve.pipelines.nodes import UNKNOWN_DTYPE, StreamingNode
from ovserve.pipelines.pytensors import array_from_tensor, tensor_from_raw
from ovserve.tensors import bf16_from_float, bytes_array

IDENTITY = """
    class OvmsPythonModel:
        def execute(self, inputs):
            return inputs
"""
ECHO_KWARGS = """
    import json
    import threading
    import numpy as np
    from pyovms import Tensor

    class OvmsPythonModel:
        def initialize(self, kwargs):
            self.kwargs = kwargs

        def execute(self, inputs):
            seen = [[t.name, t.datatype, list(t.shape), t.data.format] for t in inputs]
            report = {"kwargs": self.kwargs, "inputs": seen, "thread": threading.current_thread().name}
            return [Tensor("report", np.array([json.dumps(report)]))]
"""


def reference_crop(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """The crop node's result computed pixel by pixel (nearest neighbour at pixel centres)."""
    _, channels, height, width = image.shape
    out = np.zeros((len(boxes), 1, channels, size, size), dtype=image.dtype)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        for r in range(size):
            y = min(max(int(np.floor(y0 * height + (r + 0.5) * (y1 - y0) * height / size)), 0), height - 1)
            for c in range(size):
                x = min(max(int(np.floor(x0 * width + (c + 0.5) * (x1 - x0) * width / size)), 0), width - 1)
                out[i, 0, :, r, c] = image[0, :, y, x]
    return out


def test_the_crop_node_crops_every_box_with_numpy_only(nodes: Nodes, tmp_path: Path) -> None:
    node = nodes.load(str(copy_handler(tmp_path, "crop.py")), ["image", "boxes"], ["crops"], name="crop")
    assert isinstance(node, StreamingNode)  # (a Node with run_stream)
    image = np.random.default_rng(0).random((1, 3, 32, 48), dtype=np.float32)
    boxes = np.array([[[0.0, 0.0, 1.0, 1.0], [0.25, 0.5, 0.75, 1.0], [0.1, 0.1, 0.2, 0.3]]], dtype=np.float32)
    out = run(node.run({"image": image, "boxes": boxes}))
    assert list(out) == ["crops"]
    assert out["crops"].shape == (3, 1, 3, 8, 8) and out["crops"].dtype == np.float32
    np.testing.assert_array_equal(out["crops"], reference_crop(image, boxes[0], 8))
    none = run(node.run({"image": image, "boxes": np.zeros((1, 0, 4), np.float32)}))
    assert none["crops"].shape == (0, 1, 3, 8, 8)


def test_initialize_gets_ovms_kwargs_and_execute_gets_tensors_in_input_order(
    nodes: Nodes, tmp_path: Path
) -> None:
    node = nodes(ECHO_KWARGS, ["b_in", "a_in", "text"], ["report"], name="echo")
    assert node.inputs["a_in"].dtype == UNKNOWN_DTYPE and node.inputs["a_in"].dims == ()
    inputs = {
        "text": bytes_array([b"ab", b"c"]),
        "a_in": np.zeros((2, 2), np.int64),
        "b_in": np.zeros(3, np.float32),
    }
    out = run(node.run(inputs))["report"]
    assert out.dtype == object and out.shape == (1,)  # a numpy string array travels as BYTES
    report = json.loads(out[0])
    assert report["kwargs"] == {
        "node_name": "echo",
        "input_names": ["b_in", "a_in", "text"],
        "output_names": ["report"],
        "base_path": str(tmp_path),
    }
    # as OVMS makes them from a request: INT64 has format "q"; BYTES is a packed 1-D buffer
    assert report["inputs"] == [
        ["b_in", "FP32", [3], "f"],
        ["a_in", "INT64", [2, 2], "q"],
        ["text", "BYTES", [2], "B"],
    ]
    assert report["thread"].startswith("pynode-echo")  # the node's own threads, not the loop's


def test_bytes_inputs_are_length_prefixed_and_bytes_outputs_are_read_back(nodes: Nodes) -> None:
    source = """
        from pyovms import Tensor

        class OvmsPythonModel:
            def execute(self, inputs):
                text = inputs[0]
                return [Tensor("raw", text), Tensor("same", text, shape=text.shape, datatype=text.datatype)]
    """
    node = nodes(source, ["text"], ["raw", "same"])
    out = run(node.run({"text": bytes_array([b"hello", b""])}))
    # a Tensor made from another takes its buffer's shape and format (OVMS): 13 UINT8
    assert out["raw"].dtype == np.uint8 and bytes(out["raw"]) == b"\x05\x00\x00\x00hello\x00\x00\x00\x00"
    assert out["same"].dtype == object and out["same"].tolist() == [b"hello", b""]


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ("return None", "Expected: list or generator. Received: NoneType"),
        ("return (Tensor('out', b'x'),)", "Expected: list or generator. Received: tuple"),
        (
            "return [b'x']",
            "Wrong object on execute output: Unexpected Python object type. Expected: Tensor. Received: bytes",
        ),
        ("return [Tensor('nope', b'x')]", "Tensor name: nope is not a valid node output"),
        ("return [Tensor('out', b'x'), Tensor('out', b'y')]", "returned output 'out' more than once"),
        ("return []", "returned no output 'out'"),
        (
            "return [Tensor('out', b'abcd', shape=(2,), datatype='FP32')]",
            "shape (2,) of FP32 needs 8 bytes; the data has 4",
        ),
        ("return [Tensor('out', b'abcd', datatype='BYTES')]", "BYTES element 0 declares 1684234849 bytes"),
        (
            "return [Tensor('out', b'x', datatype='IMAGE_FRAME')]",
            "datatype 'IMAGE_FRAME' is not a KServe datatype",
        ),
        ("return [Tensor('out', 1 / 0)]", "execute raised ZeroDivisionError: division by zero"),
        ("raise RuntimeError('model exploded')", "execute raised RuntimeError: model exploded"),
        ("yield [Tensor('out', b'x')]", "only a streaming request can take"),
    ],
)
def test_what_execute_gets_wrong_is_an_error_naming_the_node(nodes: Nodes, body: str, text: str) -> None:
    source = f"""
        from pyovms import Tensor

        class OvmsPythonModel:
            def execute(self, inputs):
                {body}
    """
    node = nodes(source, ["in"], ["out"], name="bad_node")
    with pytest.raises(PythonNodeFailed) as caught:
        run(node.run({"in": np.zeros(1, np.float32)}))
    assert caught.value.code == Code.INTERNAL
    assert caught.value.message.startswith("Python node 'bad_node': ")
    assert text in caught.value.message
    ok = nodes(IDENTITY, ["x"], ["x"], file="ok.py")
    assert run(ok.run({"x": np.ones(2, np.float32)}))["x"].tolist() == [1.0, 1.0]  # the server is unharmed


ROUND_TRIP = [
    np.array([True, False]),
    np.arange(6, dtype=np.uint8).reshape(2, 3),
    np.arange(4, dtype=np.uint16),
    np.arange(4, dtype=np.uint32),
    np.arange(4, dtype=np.uint64),
    np.arange(-2, 2, dtype=np.int8),
    np.arange(-2, 2, dtype=np.int16),
    np.arange(-2, 2, dtype=np.int32),
    np.arange(-2, 2, dtype=np.int64).reshape(2, 2, 1),
    np.linspace(0, 1, 5, dtype=np.float16),
    np.linspace(0, 1, 5, dtype=np.float32)[::2],  # not contiguous
    np.array(3.5, dtype=np.float64),  # 0-d
    np.zeros((0, 3), dtype=np.float32),  # empty
    bf16_from_float([1.5, -2.0, 3.0]),
    bytes_array([b"a", b"", "\u00e9".encode()], (3, 1)),
]


@pytest.mark.parametrize("array", ROUND_TRIP, ids=lambda a: f"{a.dtype}{a.shape}")
def test_every_datatype_passes_through_a_node_unchanged(nodes: Nodes, array: np.ndarray) -> None:
    node = nodes(IDENTITY, ["x"], ["x"])
    out = run(node.run({"x": array}))["x"]
    assert out.dtype == array.dtype and out.shape == array.shape
    assert out.tobytes() == array.tobytes() if array.dtype != object else out.tolist() == array.tolist()


def test_an_input_the_node_does_not_have_is_refused(nodes: Nodes) -> None:
    node = nodes(IDENTITY, ["x"], ["x"], name="id")
    with pytest.raises(PythonNodeFailed, match="Python node 'id' has no input 'y' \\(inputs: x\\)"):
        run(node.run({"y": np.zeros(1)}))


def test_a_graph_input_is_made_from_a_request_tensors_raw_bytes() -> None:
    tensor = tensor_from_raw("in", np.arange(3, dtype=np.float32).tobytes(), (1, 3), "FP32")
    assert (tensor.datatype, tensor.shape, tensor.data.format) == ("FP32", (1, 3), "f")
    assert array_from_tensor(tensor).tolist() == [[0.0, 1.0, 2.0]]
    with pytest.raises(ValueError, match="'in': shape \\(2,\\) of FP32 needs 8 bytes; the data has 12"):
        tensor_from_raw("in", bytes(12), (2,), "FP32")


def test_inputs_have_the_buffer_ovms_makes_from_a_request_tensor(nodes: Nodes) -> None:
    source = """
        import json
        import numpy as np
        from pyovms import Tensor

        class OvmsPythonModel:
            def execute(self, inputs):
                seen = [[t.datatype, list(t.shape), list(t.data.shape), t.data.format] for t in inputs]
                return [Tensor("seen", np.array([json.dumps(seen)]))]
    """
    node = nodes(source, ["scalar", "strided", "bf16"], ["seen"])
    inputs = {
        "scalar": np.array(7, dtype=np.int64),
        "strided": np.arange(8, dtype=np.uint64)[::2],
        "bf16": bf16_from_float([1.0, 2.0]),
    }
    seen = json.loads(run(node.run(inputs))["seen"][0])
    assert seen == [["INT64", [], [], "q"], ["UINT64", [4], [4], "Q"], ["BF16", [2], [4], "B"]]


@pytest.mark.filterwarnings("error")  # the coroutine is closed: no "never awaited" warning
def test_an_async_execute_is_refused_as_ovms_refuses_it(nodes: Nodes) -> None:
    source = """
        class OvmsPythonModel:
            async def execute(self, inputs):
                return inputs
    """
    node = nodes(source, ["x"], ["x"], name="async_node")
    with pytest.raises(PythonNodeFailed, match=r"Expected: list or generator\. Received: coroutine"):
        run(node.run({"x": np.zeros(1, np.float32)}))
    gc.collect()
