"""``GET /v3/models`` and ``GET /v3/models/{name}``: the served models as OpenAI lists them (as OVMS)."""

from __future__ import annotations

import time

import orjson

from ovserve.api.context import ServingContext
from ovserve.api.http import HttpResponse
from ovserve.api.openai.errors import error_response
from ovserve.errors import ModelNotFound
from ovserve.genai.types import GenerativeServable


def _model(name: str, created: int) -> dict[str, object]:
    return {"id": name, "object": "model", "created": created, "owned_by": "OVMS"}


def list_models(ctx: ServingContext) -> HttpResponse:
    """Every model with an AVAILABLE version, classic and generative (OVMS lists both)."""
    now = int(time.time())
    names = [name for name in ctx.manager.names() if ctx.manager.is_available(name)]
    return HttpResponse(200, orjson.dumps({"object": "list", "data": [_model(n, now) for n in names]}))


def retrieve_model(ctx: ServingContext, name: str) -> HttpResponse:
    if not ctx.manager.is_available(name):
        return error_response(ModelNotFound(name, "Model not found"))
    return HttpResponse(200, orjson.dumps(_model(name, int(time.time()))))


def is_generative(ctx: ServingContext, name: str) -> bool:
    """Whether ``name`` is served now by a generative version."""
    try:
        with ctx.manager.acquire(name, None) as servable:
            return isinstance(servable, GenerativeServable)
    except Exception:
        return False
