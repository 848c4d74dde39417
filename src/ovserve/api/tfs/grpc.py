"""TF Serving's gRPC API: ``tensorflow.serving.PredictionService`` and ``ModelService``.

Servicers are stateless translators onto the one request path. They raise
``ServingError`` only; the error wrapper around every method (``api.grpc_server``) maps codes
to gRPC statuses, so no method catches errors itself.

``ModelSpec`` handling: ``name`` picks the model, ``version`` (absent or 0: newest
available) the version; ``version_label`` and ``signature_name`` are accepted and
ignored, and every output is returned whatever ``output_filter`` asks, as in OVMS.
"""

from __future__ import annotations

from collections.abc import Coroutine
from functools import partial
from typing import Any

import grpc

from ovserve._generated.tensorflow.core.protobuf import error_codes_pb2
from ovserve._generated.tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)
from ovserve.api.context import ServingContext
from ovserve.api.request_path import counted, infer, pinned, served_on
from ovserve.api.tfs import reload
from ovserve.api.tfs.codec_proto import decode_inputs, encode_outputs
from ovserve.api.tfs.metadata import metadata_response, status_proto
from ovserve.api.tfs.wording import tfs_wording
from ovserve.core.servable import Servable
from ovserve.errors import InvalidInput, ReloadIncomplete, Unimplemented
from ovserve.metrics import calls
from ovserve.tensors import InferRequest, InferResponse

MODEL_SPEC_MISSING = "model_spec missing in request"
INVALID_SIGNATURE = "Invalid signature name"


def add_services(server: grpc.aio.Server, ctx: ServingContext) -> None:
    """Register PredictionService and ModelService on ``server``, answering from ``ctx``."""
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionServicer(ctx), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(ctx), server)


def requested_version(model_spec: model_pb2.ModelSpec) -> int | None:
    """The ``ModelSpec`` version; None (newest) when absent or 0."""
    if not model_spec.HasField("version"):
        return None
    return int(model_spec.version.value) or None


def _decode_predict(request: predict_pb2.PredictRequest, servable: Servable) -> InferRequest:
    return InferRequest(decode_inputs(request.inputs, servable.inputs))


def _encode_predict(
    servable: Servable, _request: InferRequest, response: InferResponse
) -> predict_pb2.PredictResponse:
    reply = predict_pb2.PredictResponse()
    reply.model_spec.name = response.model_name
    reply.model_spec.version.value = response.model_version
    encode_outputs(response.outputs, reply.outputs, servable.special_outputs)
    return reply


class PredictionServicer:
    """``tensorflow.serving.PredictionService``: Predict and GetModelMetadata."""

    def __init__(self, ctx: ServingContext) -> None:
        self.ctx = ctx

    def Predict(
        self, request: predict_pb2.PredictRequest, context: grpc.aio.ServicerContext
    ) -> Coroutine[Any, Any, predict_pb2.PredictResponse]:
        """The call's coroutine, which the error wrapper (``api/grpc_server.py``) awaits: not a
        coroutine of its own around it (a layer per request)."""
        spec = request.model_spec
        return infer(
            self.ctx,
            calls.TFS_GRPC_PREDICT,
            spec.name,
            requested_version(spec),
            partial(_decode_predict, request),
            _encode_predict,
            tfs_wording,
        )

    async def GetModelMetadata(
        self, request: get_model_metadata_pb2.GetModelMetadataRequest, context: grpc.aio.ServicerContext
    ) -> get_model_metadata_pb2.GetModelMetadataResponse:
        if not request.HasField("model_spec"):
            raise InvalidInput(MODEL_SPEC_MISSING)
        fields = list(request.metadata_field)
        if fields != ["signature_def"]:
            raise InvalidInput(
                f'{INVALID_SIGNATURE} - metadata_field must be exactly ["signature_def"], got {fields}'
            )
        spec = request.model_spec
        with pinned(self.ctx, calls.TFS_GRPC_METADATA, spec.name, requested_version(spec)) as servable:
            return metadata_response(servable)

    async def Classify(
        self, request: classification_pb2.ClassificationRequest, context: grpc.aio.ServicerContext
    ) -> classification_pb2.ClassificationResponse:
        raise Unimplemented("Classify is not supported by ovserve; use Predict")

    async def Regress(
        self, request: regression_pb2.RegressionRequest, context: grpc.aio.ServicerContext
    ) -> regression_pb2.RegressionResponse:
        raise Unimplemented("Regress is not supported by ovserve; use Predict")

    async def MultiInference(
        self, request: inference_pb2.MultiInferenceRequest, context: grpc.aio.ServicerContext
    ) -> inference_pb2.MultiInferenceResponse:
        raise Unimplemented("MultiInference is not supported by ovserve; use Predict")


class ModelServicer:
    """``tensorflow.serving.ModelService``: GetModelStatus and HandleReloadConfigRequest."""

    def __init__(self, ctx: ServingContext) -> None:
        self.ctx = ctx

    async def GetModelStatus(
        self, request: get_model_status_pb2.GetModelStatusRequest, context: grpc.aio.ServicerContext
    ) -> get_model_status_pb2.GetModelStatusResponse:
        if not request.HasField("model_spec"):
            raise InvalidInput(MODEL_SPEC_MISSING)
        spec = request.model_spec
        with counted(self.ctx, calls.TFS_GRPC_STATUS, spec.name):
            served_on(self.ctx, "TensorFlowServing", spec.name)
            return status_proto(self.ctx.manager.status(spec.name, requested_version(spec)))

    async def HandleReloadConfigRequest(
        self, request: model_management_pb2.ReloadConfigRequest, context: grpc.aio.ServicerContext
    ) -> model_management_pb2.ReloadConfigResponse:
        """Serve exactly the models of ``request.config`` (see :mod:`ovserve.api.tfs.reload`).

        A request without ``config`` is a no-op answering OK, as OVMS's. An invalid list is
        INVALID_ARGUMENT and changes nothing. A valid one is applied; if some of its models
        then have no version serving, or a version that failed to load, the call fails
        UNKNOWN naming them (as TF Serving does when models do not become available).
        """
        control = self.ctx.control
        if control is None:
            raise Unimplemented("HandleReloadConfigRequest is not available on this server")
        if request.HasField("config"):
            models = reload.model_configs(request.config)
            await control.replace_models(models)
            failures = reload.reload_failures(self.ctx.manager, models)
            if failures:
                raise ReloadIncomplete(failures)
        response = model_management_pb2.ReloadConfigResponse()
        response.status.error_code = error_codes_pb2.OK
        return response
