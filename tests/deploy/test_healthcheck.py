"""The image's HEALTHCHECK script (deploy/image/healthcheck.py) against a real server."""

from __future__ import annotations

import datetime
import http.server
import importlib.util
import ssl
import threading
from collections.abc import Iterator
from types import ModuleType

import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kube import REPO_ROOT
from models import identity, save
from serverproc import HOST, ServerProcess, free_port


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "healthcheck", REPO_ROOT / "deploy" / "image" / "healthcheck.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


healthcheck = _load()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("healthcheck")
    base = save(identity(np.float32, (1, 10)), tmp / "m")
    started = ServerProcess(["--model_name", "m", "--model_path", str(base)], tmp / "log.txt").start()
    yield started
    started.stop()


def test_flags_are_read_in_both_forms() -> None:
    cmdline = b"/opt/ovserve/bin/python\0/opt/ovserve/bin/ovserve\0--rest_port\x008000\0--port=9000\0--metrics_enable\0"
    assert healthcheck.server_flags(cmdline) == {"rest_port": "8000", "port": "9000", "metrics_enable": ""}


def test_bind_addresses_are_reached_locally() -> None:
    assert healthcheck.local_address("0.0.0.0") == "127.0.0.1"
    assert healthcheck.local_address("") == "127.0.0.1"
    assert healthcheck.local_address("::1") == "[::1]"
    assert healthcheck.local_address("10.1.2.3") == "10.1.2.3"


def test_live_server_passes_over_rest_and_grpc(server: ServerProcess) -> None:
    assert healthcheck.rest_live(HOST, str(server.rest_port))[0] is True
    live, detail = healthcheck.grpc_live(HOST, str(server.grpc_port))
    assert live is True, detail


def test_nothing_listening_fails_with_a_reason() -> None:
    port = str(free_port())
    live, detail = healthcheck.rest_live(HOST, port)
    assert live is False and port in detail
    live, detail = healthcheck.grpc_live(HOST, port)
    assert live is False and "UNAVAILABLE" in detail


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """An HTTPS server with a self-signed certificate answering 200 on /v2/health/live."""
    tmp = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ovserve.example")])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
    builder = builder.serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
    cert = builder.sign(key, hashes.SHA256())
    (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )

    class Live(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/v2/health/live" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer((HOST, 0), Live)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield int(httpd.server_address[1])
    httpd.shutdown()
    httpd.server_close()


def test_tls_flags_switch_to_https_or_a_port_check(https_server: int, server: ServerProcess) -> None:
    port = str(https_server)
    tls = {"rest_port": port, "rest_bind_address": HOST, "tls_cert_path": "/etc/ovserve/tls/tls.crt"}
    assert healthcheck.check(tls) == (True, f"https://{HOST}:{port}/v2/health/live: 200")
    assert healthcheck.check({"rest_port": port})[0] is False  # plain HTTP to a TLS port
    mutual = {**tls, "tls_client_ca_path": "/etc/ovserve/tls/ca.crt"}
    assert healthcheck.check(mutual) == (True, f"{HOST}:{port}: accepts connections")
    grpc_tls = {"rest_port": "0", "port": str(server.grpc_port), "tls_cert_path": "x"}
    assert healthcheck.check(grpc_tls)[0] is True


def test_plain_flags_ask_the_server(server: ServerProcess) -> None:
    assert healthcheck.check({"rest_port": str(server.rest_port)}) == (
        True,
        f"http://{HOST}:{server.rest_port}/v2/health/live: 200",
    )
    assert healthcheck.check({"port": str(server.grpc_port)}) == (
        True,
        f"{HOST}:{server.grpc_port}: ServerLive true",
    )
