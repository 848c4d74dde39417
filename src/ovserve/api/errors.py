"""The one table from error codes to HTTP statuses, and the one to gRPC statuses.

Applied by the single REST exception handler (``ovserve.api.http``) and the gRPC error
wrapper that ``ovserve.api.grpc_server`` puts around every method as it is added; never by a
handler or servicer itself.
"""

from __future__ import annotations

import logging

import grpc

from ovserve.errors import (
    Code,
    DemultiplexerNoResults,
    GraphNotLoadedYet,
    GraphRetired,
    InternalError,
    MaxSequenceNumberReached,
    ServingError,
)

log = logging.getLogger(__name__)

#: Code -> HTTP status. UNAVAILABLE is 404 because OVMS answers "Model with requested
#: version is not loaded yet" with 404 (see docs/architecture.md).
HTTP_STATUS: dict[Code, int] = {
    Code.OK: 200,
    Code.CANCELLED: 499,
    Code.UNKNOWN: 500,
    Code.INVALID_ARGUMENT: 400,
    Code.DEADLINE_EXCEEDED: 504,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.PERMISSION_DENIED: 403,
    Code.RESOURCE_EXHAUSTED: 429,
    Code.FAILED_PRECONDITION: 412,
    Code.ABORTED: 409,
    Code.OUT_OF_RANGE: 400,
    Code.UNIMPLEMENTED: 501,
    Code.INTERNAL: 500,
    Code.UNAVAILABLE: 404,
    Code.DATA_LOSS: 500,
    Code.UNAUTHENTICATED: 401,
}

#: Errors whose HTTP status is not their code's: OVMS answers a full stateful model with 503
#: (UNAVAILABLE is 404 above, for "not loaded yet").
HTTP_STATUS_BY_ERROR: dict[type[ServingError], int] = {
    MaxSequenceNumberReached: 503,
    DemultiplexerNoResults: 204,  # OVMS: a pipeline's dynamic demultiplexer gave no items (gRPC ABORTED)
    # OVMS's HTTP table lists neither graph text, so both fall back to 500 (gRPC: UNAVAILABLE, NOT_FOUND)
    GraphNotLoadedYet: 500,
    GraphRetired: 500,
}

#: Code -> gRPC status code.
GRPC_STATUS: dict[Code, grpc.StatusCode] = {code: getattr(grpc.StatusCode, code.name) for code in Code}

INTERNAL_MESSAGE = "Internal server error"


def http_status(error: ServingError) -> int:
    return HTTP_STATUS_BY_ERROR.get(type(error)) or HTTP_STATUS[error.code]


def grpc_status(error: ServingError) -> grpc.StatusCode:
    return GRPC_STATUS[error.code]


def as_serving_error(exc: BaseException) -> ServingError:
    """A ServingError as is; anything else becomes INTERNAL with a generic text (detail to the log)."""
    if isinstance(exc, ServingError):
        return exc
    log.error("unexpected error while serving a request", exc_info=exc)
    return InternalError(INTERNAL_MESSAGE)
