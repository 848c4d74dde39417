"""TLS and mTLS on both ports, with real TLS clients, and certificates reloaded when their files change.

Clients: requests (verify=), tritonclient HTTP (ssl=True) and gRPC (ssl=True), a grpc secure
channel, ovmsclient (tls_config) over gRPC. Certificates are made by tests/certs.py.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import gevent.ssl
import grpc
import numpy as np
import ovmsclient
import pytest
import requests
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from certs import Issued, client_cert, make_ca, server_cert, write_atomic
from cryptography.hazmat.primitives.serialization import Encoding
from models import add_scaled, model_file, reference, save
from serverproc import HOST, ServerProcess, run_cli, wait_for
from tritonclient.grpc import service_pb2, service_pb2_grpc

X = np.arange(8, dtype=np.float32).reshape(2, 4)


class Pki:
    """The test's certificates on disk: ``ca`` signs the server and the good client."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.ca, self.other_ca = make_ca("test CA"), make_ca("unrelated CA")
        self.ca_path = self._write(self.ca, "ca")[0]
        self.other_ca_path = self._write(self.other_ca, "other-ca")[0]
        self.server_cert, self.server_key = self._write(server_cert(self.ca), "server")
        self.client_cert, self.client_key = self._write(client_cert(self.ca), "client")
        self.foreign_cert, self.foreign_key = self._write(client_cert(self.other_ca), "foreign-client")
        self.expired_cert, self.expired_key = self._write(
            client_cert(self.ca, expired=True), "expired-client"
        )

    def _write(self, issued: Issued, stem: str) -> tuple[Path, Path]:
        return issued.write(self.dir, stem)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save(add_scaled(), tmp_path_factory.mktemp("models") / "m")


def _serve(model: Path, log: Path, flags: list[str], client: ssl.SSLContext) -> ServerProcess:
    args = [
        "--model_name",
        "m",
        "--model_path",
        str(model),
        "--plugin_config",
        '{"INFERENCE_PRECISION_HINT": "f32"}',
    ]
    return ServerProcess([*args, *flags], log, tls=client).start()


def _context(pki: Pki, *, client: bool = False, ca: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca or pki.ca_path))
    if client:
        context.load_cert_chain(pki.client_cert, pki.client_key)
    return context


@pytest.fixture(scope="module")
def tls(model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Pki]]:
    """TLS without client certificates; the reload test rewrites its certificate files."""
    pki = Pki(tmp_path_factory.mktemp("pki"))
    flags = ["--tls_cert_path", str(pki.server_cert), "--tls_key_path", str(pki.server_key)]
    proc = _serve(model, tmp_path_factory.mktemp("log") / "tls.log", flags, _context(pki))
    yield proc, pki
    assert proc.stop() == 0, proc.log()


@pytest.fixture(scope="module")
def mtls(model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Pki]]:
    pki = Pki(tmp_path_factory.mktemp("pki"))
    flags = [
        "--tls_cert_path",
        str(pki.server_cert),
        "--tls_key_path",
        str(pki.server_key),
        "--tls_client_ca_path",
        str(pki.ca_path),
    ]
    proc = _serve(model, tmp_path_factory.mktemp("log") / "mtls.log", flags, _context(pki, client=True))
    yield proc, pki
    assert proc.stop() == 0, proc.log()


def expected() -> np.ndarray:
    return X * 2 + 1


def rest_infer(proc: ServerProcess, **tls: object) -> np.ndarray:
    body = {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": X.ravel().tolist()}]}
    answer = requests.post(f"{proc.rest_url}/v2/models/m/infer", json=body, timeout=10, **tls)  # type: ignore[arg-type]
    assert answer.status_code == 200, answer.text
    out = answer.json()["outputs"][0]
    return np.array(out["data"], dtype=np.float32).reshape(out["shape"])


def triton_grpc_infer(client: grpcclient.InferenceServerClient) -> np.ndarray:
    inp = grpcclient.InferInput("x", [2, 4], "FP32")
    inp.set_data_from_numpy(X)
    result = client.infer("m", [inp], client_timeout=10).as_numpy("y")
    assert result is not None
    return result


def triton_http_infer(client: httpclient.InferenceServerClient) -> np.ndarray:
    inp = httpclient.InferInput("x", [2, 4], "FP32")
    inp.set_data_from_numpy(X)
    result = client.infer("m", [inp]).as_numpy("y")
    assert result is not None
    return result


def test_results_match_openvino_in_process(model: Path) -> None:
    np.testing.assert_allclose(reference(model_file(model), {"x": X})["y"], expected(), rtol=1e-6)


# --- TLS ---------------------------------------------------------------------------------------


def test_requests_with_verify(tls: tuple[ServerProcess, Pki]) -> None:
    proc, pki = tls
    np.testing.assert_allclose(rest_infer(proc, verify=str(pki.ca_path)), expected(), rtol=1e-6)
    assert (
        requests.get(f"{proc.rest_url}/v2/health/ready", verify=str(pki.ca_path), timeout=10).status_code
        == 200
    )


def test_tritonclient_http_ssl(tls: tuple[ServerProcess, Pki]) -> None:
    proc, pki = tls
    client = httpclient.InferenceServerClient(
        f"{HOST}:{proc.rest_port}",
        ssl=True,
        ssl_options={"ca_certs": str(pki.ca_path)},
        ssl_context_factory=gevent.ssl.create_default_context,
    )
    try:
        assert client.is_server_ready()
        np.testing.assert_allclose(triton_http_infer(client), expected(), rtol=1e-6)
    finally:
        client.close()


def test_tritonclient_grpc_ssl(tls: tuple[ServerProcess, Pki]) -> None:
    proc, pki = tls
    client = grpcclient.InferenceServerClient(proc.grpc_address, ssl=True, root_certificates=str(pki.ca_path))
    try:
        assert client.is_server_live()
        np.testing.assert_allclose(triton_grpc_infer(client), expected(), rtol=1e-6)
    finally:
        client.close()


def test_ovmsclient_grpc_with_tls(tls: tuple[ServerProcess, Pki]) -> None:
    """ovmsclient 2023.1's REST client always builds http:// URLs, so only its gRPC client can do TLS."""
    proc, pki = tls
    client = ovmsclient.make_grpc_client(proc.grpc_address, tls_config={"server_cert_path": str(pki.ca_path)})
    assert client.get_model_status("m")[1]["state"] == "AVAILABLE"
    np.testing.assert_allclose(client.predict({"x": X}, "m"), expected(), rtol=1e-6)


def _grpc_live(address: str, credentials: grpc.ChannelCredentials | None) -> bool:
    """KServe ServerLive over a fresh channel; raises grpc.RpcError when the channel fails."""
    channel = (
        grpc.insecure_channel(address) if credentials is None else grpc.secure_channel(address, credentials)
    )
    with channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        return bool(stub.ServerLive(service_pb2.ServerLiveRequest(), timeout=10).live)


def test_wrong_ca_fails_on_both_ports(tls: tuple[ServerProcess, Pki]) -> None:
    proc, pki = tls
    with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        requests.get(f"{proc.rest_url}/v2/health/live", verify=str(pki.other_ca_path), timeout=10)
    wrong = grpc.ssl_channel_credentials(pki.other_ca.cert)
    with pytest.raises(grpc.RpcError) as failed:
        _grpc_live(proc.grpc_address, wrong)
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    assert _grpc_live(proc.grpc_address, grpc.ssl_channel_credentials(pki.ca.cert))


def test_plain_text_on_tls_ports_is_refused_and_server_stays_up(tls: tuple[ServerProcess, Pki]) -> None:
    proc, pki = tls
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://{HOST}:{proc.rest_port}/v2/health/live", timeout=10)
    with socket.create_connection((HOST, proc.rest_port), timeout=10) as raw:  # raw bytes: closed, no answer
        raw.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"HTTP/1.1 200" not in _read_until_closed(raw)
    with pytest.raises(grpc.RpcError) as failed:
        _grpc_live(proc.grpc_address, None)
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    assert proc.alive()
    np.testing.assert_allclose(rest_infer(proc, verify=str(pki.ca_path)), expected(), rtol=1e-6)


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


def _served_certificate(port: int, alpn: list[str]) -> bytes:
    """The DER certificate a new TLS connection to ``port`` is shown (not verified here)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(alpn)
    with socket.create_connection((HOST, port), timeout=10) as raw, context.wrap_socket(raw) as tls_socket:
        der = tls_socket.getpeercert(binary_form=True)
    assert der is not None
    return der


def test_certificates_reload_when_files_change(tls: tuple[ServerProcess, Pki]) -> None:
    """An expired certificate is served (and refused by clients), then one from a new CA."""
    proc, pki = tls
    expired = server_cert(pki.ca, expired=True)
    expired.write(pki.dir, "server")  # the server's own file names, replaced atomically
    der = expired.certificate.public_bytes(Encoding.DER)
    wait_for(lambda: _served_certificate(proc.rest_port, ["http/1.1"]) == der, "expired cert on REST")
    wait_for(lambda: _served_certificate(proc.grpc_port, ["h2"]) == der, "expired cert on gRPC")
    with pytest.raises(requests.exceptions.SSLError, match="expired"):
        requests.get(f"{proc.rest_url}/v2/health/live", verify=str(pki.ca_path), timeout=10)
    with pytest.raises(grpc.RpcError) as failed:
        _grpc_live(proc.grpc_address, grpc.ssl_channel_credentials(pki.ca.cert))
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE

    new_ca = make_ca("rotated CA")
    new_ca_path = new_ca.write(pki.dir, "rotated-ca")[0]
    server_cert(new_ca).write(pki.dir, "server")
    wait_for(lambda: _ok(lambda: rest_infer(proc, verify=str(new_ca_path))), "new cert on REST")
    wait_for(
        lambda: _ok(lambda: _grpc_live(proc.grpc_address, grpc.ssl_channel_credentials(new_ca.cert))), "gRPC"
    )
    np.testing.assert_allclose(rest_infer(proc, verify=str(new_ca_path)), expected(), rtol=1e-6)
    client = grpcclient.InferenceServerClient(proc.grpc_address, ssl=True, root_certificates=str(new_ca_path))
    try:
        np.testing.assert_allclose(triton_grpc_infer(client), expected(), rtol=1e-6)
    finally:
        client.close()
    with pytest.raises(requests.exceptions.SSLError):  # the old CA no longer verifies new connections
        requests.get(f"{proc.rest_url}/v2/health/live", verify=str(pki.ca_path), timeout=10)
    # a broken rotation (key of another certificate) is not adopted: the last good one stays
    (pki.dir / "server.key").write_bytes(make_ca().key)
    _served_certificate(proc.rest_port, ["http/1.1"])
    np.testing.assert_allclose(rest_infer(proc, verify=str(new_ca_path)), expected(), rtol=1e-6)
    assert _grpc_live(proc.grpc_address, grpc.ssl_channel_credentials(new_ca.cert))
    assert "cannot be loaded" in proc.log()
    pki.ca, pki.ca_path = new_ca, new_ca_path  # later tests of this module use the rotated CA


def _ok(call: Callable[[], object]) -> bool:
    try:
        call()
    except (requests.exceptions.SSLError, requests.exceptions.ConnectionError, grpc.RpcError):
        return False
    return True


# --- mTLS --------------------------------------------------------------------------------------


def test_mtls_clients_with_certificate(mtls: tuple[ServerProcess, Pki]) -> None:
    proc, pki = mtls
    mine = (str(pki.client_cert), str(pki.client_key))
    np.testing.assert_allclose(rest_infer(proc, verify=str(pki.ca_path), cert=mine), expected(), rtol=1e-6)
    client = grpcclient.InferenceServerClient(
        proc.grpc_address,
        ssl=True,
        root_certificates=str(pki.ca_path),
        private_key=str(pki.client_key),
        certificate_chain=str(pki.client_cert),
    )
    try:
        np.testing.assert_allclose(triton_grpc_infer(client), expected(), rtol=1e-6)
    finally:
        client.close()
    http = httpclient.InferenceServerClient(
        f"{HOST}:{proc.rest_port}",
        ssl=True,
        ssl_options={"ca_certs": str(pki.ca_path), "certfile": mine[0], "keyfile": mine[1]},
    )
    try:
        np.testing.assert_allclose(triton_http_infer(http), expected(), rtol=1e-6)
    finally:
        http.close()
    config = {"server_cert_path": str(pki.ca_path), "client_cert_path": mine[0], "client_key_path": mine[1]}
    np.testing.assert_allclose(
        ovmsclient.make_grpc_client(proc.grpc_address, tls_config=config).predict({"x": X}, "m"),
        expected(),
        rtol=1e-6,
    )


@pytest.mark.parametrize("which", ["none", "foreign", "expired"])
def test_mtls_refuses_missing_foreign_and_expired_client_certificates(
    mtls: tuple[ServerProcess, Pki], which: str
) -> None:
    proc, pki = mtls
    pair = {
        "none": None,
        "foreign": (pki.foreign_cert, pki.foreign_key),
        "expired": (pki.expired_cert, pki.expired_key),
    }
    chosen = pair[which]
    with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
        cert = (str(chosen[0]), str(chosen[1])) if chosen else None
        requests.get(f"{proc.rest_url}/v2/health/live", verify=str(pki.ca_path), cert=cert, timeout=10)
    credentials = grpc.ssl_channel_credentials(
        pki.ca.cert,
        private_key=chosen[1].read_bytes() if chosen else None,
        certificate_chain=chosen[0].read_bytes() if chosen else None,
    )
    with pytest.raises(grpc.RpcError) as failed:
        _grpc_live(proc.grpc_address, credentials)
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    assert proc.alive()
    mine = (str(pki.client_cert), str(pki.client_key))
    np.testing.assert_allclose(rest_infer(proc, verify=str(pki.ca_path), cert=mine), expected(), rtol=1e-6)


def test_mtls_client_ca_reloads_when_its_file_changes(mtls: tuple[ServerProcess, Pki]) -> None:
    """A new client CA is trusted on the next handshake, and an old one no longer is."""
    proc, pki = mtls
    server_ca = write_atomic(pki.dir / "server-ca.crt", pki.ca.cert)  # what clients verify the server with
    new_ca = make_ca("new client CA")
    newcomer = client_cert(new_ca)
    new_pair = [str(p) for p in newcomer.write(pki.dir, "newcomer")]
    old_pair = (str(pki.client_cert), str(pki.client_key))

    def grpc_with(pair: Sequence[str]) -> bool:
        key, chain = Path(pair[1]).read_bytes(), Path(pair[0]).read_bytes()
        credentials = grpc.ssl_channel_credentials(pki.ca.cert, private_key=key, certificate_chain=chain)
        return _grpc_live(proc.grpc_address, credentials)

    def rest_with(pair: Sequence[str]) -> None:
        requests.get(
            f"{proc.rest_url}/v2/health/live", verify=str(server_ca), cert=(pair[0], pair[1]), timeout=10
        )

    assert not _ok(lambda: rest_with(new_pair))
    write_atomic(pki.ca_path, new_ca.cert)  # the server's --tls_client_ca_path: only the new CA
    wait_for(lambda: _ok(lambda: rest_with(new_pair)), "new client CA on REST")
    wait_for(lambda: _ok(lambda: grpc_with(new_pair)), "new client CA on gRPC")
    assert not _ok(lambda: rest_with(old_pair))
    assert not _ok(lambda: grpc_with(old_pair))
    write_atomic(pki.ca_path, pki.ca.cert + new_ca.cert)  # both: the old clients come back
    wait_for(lambda: _ok(lambda: rest_with(old_pair)) and _ok(lambda: grpc_with(old_pair)), "CA bundle")
    assert proc.alive()


def test_bad_tls_files_stop_start_up(tmp_path: Path) -> None:
    ca = make_ca()
    cert, _ = server_cert(ca).write(tmp_path, "server")
    _, other_key = ca.write(tmp_path, "ca")
    args = [
        "--port",
        "9000",
        "--model_name",
        "m",
        "--model_path",
        str(tmp_path),
        "--tls_cert_path",
        str(cert),
    ]
    done = run_cli([*args, "--tls_key_path", str(other_key)])
    assert done.returncode == 64
    assert (
        "--tls_cert_path: cannot load the certificate" in done.stderr and "KEY_VALUES_MISMATCH" in done.stderr
    )
    done = run_cli(args)
    assert (
        done.returncode == 64
        and "--tls_key_path: --tls_cert_path is given without --tls_key_path" in done.stderr
    )
