"""What :class:`SecurityConfig` asks of the two servers, in one place for the composition root.

TLS (``api.tls``), the API key (``api.auth``: a gRPC interceptor; ``api.rest_guard``: an ASGI
layer) and CORS (``api.cors``, REST only). See docs/security.md.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from typing import Any

from grpc import aio

from ovserve.api.auth import ApiKey, ApiKeyInterceptor
from ovserve.api.cors import CorsPolicy
from ovserve.api.rest_guard import Asgi, RestGuard
from ovserve.api.tls import CertificateReloader, grpc_credentials, rest_context
from ovserve.config.types import SecurityConfig
from ovserve.errors import StartupError

log = logging.getLogger(__name__)


class ServerSecurity:
    """The security pieces built once per server process from ``config``."""

    def __init__(self, config: SecurityConfig) -> None:
        self.api_key = ApiKey(config.api_key) if config.api_key is not None else None
        self.cors = CorsPolicy(config.cors)
        self.tls: CertificateReloader | None = None
        if config.tls is not None:
            try:
                self.tls = CertificateReloader(config.tls)
            except (OSError, ssl.SSLError) as exc:
                raise StartupError(
                    f"TLS: cannot load {config.tls.cert_path} / {config.tls.key_path}: {exc}"
                ) from exc
        if self.api_key is None:
            log.info(
                "API key not provided via --api_key_file or API_KEY environment variable: no key asked for"
            )
        else:
            log.info("API key required on every endpoint but health")

    def grpc_interceptors(self) -> list[aio.ServerInterceptor]:
        """Interceptors to run before every other: the API key check."""
        return [ApiKeyInterceptor(self.api_key)] if self.api_key is not None else []

    def add_grpc_port(self, server: aio.Server, address: str) -> int:
        """Bind ``address`` with TLS when configured; the port bound (0: failed)."""
        if self.tls is None:
            return int(server.add_insecure_port(address))
        return int(server.add_secure_port(address, grpc_credentials(self.tls)))

    def rest_app(self, app: Asgi) -> Asgi:
        """``app`` behind the CORS / API key guard (always: it also answers ``OPTIONS`` as OVMS does)."""
        return RestGuard(app, self.cors, self.api_key)

    def rest_ssl_factory(self) -> Callable[[Any, Any], ssl.SSLContext] | None:
        """uvicorn's ``ssl_context_factory`` for TLS on the REST port (None: plain HTTP)."""
        reloader = self.tls
        if reloader is None:
            return None
        return lambda _config, _default: rest_context(reloader)

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"
