"""``/embeddings`` (OpenAI's format) and ``/rerank`` (Cohere's format, as OVMS answers it)."""

from __future__ import annotations

import base64
from collections.abc import Awaitable
from typing import Any, TypeVar

import numpy as np
import orjson

from ovserve.api.context import ServingContext
from ovserve.api.http import HttpResponse
from ovserve.api.openai.errors import error_response
from ovserve.api.openai.fields import Body, InvalidField
from ovserve.api.openai.metering import Meter
from ovserve.errors import Code, ServingError
from ovserve.genai.types import EmbeddingsServable, NotGenerative, RerankServable

T = TypeVar("T")


async def embeddings(ctx: ServingContext, raw: bytes) -> HttpResponse:
    try:
        body = Body(raw)
        model = body.string("model", required=True)
        assert model is not None
        texts = _inputs(body)
        encoding = body.string("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            raise InvalidField("encoding_format", "encoding_format must be float or base64")
        with ctx.manager.acquire(model, None) as servable:
            if not isinstance(servable, EmbeddingsServable):
                raise NotGenerative(f"Model {model} does not serve embeddings; it serves {_task(servable)}")
            result = await _metered(Meter(ctx, model, "Unary"), servable.embed(texts))
    except Exception as exc:
        return error_response(exc)
    data = [
        {"object": "embedding", "index": i, "embedding": _encode(vector, encoding)}
        for i, vector in enumerate(result.vectors)
    ]
    usage = {"prompt_tokens": result.prompt_tokens, "total_tokens": result.prompt_tokens}
    document = {"object": "list", "data": data, "model": model, "usage": usage}
    return HttpResponse(200, orjson.dumps(document))


def _inputs(body: Body) -> list[str]:
    raw = body.raw("input")
    if raw is None:
        raise InvalidField("input", "The field 'input' is required")
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(text, str) for text in raw):
        return raw
    raise InvalidField("input", "The field 'input' must be a string or a non-empty array of strings")


def _encode(vector: np.ndarray, encoding: str) -> Any:
    if encoding == "base64":
        return base64.b64encode(np.ascontiguousarray(vector, dtype="<f4").tobytes()).decode()
    return vector.tolist()


async def rerank(ctx: ServingContext, raw: bytes) -> HttpResponse:
    try:
        body = Body(raw)
        model = body.string("model", required=True)
        query = body.string("query", required=True)
        assert model is not None and query is not None
        documents = _documents(body)
        top_n = body.integer("top_n", minimum=0)
        return_documents = bool(body.boolean("return_documents"))
        with ctx.manager.acquire(model, None) as servable:
            if not isinstance(servable, RerankServable):
                raise NotGenerative(f"Model {model} does not serve rerank; it serves {_task(servable)}")
            result = await _metered(Meter(ctx, model, "Unary"), servable.rerank(query, documents))
    except Exception as exc:
        return error_response(exc)
    order = sorted(range(len(documents)), key=lambda i: -result.scores[i])
    if top_n is not None:
        order = order[:top_n]
    results = []
    for index in order:
        item: dict[str, Any] = {"index": index, "relevance_score": result.scores[index]}
        if return_documents:
            item["document"] = {"text": documents[index]}
        results.append(item)
    usage = {"prompt_tokens": result.prompt_tokens, "total_tokens": result.prompt_tokens}
    return HttpResponse(200, orjson.dumps({"results": results, "usage": usage}))


def _documents(body: Body) -> list[str]:
    raw = body.raw("documents")
    if raw is None:
        raise InvalidField("documents", "documents field is missing in request")
    if not isinstance(raw, list):
        raise InvalidField("documents", "documents is not an array")
    if not all(isinstance(document, str) for document in raw):
        raise InvalidField("documents", "documents array element is not a string (objects are not supported)")
    return raw


async def _metered(meter: Meter, call: Awaitable[T]) -> T:
    """Count one embeddings or rerank call: accepted with its tokens and answered, or rejected."""
    try:
        result = await call
    except ServingError as exc:
        if exc.code is Code.INVALID_ARGUMENT:  # the request does not fit the model
            meter.rejected()
        else:
            meter.accepted(0)
            meter.ended(False)
        raise
    except BaseException:
        meter.accepted(0)
        meter.ended(False)
        raise
    meter.accepted(getattr(result, "prompt_tokens", 0))
    meter.response()
    meter.ended(True)
    return result


def _task(servable: object) -> str:
    return getattr(servable, "task", "") or "classic inference (KServe / TF Serving)"
