"""TF Serving's REST API (``/v1/models/...``) on the shared router.

Routes (``/labels/{label}`` may stand where ``/versions/{v}`` does; the label is ignored
and the newest version answers):

- ``GET  /v1/models/{m}[/versions/{v}]``            status of every version, or of one
- ``GET  /v1/models/{m}[/versions/{v}]/metadata``   signature of the version (newest by default)
- ``POST /v1/models/{m}[/versions/{v}]:predict``    inference, row or column JSON
- ``POST ...:classify`` / ``...:regress``           404, as OVMS

Handlers are stateless: they resolve through the manager and raise ``ServingError``;
the REST app's single exception handler turns errors into ``{"error": ...}``.
"""

from __future__ import annotations

from ovserve.api.context import ServingContext
from ovserve.api.http import HttpRequest, HttpResponse, Router, json_response
from ovserve.api.request_path import counted, infer, pinned, served_on
from ovserve.api.tfs import codec_json
from ovserve.api.tfs.metadata import metadata_json, status_json
from ovserve.api.tfs.wording import tfs_wording
from ovserve.core.servable import Servable
from ovserve.errors import MethodNotSupported, VersionNotFound
from ovserve.metrics import calls
from ovserve.tensors import InferRequest, InferResponse

INT64_MAX = 2**63 - 1

_MODEL = r"^/v1/models/(?P<name>[^/]+?)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
PREDICT_ROUTE = _MODEL + r":predict$"
UNSUPPORTED_ROUTE = _MODEL + r":(?P<method>classify|regress)$"
METADATA_ROUTE = _MODEL + r"/metadata/?$"
STATUS_ROUTE = _MODEL + r"/?$"

NOT_FOUND_TEXT = "Requested REST resource not found"


def add_routes(router: Router, ctx: ServingContext) -> None:
    """Register the TF Serving REST routes, answering from ``ctx``."""
    api = TfsRestApi(ctx)
    # predict/classify first: a GET on ".../m:predict" must hit them (406), not status.
    router.add("POST", PREDICT_ROUTE, api.predict, cancel_on_disconnect=True)
    router.add("POST", UNSUPPORTED_ROUTE, api.unsupported)
    router.add("GET", METADATA_ROUTE, api.metadata)
    router.add("GET", STATUS_ROUTE, api.status)


def requested_version(params: dict[str, str]) -> int | None:
    """The version in the URL; None for none, 0 or a label. Past int64 it cannot exist."""
    text = params.get("version")
    if text is None:
        return None
    version = int(text)
    if version > INT64_MAX:
        raise VersionNotFound(params["name"], version)
    return version or None


class TfsRestApi:
    """The route handlers; holds only the context."""

    def __init__(self, ctx: ServingContext) -> None:
        self.ctx = ctx

    async def status(self, request: HttpRequest) -> HttpResponse:
        params = request.params
        with counted(self.ctx, calls.TFS_REST_STATUS, params["name"]):
            served_on(self.ctx, "TensorFlowServing", params["name"])
            statuses = self.ctx.manager.status(params["name"], requested_version(params))
        return json_response(status_json(statuses))

    async def metadata(self, request: HttpRequest) -> HttpResponse:
        params = request.params
        with pinned(self.ctx, calls.TFS_REST_METADATA, params["name"], requested_version(params)) as servable:
            return json_response(metadata_json(servable))

    async def predict(self, request: HttpRequest) -> HttpResponse:
        params = request.params
        row = False

        def decode(servable: Servable) -> InferRequest:
            nonlocal row
            decoded, row = codec_json.decode_predict(request.body, servable)
            return decoded

        def encode(_servable: Servable, _request: InferRequest, response: InferResponse) -> HttpResponse:
            return HttpResponse(200, codec_json.encode_predict(response.outputs, row))

        return await infer(
            self.ctx,
            calls.TFS_REST_PREDICT,
            params["name"],
            requested_version(params),
            decode,
            encode,
            tfs_wording,
        )

    async def unsupported(self, request: HttpRequest) -> HttpResponse:
        raise MethodNotSupported(
            f"{NOT_FOUND_TEXT} - :{request.params['method']} is not supported, use :predict"
        )
