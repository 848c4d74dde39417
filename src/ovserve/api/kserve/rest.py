"""KServe v2 REST endpoints, mounted on the shared router by :func:`add_routes`.

Handlers are stateless: every model lookup goes through the manager in the
:class:`~ovserve.api.context.ServingContext`, every inference through
:func:`ovserve.api.request_path.infer`, and every error is raised as a
:class:`~ovserve.errors.ServingError` for the one REST exception handler to map.
The only status chosen here is ``/v2/health/ready``'s 503, which is not a request error.
"""

from __future__ import annotations

from typing import cast

from ovserve.api import request_path
from ovserve.api.context import ServingContext
from ovserve.api.http import HttpRequest, HttpResponse, Router, json_response
from ovserve.api.kserve import model_control, triton
from ovserve.api.kserve.codec_json import (
    HEADER_LENGTH,
    RestInferRequest,
    decode_infer_request,
    encode_infer_response,
)
from ovserve.api.kserve.metadata import model_metadata
from ovserve.core.servable import Servable
from ovserve.errors import GraphNotFound
from ovserve.metrics import calls
from ovserve.tensors import InferRequest, InferResponse

#: KServe protocol extensions ovserve implements (reported by server metadata).
EXTENSIONS = ("binary_tensor_data", "model_configuration", "statistics")
OCTET_STREAM = b"application/octet-stream"
LIVE_BODY = b'{"live":true}'
READY_BODY = b'{"ready":true}'


def extensions(ctx: ServingContext) -> list[str]:
    """The protocol extensions this server offers (model control only when it is wired)."""
    return [*EXTENSIONS, model_control.EXTENSION] if ctx.control is not None else list(EXTENSIONS)


class KServeRest:
    """The handlers; one instance per server, holding only the context."""

    def __init__(self, ctx: ServingContext) -> None:
        self.ctx = ctx

    # The Open Inference Protocol's bodies: {"live": true} / {"ready": true} (KServe's own client
    # reads them; tritonclient and probes read only the status). A server that answers is live;
    # not ready is 503.
    async def live(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, LIVE_BODY)

    async def ready(self, request: HttpRequest) -> HttpResponse:
        if self.ctx.state.ready:
            return HttpResponse(200, READY_BODY)
        message = "Server is not ready: the initial model load has not finished, or it is shutting down"
        return json_response({"ready": False, "error": message}, 503)

    async def server_metadata(self, request: HttpRequest) -> HttpResponse:
        return json_response(
            {
                "name": self.ctx.server_name,
                "version": self.ctx.server_version,
                "extensions": extensions(self.ctx),
            }
        )

    async def model_metadata(self, request: HttpRequest) -> HttpResponse:
        name, version = _target(request)
        with request_path.pinned(self.ctx, calls.KSERVE_REST_METADATA, name, version) as servable:
            return json_response(model_metadata(self.ctx, servable))

    async def model_ready(self, request: HttpRequest) -> HttpResponse:
        name, version = _target(request)
        with request_path.pinned(self.ctx, calls.KSERVE_REST_READY, name, version) as servable:
            return json_response({"name": servable.name, "ready": True})

    async def infer(self, request: HttpRequest) -> HttpResponse:
        name, version = _target(request)
        body, header = request.body, request.header(HEADER_LENGTH)

        def decode(servable: Servable) -> InferRequest:
            return decode_infer_request(body, header, servable)

        return await request_path.infer(
            self.ctx, calls.KSERVE_REST_INFER, name, version, decode, _encode, unknown=GraphNotFound
        )


def _target(request: HttpRequest) -> tuple[str, int | None]:
    return request.params["name"], request_path.parse_version(request.params.get("version"))


def _encode(servable: Servable, request: InferRequest, response: InferResponse) -> HttpResponse:
    body, header_length = encode_infer_response(cast(RestInferRequest, request), response)
    if header_length is None:
        return HttpResponse(200, body)
    return HttpResponse(
        200, body, OCTET_STREAM, [(b"inference-header-content-length", str(header_length).encode())]
    )


def add_routes(router: Router, ctx: ServingContext) -> None:
    """Mount the KServe v2 REST endpoints on ``router``."""
    api = KServeRest(ctx)
    triton.add_routes(router, ctx)  # first: GET /v2/models/stats is not model "stats"'s metadata
    router.add("GET", "/v2/health/live", api.live)
    router.add("GET", "/v2/health/ready", api.ready)
    router.add("GET", "/v2", api.server_metadata)
    for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        router.add("GET", prefix, api.model_metadata)
        router.add("GET", prefix + "/ready", api.model_ready)
        router.add("POST", prefix + "/infer", api.infer, cancel_on_disconnect=True)
    model_control.add_routes(router, ctx)
