"""The generated protocol modules are fresh and carry the public wire contract.

Field numbers, full names and method paths are what KServe v2 clients (tritonclient) and
TF Serving clients (ovmsclient) put on the wire; these tests pin the ones a mistake would
break silently. They import only ``ovserve._generated``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor, FileDescriptor

from ovserve._generated.kserve import grpc_predict_v2_pb2 as kserve
from ovserve._generated.kserve import grpc_predict_v2_pb2_grpc as kserve_grpc
from ovserve._generated.tensorflow.core.framework import tensor_pb2, types_pb2
from ovserve._generated.tensorflow.core.protobuf import error_codes_pb2, meta_graph_pb2
from ovserve._generated.tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    model_service_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2,
    prediction_service_pb2_grpc,
)
from ovserve._generated.tensorflow_serving.config import model_server_config_pb2
from ovserve._generated.tensorflow_serving.util import status_pb2

REPO = Path(__file__).resolve().parents[2]


def test_generated_code_is_up_to_date() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "gen_protos.py"),
            "--check",
            str(REPO / "src/ovserve/_generated"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr + result.stdout


def _field(message: Descriptor, name: str) -> FieldDescriptor:
    return message.fields_by_name[name]


@pytest.mark.parametrize(
    ("message", "field", "number", "type_"),
    [
        (kserve.ModelInferRequest, "raw_input_contents", 7, FieldDescriptor.TYPE_BYTES),
        (kserve.ModelInferRequest, "inputs", 5, FieldDescriptor.TYPE_MESSAGE),
        (kserve.ModelInferRequest, "parameters", 4, FieldDescriptor.TYPE_MESSAGE),
        (kserve.ModelInferRequest.InferInputTensor, "contents", 5, FieldDescriptor.TYPE_MESSAGE),
        (kserve.ModelInferResponse, "raw_output_contents", 6, FieldDescriptor.TYPE_BYTES),
        (kserve.ModelInferResponse, "outputs", 5, FieldDescriptor.TYPE_MESSAGE),
        (kserve.ModelStreamInferResponse, "error_message", 1, FieldDescriptor.TYPE_STRING),
        (kserve.ModelStreamInferResponse, "infer_response", 2, FieldDescriptor.TYPE_MESSAGE),
        (kserve.InferParameter, "double_param", 4, FieldDescriptor.TYPE_DOUBLE),
        (kserve.InferParameter, "uint64_param", 5, FieldDescriptor.TYPE_UINT64),
        (kserve.InferTensorContents, "fp32_contents", 6, FieldDescriptor.TYPE_FLOAT),
        (kserve.InferTensorContents, "bytes_contents", 8, FieldDescriptor.TYPE_BYTES),
        (kserve.ModelRepositoryParameter, "bytes_param", 4, FieldDescriptor.TYPE_BYTES),
        (kserve.RepositoryModelLoadRequest, "parameters", 3, FieldDescriptor.TYPE_MESSAGE),
        (kserve.RepositoryIndexResponse.ModelIndex, "reason", 4, FieldDescriptor.TYPE_STRING),
        (tensor_pb2.TensorProto, "tensor_content", 4, FieldDescriptor.TYPE_BYTES),
        (tensor_pb2.TensorProto, "half_val", 13, FieldDescriptor.TYPE_INT32),
        (tensor_pb2.TensorProto, "string_val", 8, FieldDescriptor.TYPE_BYTES),
        (tensor_pb2.TensorProto, "uint64_val", 17, FieldDescriptor.TYPE_UINT64),
        (predict_pb2.PredictRequest, "model_spec", 1, FieldDescriptor.TYPE_MESSAGE),
        (predict_pb2.PredictRequest, "inputs", 2, FieldDescriptor.TYPE_MESSAGE),
        (predict_pb2.PredictRequest, "output_filter", 3, FieldDescriptor.TYPE_STRING),
        (predict_pb2.PredictResponse, "outputs", 1, FieldDescriptor.TYPE_MESSAGE),
        (predict_pb2.PredictResponse, "model_spec", 2, FieldDescriptor.TYPE_MESSAGE),
        (model_pb2.ModelSpec, "version", 2, FieldDescriptor.TYPE_MESSAGE),
        (model_pb2.ModelSpec, "signature_name", 3, FieldDescriptor.TYPE_STRING),
        (model_pb2.ModelSpec, "version_label", 4, FieldDescriptor.TYPE_STRING),
        (meta_graph_pb2.SignatureDef, "method_name", 3, FieldDescriptor.TYPE_STRING),
        (get_model_metadata_pb2.GetModelMetadataResponse, "metadata", 2, FieldDescriptor.TYPE_MESSAGE),
        (get_model_status_pb2.ModelVersionStatus, "status", 3, FieldDescriptor.TYPE_MESSAGE),
        (model_server_config_pb2.ModelConfig, "model_version_policy", 7, FieldDescriptor.TYPE_MESSAGE),
    ],
)
def test_field_numbers(message: Any, field: str, number: int, type_: int) -> None:
    descriptor = _field(message.DESCRIPTOR, field)
    assert (descriptor.number, descriptor.type) == (number, type_)


def test_oneofs() -> None:
    parameter = kserve.InferParameter.DESCRIPTOR.oneofs_by_name["parameter_choice"]
    assert [f.name for f in parameter.fields] == [
        "bool_param",
        "int64_param",
        "string_param",
        "double_param",
        "uint64_param",
    ]
    version = model_pb2.ModelSpec.DESCRIPTOR.oneofs_by_name["version_choice"]
    assert [f.name for f in version.fields] == ["version", "version_label"]
    assert (
        _field(model_pb2.ModelSpec.DESCRIPTOR, "version").message_type.full_name
        == "google.protobuf.Int64Value"
    )
    policy = model_server_config_pb2.ModelConfig.DESCRIPTOR.fields_by_name[
        "model_version_policy"
    ].message_type
    assert policy.full_name == "tensorflow.serving.FileSystemStoragePathSourceConfig.ServableVersionPolicy"
    assert {f.name: f.number for f in policy.oneofs_by_name["policy_choice"].fields} == {
        "latest": 100,
        "all": 101,
        "specific": 102,
    }


def test_full_names() -> None:
    assert kserve.ModelInferRequest.DESCRIPTOR.full_name == "inference.ModelInferRequest"
    assert predict_pb2.PredictRequest.DESCRIPTOR.full_name == "tensorflow.serving.PredictRequest"
    assert tensor_pb2.TensorProto.DESCRIPTOR.full_name == "tensorflow.TensorProto"
    assert get_model_metadata_pb2.SignatureDefMap.DESCRIPTOR.full_name == "tensorflow.serving.SignatureDefMap"
    assert status_pb2.StatusProto.DESCRIPTOR.full_name == "tensorflow.serving.StatusProto"
    assert (
        _field(status_pb2.StatusProto.DESCRIPTOR, "error_code").enum_type.full_name == "tensorflow.error.Code"
    )


def test_enum_values() -> None:
    assert types_pb2.DT_FLOAT == 1
    assert types_pb2.DT_STRING == 7
    assert types_pb2.DT_HALF == 19
    assert types_pb2.DT_UINT64 == 23
    assert types_pb2.DT_FLOAT_REF == 101
    state = get_model_status_pb2.ModelVersionStatus.State
    assert list(state.items()) == [
        ("UNKNOWN", 0),
        ("START", 10),
        ("LOADING", 20),
        ("AVAILABLE", 30),
        ("UNLOADING", 40),
        ("END", 50),
    ]
    assert error_codes_pb2.UNAUTHENTICATED == 16
    assert error_codes_pb2.NOT_FOUND == 5


def test_rest_json_names_stay_snake_case() -> None:
    assert _field(status_pb2.StatusProto.DESCRIPTOR, "error_code").json_name == "error_code"
    assert _field(status_pb2.StatusProto.DESCRIPTOR, "error_message").json_name == "error_message"
    response = get_model_status_pb2.GetModelStatusResponse.DESCRIPTOR
    assert _field(response, "model_version_status").json_name == "model_version_status"


@pytest.mark.parametrize(
    ("file", "service", "methods"),
    [
        (
            kserve.DESCRIPTOR,
            "inference.GRPCInferenceService",
            [
                "ServerLive",
                "ServerReady",
                "ModelReady",
                "ServerMetadata",
                "ModelMetadata",
                "ModelInfer",
                "ModelStreamInfer",
                "RepositoryIndex",
                "RepositoryModelLoad",
                "RepositoryModelUnload",
                "ModelConfig",
                "ModelStatistics",
            ],
        ),
        (
            prediction_service_pb2.DESCRIPTOR,
            "tensorflow.serving.PredictionService",
            ["Classify", "Regress", "Predict", "MultiInference", "GetModelMetadata"],
        ),
        (
            model_service_pb2.DESCRIPTOR,
            "tensorflow.serving.ModelService",
            ["GetModelStatus", "HandleReloadConfigRequest"],
        ),
    ],
)
def test_services(file: FileDescriptor, service: str, methods: list[str]) -> None:
    descriptor = file.services_by_name[service.rsplit(".", 1)[1]]
    assert descriptor.full_name == service
    assert [m.name for m in descriptor.methods] == methods


def test_stream_infer_is_bidirectional() -> None:
    method = kserve.DESCRIPTOR.services_by_name["GRPCInferenceService"].methods_by_name["ModelStreamInfer"]
    assert (method.client_streaming, method.server_streaming) == (True, True)
    assert method.input_type.full_name == "inference.ModelInferRequest"
    assert method.output_type.full_name == "inference.ModelStreamInferResponse"


def test_grpc_modules_expose_servicers() -> None:
    assert hasattr(kserve_grpc, "add_GRPCInferenceServiceServicer_to_server")
    assert hasattr(prediction_service_pb2_grpc, "add_PredictionServiceServicer_to_server")
    assert hasattr(model_service_pb2_grpc, "add_ModelServiceServicer_to_server")


def test_kserve_lives_in_a_private_pool() -> None:
    # tritonclient registers the same `inference.*` names in the default pool; ours must not clash.
    assert kserve.DESCRIPTOR.pool is not descriptor_pool.Default()
    mine = kserve.DESCRIPTOR.pool.FindMessageTypeByName("inference.ModelInferRequest")
    try:  # present in the default pool only if a client (tritonclient) registered it: never ours
        theirs = descriptor_pool.Default().FindMessageTypeByName("inference.ModelInferRequest")
    except KeyError:
        theirs = None
    assert theirs is not mine
    assert predict_pb2.DESCRIPTOR.pool is descriptor_pool.Default()


def test_every_module_imports_without_top_level_proto_packages() -> None:
    # In a fresh interpreter, so that nothing else this test session imported can interfere.
    script = """
import importlib, pkgutil, sys
import ovserve._generated as root
names = [m.name for m in pkgutil.walk_packages(root.__path__, root.__name__ + ".")]
for name in names:
    importlib.import_module(name)
top_level = {m.split(".")[0] for m in sys.modules}
print(len(names), sorted(top_level & {"tensorflow", "tensorflow_serving", "kserve"}))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    count, leaked = result.stdout.split(" ", 1)
    assert int(count) > 20
    assert leaked.strip() == "[]"
    assert predict_pb2.PredictRequest.__module__ == "ovserve._generated.tensorflow_serving.apis.predict_pb2"


def test_round_trip_keeps_bytes() -> None:
    request = kserve.ModelInferRequest(model_name="m", id="1")
    request.inputs.add(name="x", datatype="FP32", shape=[1, 2])
    request.raw_input_contents.append(b"\x00\x00\x80?\x00\x00\x00@")
    request.parameters["sequence_id"].uint64_param = 2**63
    again = kserve.ModelInferRequest.FromString(request.SerializeToString())
    assert again == request
    assert again.parameters["sequence_id"].WhichOneof("parameter_choice") == "uint64_param"
