"""TLS on both ports, with optional client certificates (mTLS), reloaded when the files change.

:class:`CertificateReloader` owns the PEM files of :class:`TlsConfig`. Every TLS handshake,
on either port, first asks it to :meth:`~CertificateReloader.poll`: a ``stat`` of the files
(inode, mtime, size), and only when that changed, a new read. A new certificate, key or CA
bundle is adopted only when it loads (the key must match the certificate) and the files did
not change while they were read; otherwise the one in use stays, a warning says why, and the
next change is tried again. So a new connection sees new files at once, without a timer, and
a half-written rotation is never served. Connections already open keep their session.

- REST (uvicorn): one front :class:`ssl.SSLContext` whose ``sni_callback`` (called by OpenSSL
  on every handshake, with or without SNI) switches the connection to the newest context.
- gRPC: ``grpc.dynamic_ssl_server_credentials``, whose fetcher gRPC calls on every handshake
  (from its own threads: the reloader is locked).
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
from dataclasses import dataclass

import grpc

from ovserve.config.types import TlsConfig

log = logging.getLogger(__name__)

Stamp = tuple[tuple[int, int, int] | None, ...]


@dataclass(frozen=True)
class _Material:
    """One loaded generation of the files: the REST context and the PEM bytes for gRPC."""

    generation: int
    context: ssl.SSLContext
    cert: bytes
    key: bytes
    client_ca: bytes | None


class CertificateReloader:
    """The current certificate material; thread-safe. Raises ``OSError``/``ssl.SSLError`` at start."""

    def __init__(self, config: TlsConfig) -> None:
        self.config = config
        self._paths = [p for p in (config.cert_path, config.key_path, config.client_ca_path) if p is not None]
        self._lock = threading.Lock()
        self._tried = self._stamp()
        self._material = self._load(0)

    @property
    def mutual(self) -> bool:
        return self.config.client_ca_path is not None

    def current(self) -> _Material:
        return self._material

    def poll(self) -> _Material:
        """The newest material, reloading the files first if they changed since the last try."""
        stamp = self._stamp()
        if stamp == self._tried:
            return self._material
        with self._lock:
            if stamp != self._tried:
                self._tried = stamp
                self._reload(stamp)
            return self._material

    def _reload(self, stamp: Stamp) -> None:
        try:
            material = self._load(self._material.generation + 1)
        except (OSError, ssl.SSLError) as exc:
            log.warning("TLS files changed but cannot be loaded (still serving the previous ones): %s", exc)
            return
        if self._stamp() != stamp:  # changed while read: try again at the next handshake
            self._tried = ()
            return
        self._material = material
        log.info("TLS certificate reloaded from %s", self.config.cert_path)

    def _stamp(self) -> Stamp:
        return tuple(_file_stamp(path) for path in self._paths)

    def _load(self, generation: int) -> _Material:
        config = self.config
        with open(config.cert_path, "rb") as cert_file, open(config.key_path, "rb") as key_file:
            cert, key = cert_file.read(), key_file.read()
        client_ca = None
        if config.client_ca_path is not None:
            with open(config.client_ca_path, "rb") as ca_file:
                client_ca = ca_file.read()
        context = server_context(config)
        return _Material(generation, context, cert, key, client_ca)


def _file_stamp(path: str) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_mtime_ns, info.st_size)


def server_context(config: TlsConfig) -> ssl.SSLContext:
    """A server context for ``config``: TLS 1.2+, client certificates required when mTLS."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(config.cert_path, config.key_path)
    if config.client_ca_path is not None:
        context.load_verify_locations(cafile=config.client_ca_path)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def rest_context(reloader: CertificateReloader) -> ssl.SSLContext:
    """The REST server's context: each handshake switches to the newest files' context."""
    front = server_context(reloader.config)

    def on_handshake(connection: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> None:
        connection.context = reloader.poll().context

    front.sni_callback = on_handshake  # type: ignore[assignment]
    return front


def grpc_credentials(reloader: CertificateReloader) -> grpc.ServerCredentials:
    """The gRPC port's credentials: gRPC asks for newer files on each handshake."""
    served = [reloader.current().generation]

    def configuration(material: _Material) -> grpc.ServerCertificateConfiguration:
        return grpc.ssl_server_certificate_configuration([(material.key, material.cert)], material.client_ca)

    def fetch() -> grpc.ServerCertificateConfiguration | None:
        material = reloader.poll()
        if material.generation == served[0]:
            return None
        served[0] = material.generation
        return configuration(material)

    return grpc.dynamic_ssl_server_credentials(
        configuration(reloader.current()), fetch, require_client_authentication=reloader.mutual
    )
