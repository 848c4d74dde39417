"""Model status and model metadata in TF Serving's shapes, for REST (JSON) and gRPC (protos).

Both front ends describe a servable the same way: one signature, ``serving_default``,
whose inputs and outputs are the model's tensors with their TF ``DataType`` and shape
(-1 for a dynamic dimension). Status lists every version (or one) with TF Serving's
state names and an error status ``{error_code, error_message}``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from ovserve._generated.tensorflow.core.framework import types_pb2
from ovserve._generated.tensorflow.core.protobuf import error_codes_pb2
from ovserve._generated.tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2
from ovserve.core.servable import Servable
from ovserve.core.states import VersionStatus
from ovserve.tensors import NUMPY_TO_TF, TF_NAMES, TensorSpec

SIGNATURE = "serving_default"
SIGNATURE_DEF_MAP_TYPE = "type.googleapis.com/tensorflow.serving.SignatureDefMap"
DT_INVALID = 0

_State = get_model_status_pb2.ModelVersionStatus.State
_ErrorCode = error_codes_pb2.Code


def tf_dtype(spec: TensorSpec) -> int:
    return NUMPY_TO_TF.get(spec.dtype, DT_INVALID)


# -- status ----------------------------------------------------------------------------
def status_json(statuses: Iterable[VersionStatus]) -> dict[str, Any]:
    """``GetModelStatusResponse`` as TF Serving's REST API prints it (every field present)."""
    return {
        "model_version_status": [
            {
                "version": str(status.version),
                "state": status.state.name,
                "status": {"error_code": status.error_code.name, "error_message": status.error_message},
            }
            for status in statuses
        ]
    }


def status_proto(statuses: Iterable[VersionStatus]) -> get_model_status_pb2.GetModelStatusResponse:
    """A ``GetModelStatusResponse``; our State values are TF Serving's enum numbers."""
    response = get_model_status_pb2.GetModelStatusResponse()
    for status in statuses:
        entry = response.model_version_status.add()
        entry.version = status.version
        # our enums hold TF Serving's numbers; the stubs type the fields with the proto enums
        entry.state = cast("_State", status.state.value)
        entry.status.error_code = cast("_ErrorCode", status.error_code.value)
        entry.status.error_message = status.error_message
    return response


# -- metadata --------------------------------------------------------------------------
def signature_def_map(servable: Servable) -> get_model_metadata_pb2.SignatureDefMap:
    """The ``SignatureDefMap`` that GetModelMetadata packs into ``metadata["signature_def"]``."""
    signatures = get_model_metadata_pb2.SignatureDefMap()
    signature = signatures.signature_def[SIGNATURE]
    for specs, target in ((servable.inputs, signature.inputs), (servable.outputs, signature.outputs)):
        for spec in specs.values():
            info = target[spec.name]
            info.name = spec.name
            info.dtype = cast("types_pb2.DataType", tf_dtype(spec))
            dims = info.tensor_shape.dim
            for size in spec.shape:
                dims.add().size = size
    return signatures


def metadata_response(servable: Servable) -> get_model_metadata_pb2.GetModelMetadataResponse:
    """A ``GetModelMetadataResponse`` for the resolved version, signature_def packed in an Any."""
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = servable.name
    response.model_spec.version.value = servable.version
    response.metadata["signature_def"].Pack(signature_def_map(servable))
    return response


def _tensor_info_json(spec: TensorSpec) -> dict[str, Any]:
    return {
        "dtype": TF_NAMES.get(tf_dtype(spec), "DT_INVALID"),
        "tensorShape": {
            "dim": [{"size": str(size), "name": ""} for size in spec.shape],
            "unknownRank": False,
        },
        "name": spec.name,
    }


def metadata_json(servable: Servable) -> dict[str, Any]:
    """GetModelMetadataResponse as proto JSON, the way TF Serving's REST API prints it."""
    return {
        "modelSpec": {"name": servable.name, "signatureName": "", "version": str(servable.version)},
        "metadata": {
            "signature_def": {
                "@type": SIGNATURE_DEF_MAP_TYPE,
                "signatureDef": {
                    SIGNATURE: {
                        "inputs": {name: _tensor_info_json(spec) for name, spec in servable.inputs.items()},
                        "outputs": {name: _tensor_info_json(spec) for name, spec in servable.outputs.items()},
                        "methodName": "",
                        "defaults": {},
                    }
                },
            }
        },
    }
