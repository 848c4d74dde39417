"""Errors as OpenAI's clients read them: ``{"error": {"message", "type", "param", "code"}}``.

The HTTP status comes from the one code table (``api.errors.HTTP_STATUS``); this module
adds OpenAI's error ``type`` for each code (one table, checked complete by a unit test).
"""

from __future__ import annotations

from typing import Any

import orjson

from ovserve.api.errors import as_serving_error, http_status
from ovserve.api.http import HttpResponse
from ovserve.api.openai.fields import InvalidField
from ovserve.errors import Code, ModelNotFound, ServingError

#: Code -> OpenAI's error type
ERROR_TYPE: dict[Code, str] = {
    Code.OK: "ok",
    Code.CANCELLED: "cancelled",
    Code.UNKNOWN: "server_error",
    Code.INVALID_ARGUMENT: "invalid_request_error",
    Code.DEADLINE_EXCEEDED: "timeout_error",
    Code.NOT_FOUND: "invalid_request_error",
    Code.ALREADY_EXISTS: "invalid_request_error",
    Code.PERMISSION_DENIED: "permission_error",
    Code.RESOURCE_EXHAUSTED: "rate_limit_error",
    Code.FAILED_PRECONDITION: "invalid_request_error",
    Code.ABORTED: "server_error",
    Code.OUT_OF_RANGE: "invalid_request_error",
    Code.UNIMPLEMENTED: "invalid_request_error",
    Code.INTERNAL: "server_error",
    Code.UNAVAILABLE: "server_error",
    Code.DATA_LOSS: "server_error",
    Code.UNAUTHENTICATED: "authentication_error",
}


def error_object(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """The HTTP status and the ``{"error": {...}}`` document for ``exc``."""
    error: ServingError = as_serving_error(exc)
    param = error.param if isinstance(error, InvalidField) else None
    code = "model_not_found" if isinstance(error, ModelNotFound) else None
    body = {"error": {"message": error.message, "type": ERROR_TYPE[error.code], "param": param, "code": code}}
    return http_status(error), body


def error_response(exc: BaseException) -> HttpResponse:
    status, body = error_object(exc)
    return HttpResponse(status, orjson.dumps(body))
