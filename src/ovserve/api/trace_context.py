"""What the front ends hand the request path for tracing, when tracing is on (see api/tracing.py).

Only context variables: this module imports nothing of OpenTelemetry, so the front ends can
import it whether or not tracing is on. With tracing off nothing here is ever set.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping

#: the incoming headers (REST: lower-case bytes names; gRPC: metadata keys) that may hold a W3C
#: ``traceparent`` / ``tracestate``; set per call by RestApp and the gRPC call-context interceptor
TRACE_HEADERS: contextvars.ContextVar[Mapping[bytes, bytes] | Mapping[str, str] | None] = (
    contextvars.ContextVar("ovserve_trace_headers", default=None)
)
