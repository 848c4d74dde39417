"""OVMS's config endpoints: ``POST /v1/config/reload`` and ``GET /v1/config``.

Both answer with every served model's status document, keyed by model name (sorted).
A reload answers 201 when it loaded or retired anything and 200 when nothing changed;
a refused config.json answers with the error, and the running config keeps serving.
"""

from __future__ import annotations

from typing import Any

from ovserve.api.context import ServingContext
from ovserve.api.errors import http_status
from ovserve.api.http import HttpRequest, HttpResponse, Router, error_response, json_response
from ovserve.api.tfs.metadata import status_json
from ovserve.errors import Unimplemented


def add_routes(router: Router, ctx: ServingContext) -> None:
    async def reload(request: HttpRequest) -> HttpResponse:
        if ctx.reload is None:
            raise Unimplemented("config reload is not available on this server")
        outcome = await ctx.reload()
        if outcome.error is not None:
            return error_response(http_status(outcome.error), outcome.error.message)
        return json_response(all_statuses(ctx), 201 if outcome.changed else 200)

    async def show(request: HttpRequest) -> HttpResponse:
        return json_response(all_statuses(ctx))

    router.add("POST", "/v1/config/reload", reload)
    router.add("GET", "/v1/config", show)


def all_statuses(ctx: ServingContext) -> dict[str, Any]:
    manager = ctx.manager
    return {name: status_json(manager.status(name)) for name in manager.names()}
