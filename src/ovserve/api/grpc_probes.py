"""The gRPC port's standard services besides the APIs: health (``grpc.health.v1``) and reflection."""

from __future__ import annotations

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ovserve._generated.kserve import grpc_predict_v2_pb2
from ovserve._generated.tensorflow_serving.apis import model_service_pb2, prediction_service_pb2
from ovserve.api import reflection
from ovserve.api.context import ServingContext
from ovserve.api.health import HealthServicer


def api_services() -> list[ServiceDescriptor]:
    """The inference APIs served on the gRPC port (KServe v2, TF Serving)."""
    return [
        grpc_predict_v2_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"],
        prediction_service_pb2.DESCRIPTOR.services_by_name["PredictionService"],
        model_service_pb2.DESCRIPTOR.services_by_name["ModelService"],
    ]


def add_services(server: grpc.aio.Server, ctx: ServingContext) -> HealthServicer:
    """Add the health service and reflection (describing the APIs and health) to ``server``."""
    apis = api_services()
    health = HealthServicer(ctx, [service.full_name for service in apis])
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable(server, [*apis, health_pb2.DESCRIPTOR.services_by_name["Health"]])
    return health
