"""The OpenAI-compatible API of OVMS 2026.3 (its "V3" API) on the shared router.

Routes, each under ``/v3``, ``/v3/v1`` and ``/v1`` (OVMS accepts all three):

- ``POST .../chat/completions``, ``POST .../completions``  text generation (SSE when ``stream``)
- ``POST .../embeddings``, ``POST .../rerank``               embeddings (OpenAI), rerank (Cohere)
- ``GET  .../models``, ``GET .../models/{name}``             served models, as OpenAI lists them

The overlap with TF Serving: ``GET /v1/models/{name}`` is TF Serving's model status, as
ovserve has always answered it, except for a generative model, which answers OpenAI's
model object (TF Serving never served those). ``/v3/models/{name}`` is always OpenAI's.
"""

from __future__ import annotations

from ovserve.api.context import ServingContext
from ovserve.api.http import Handler, HttpRequest, HttpResponse, Router
from ovserve.api.openai import encoders, generation, models
from ovserve.api.tfs.rest import STATUS_ROUTE

PREFIXES = ("/v3", "/v3/v1", "/v1")


def add_routes(router: Router, ctx: ServingContext, tfs_status: Handler | None = None) -> None:
    """Register the routes; ``tfs_status`` answers ``GET /v1/models/{name}`` for non-generative models."""

    async def chat(request: HttpRequest) -> HttpResponse:
        return await generation.generate(ctx, request.body, chat=True)

    async def completions(request: HttpRequest) -> HttpResponse:
        return await generation.generate(ctx, request.body, chat=False)

    async def embed(request: HttpRequest) -> HttpResponse:
        return await encoders.embeddings(ctx, request.body)

    async def rerank(request: HttpRequest) -> HttpResponse:
        return await encoders.rerank(ctx, request.body)

    async def list_models(request: HttpRequest) -> HttpResponse:
        return models.list_models(ctx)

    async def retrieve(request: HttpRequest) -> HttpResponse:
        return models.retrieve_model(ctx, request.params["name"])

    async def v1_retrieve(request: HttpRequest) -> HttpResponse:
        params = request.params
        tfs = "version" in params or "label" in params
        if tfs_status is None or (not tfs and models.is_generative(ctx, params["name"])):
            return models.retrieve_model(ctx, request.params["name"])
        return await tfs_status(request)

    for prefix in PREFIXES:
        router.add("POST", f"{prefix}/chat/completions", chat, cancel_on_disconnect=True)
        router.add("POST", f"{prefix}/completions", completions, cancel_on_disconnect=True)
        router.add("POST", f"{prefix}/embeddings", embed, cancel_on_disconnect=True)
        router.add("POST", f"{prefix}/rerank", rerank, cancel_on_disconnect=True)
        router.add("GET", f"{prefix}/models", list_models)
        if prefix != "/v1":
            router.add("GET", f"{prefix}/models/{{name}}", retrieve)
    # the same pattern as TF Serving's status route, so this handler takes its place for GET
    router.add("GET", STATUS_ROUTE, v1_retrieve)


__all__ = ["PREFIXES", "add_routes"]
