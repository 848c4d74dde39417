"""CORS: which cross-origin browser calls the REST API answers, from OVMS's four flags.

OVMS adds its flag values verbatim to every response (``Access-Control-Allow-Origin:
a.example,b.example``, which browsers reject when more than one origin is listed). ovserve
keeps the flags and their defaults (every origin, method and header; no credentials) and
answers as the Fetch standard asks (docs/security.md):

- only requests with an ``Origin`` header get CORS headers;
- ``Access-Control-Allow-Origin`` is ``*`` when every origin is allowed and credentials are
  not, otherwise the request's origin when it is listed (with ``Vary: Origin``), else absent;
- a preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) is answered
  200 with the allowed method and headers; ``*`` is answered with what was asked for, since a
  literal ``*`` does not cover ``Authorization`` (the API key) nor anything with credentials;
  a preflight for an origin, method or header that is not allowed is answered 403 with the
  reason;
- an empty ``--allowed_origins`` turns CORS off (no header at all), as in OVMS.
"""

from __future__ import annotations

from dataclasses import dataclass

from ovserve.config.types import CorsConfig

Headers = list[tuple[bytes, bytes]]
#: how long a browser may cache a preflight answer, in seconds
MAX_AGE = b"600"


@dataclass(frozen=True)
class Preflight:
    """The answer to a preflight: 200 with ``headers``, or 403 with ``refusal`` (the reason)."""

    headers: Headers
    refusal: str | None = None


class CorsPolicy:
    """The CORS flags, ready to answer requests; immutable, shared by every request."""

    def __init__(self, config: CorsConfig) -> None:
        self.any_origin = "*" in config.allowed_origins
        self.origins = frozenset(o.encode("latin-1") for o in config.allowed_origins)
        self.any_method = "*" in config.allowed_methods
        self.methods = frozenset(m.upper().encode("latin-1") for m in config.allowed_methods)
        self.any_header = "*" in config.allowed_headers
        self.headers = frozenset(h.lower().encode("latin-1") for h in config.allowed_headers)
        self.credentials = config.allow_credentials
        self.enabled = bool(config.allowed_origins)
        self._wildcard = self.any_origin and not self.credentials

    def allows_origin(self, origin: bytes) -> bool:
        return self.any_origin or origin in self.origins

    def response_headers(self, origin: bytes) -> Headers:
        """Headers for the answer to a request from ``origin`` (none if it is not allowed)."""
        if self._wildcard:
            return [(b"access-control-allow-origin", b"*")]
        if not self.allows_origin(origin):
            return [(b"vary", b"origin")]
        headers = [(b"access-control-allow-origin", origin), (b"vary", b"origin")]
        if self.credentials:
            headers.append((b"access-control-allow-credentials", b"true"))
        return headers

    def preflight(self, origin: bytes, method: bytes, request_headers: bytes | None) -> Preflight:
        """The answer to ``OPTIONS`` with ``Origin: origin`` and ``Access-Control-Request-Method``."""
        if not self.allows_origin(origin):
            return Preflight(
                [(b"vary", b"origin")], f"CORS: origin {origin.decode('latin-1')} is not allowed"
            )
        if not (self.any_method or method.upper() in self.methods):
            return Preflight([], f"CORS: method {method.decode('latin-1')} is not allowed")
        asked = [h.strip().lower() for h in (request_headers or b"").split(b",") if h.strip()]
        refused = [h for h in asked if not (self.any_header or h in self.headers)]
        if refused:
            names = ", ".join(h.decode("latin-1") for h in refused)
            return Preflight([], f"CORS: header {names} is not allowed")
        headers = self.response_headers(origin)
        headers.append(
            (b"access-control-allow-methods", method if self.any_method else _joined(self.methods))
        )
        if asked:
            allowed = b", ".join(asked) if self.any_header else _joined(self.headers)
            headers.append((b"access-control-allow-headers", allowed))
        headers.append((b"access-control-max-age", MAX_AGE))
        return Preflight(headers)


def _joined(items: frozenset[bytes]) -> bytes:
    return b", ".join(sorted(items))
