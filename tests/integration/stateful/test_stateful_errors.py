"""Stateful models: every sequence error with OVMS's text and status, on TF Serving REST and gRPC
and KServe REST, the special inputs' encodings checked as OVMS checked them, and metadata that does
not list the special inputs. The server stays up and keeps serving throughout.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import grpc
import numpy as np
from ovmsclient.tfs_compat.protos.tensorflow.core.framework import tensor_pb2, types_pb2
from serverproc import ServerProcess
from stateful_clients import (
    BAD_CONTROL,
    END,
    EXISTS,
    FULL,
    NO_ID,
    START,
    UNKNOWN,
    kserve_rest_error,
    rest,
    special_protos,
    tfs_grpc_error,
    tfs_rest_error,
    tfs_rest_step,
)


def test_sequence_errors_on_every_api(server: ServerProcess, stub: Any) -> None:
    tfs_rest_error(server, "sum", {"sequence_id": [123456]}, 404, UNKNOWN)
    tfs_grpc_error(stub, "sum", special_protos(123456, END), grpc.StatusCode.NOT_FOUND, UNKNOWN)
    kserve_rest_error(server, "sum", 123456, None, 404, UNKNOWN)
    tfs_rest_error(server, "sum", {}, 400, NO_ID)
    tfs_grpc_error(stub, "sum", special_protos(None, END), grpc.StatusCode.INVALID_ARGUMENT, NO_ID)
    kserve_rest_error(server, "sum", 0, 0, 400, NO_ID)
    tfs_rest_error(server, "sum", {"sequence_id": [1], "sequence_control_input": [7]}, 400, BAD_CONTROL)
    tfs_grpc_error(stub, "sum", special_protos(1, 7), grpc.StatusCode.INVALID_ARGUMENT, BAD_CONTROL)
    tfs_rest_step(server, "sum", np.zeros((1, 4), np.float32), 31, START)
    tfs_rest_error(server, "sum", {"sequence_id": [31], "sequence_control_input": [1]}, 409, EXISTS)
    tfs_grpc_error(stub, "sum", special_protos(31, START), grpc.StatusCode.ALREADY_EXISTS, EXISTS)
    kserve_rest_error(server, "sum", 31, START, 409, EXISTS)
    tfs_rest_step(server, "sum", np.zeros((1, 4), np.float32), 31, END)
    assert server.alive()


def test_max_sequence_number_on_every_api(server: ServerProcess, stub: Any) -> None:
    x = np.zeros((1, 4), np.float32)
    tfs_rest_step(server, "small", x, 1, START)
    tfs_rest_step(server, "small", x, 2, START)
    tfs_rest_error(server, "small", {"sequence_control_input": [1]}, 503, FULL)
    tfs_grpc_error(stub, "small", special_protos(None, START), grpc.StatusCode.UNAVAILABLE, FULL)
    kserve_rest_error(server, "small", 3, START, 503, FULL)
    tfs_rest_step(server, "small", x, 2, END)
    assert tfs_rest_step(server, "small", x, 3, START)["sequence_id"].tolist() == [3]
    for sequence_id in (1, 3):
        tfs_rest_step(server, "small", x, sequence_id, END)


def test_special_input_encodings_checked_as_ovms(server: ServerProcess, stub: Any) -> None:
    int64_id = tensor_pb2.TensorProto(dtype=types_pb2.DT_INT64, int64_val=[5])
    int64_id.tensor_shape.dim.add().size = 1
    tfs_grpc_error(
        stub, "sum", {"sequence_id": int64_id}, grpc.StatusCode.INVALID_ARGUMENT,
        "Could not find sequence id in expected tensor proto field uint64_val",
    )  # fmt: skip
    int32_control = tensor_pb2.TensorProto(dtype=types_pb2.DT_INT32, int_val=[1])
    int32_control.tensor_shape.dim.add().size = 1
    tfs_grpc_error(
        stub, "sum", {"sequence_control_input": int32_control}, grpc.StatusCode.INVALID_ARGUMENT,
        "Could not find sequence control input in expected tensor proto field uint32_val",
    )  # fmt: skip
    no_shape = tensor_pb2.TensorProto(dtype=types_pb2.DT_UINT64, uint64_val=[5])
    tfs_grpc_error(
        stub, "sum", {"sequence_id": no_shape}, grpc.StatusCode.INVALID_ARGUMENT,
        "Special input proto does not contain tensor shape information",
    )  # fmt: skip
    tfs_rest_error(
        server,
        "sum",
        {"sequence_id": [1, 2]},
        400,
        "Invalid input shape - Required shape for sequence_id is: (1)",
    )
    for bad in ([-3], [1.5], [[5]], [True]):  # refused, not cast (as OVMS parsed them)
        tfs_rest_error(
            server, "sum", {"sequence_id": bad}, 400, "Could not parse input content - input sequence_id"
        )
    tfs_rest_error(
        server,
        "sum",
        {"sequence_id": [5], "sequence_control_input": [1.0]},
        400,
        "Could not parse input content",
    )
    kserve_rest_error(server, "sum", None, None, 400, NO_ID)
    got, answer = rest(
        server,
        "/v2/models/sum/infer",
        {"inputs": [
            {"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [0, 0, 0, 0]},
            {"name": "sequence_id", "shape": [1], "datatype": "INT64", "data": [4]},
        ]},
    )  # fmt: skip
    assert got == 400 and answer["error"].startswith("Could not find sequence id"), answer


def test_metadata_does_not_list_the_special_inputs(server: ServerProcess) -> None:
    with urllib.request.urlopen(f"{server.rest_url}/v2/models/sum", timeout=30) as answer:
        kserve = json.loads(answer.read())
    assert [t["name"] for t in kserve["inputs"]] == ["x"] and [t["name"] for t in kserve["outputs"]] == ["y"]
    with urllib.request.urlopen(f"{server.rest_url}/v1/models/sum/metadata", timeout=30) as answer:
        tfs = json.loads(answer.read())
    signature = tfs["metadata"]["signature_def"]["signatureDef"]["serving_default"]
    assert list(signature["inputs"]) == ["x"] and list(signature["outputs"]) == ["y"]
