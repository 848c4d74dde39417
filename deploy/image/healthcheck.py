"""The image's HEALTHCHECK: is the ovserve in this container live?

It reads the server's flags from ``/proc/1/cmdline`` (the container's main process), so it
follows whatever ``--rest_port`` / ``--port`` the container was started with: with REST on it
asks ``GET /v2/health/live`` (over HTTPS, certificate unchecked, with ``--tls_cert_path``);
with REST off it asks the KServe gRPC ``ServerLive``. Where the server wants client
certificates (``--tls_client_ca_path``), or for gRPC with TLS, it only checks that the port
accepts connections. Exit 0 when live, 1 otherwise (the one line printed says why); it never
waits longer than ``TIMEOUT``.
"""

from __future__ import annotations

import socket
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path

TIMEOUT = 3.0
ANY_ADDRESS = {"", "0.0.0.0", "::", "[::]"}
LIVE_REPLY = b"\x08\x01"  # ServerLiveResponse{live: true}


def server_flags(cmdline: bytes) -> dict[str, str]:
    """``--name value`` and ``--name=value`` pairs of a NUL-separated command line."""
    args = [a.decode(errors="replace") for a in cmdline.split(b"\0") if a]
    flags: dict[str, str] = {}
    for i, arg in enumerate(args):
        if not arg.startswith("--"):
            continue
        name, sep, value = arg[2:].partition("=")
        if not sep:
            following = args[i + 1] if i + 1 < len(args) else ""
            value = "" if following.startswith("--") else following
        flags[name] = value
    return flags


def local_address(bind: str) -> str:
    """Where to reach a server bound to ``bind`` from inside its own network namespace."""
    if bind in ANY_ADDRESS:
        return "127.0.0.1"
    return f"[{bind}]" if ":" in bind and not bind.startswith("[") else bind


def rest_live(host: str, port: str, tls: bool = False) -> tuple[bool, str]:
    url = f"{'https' if tls else 'http'}://{host}:{port}/v2/health/live"
    context = None
    if tls:  # the server's own port on this host: whose certificate it is does not matter here
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT, context=context) as answer:
            return answer.status == 200, f"{url}: {answer.status}"
    except (urllib.error.URLError, OSError) as exc:
        return False, f"{url}: {exc}"


def grpc_live(host: str, port: str) -> tuple[bool, str]:
    import grpc  # the image's own grpcio; only needed when REST is off

    target = f"{host}:{port}"
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary("/inference.GRPCInferenceService/ServerLive")
        try:
            reply: bytes = call(b"", timeout=TIMEOUT)  # ServerLiveRequest is empty
        except grpc.RpcError as exc:
            return False, f"{target}: {exc.code().name}"
    live = reply == LIVE_REPLY
    return live, f"{target}: ServerLive {str(live).lower()}"


def port_open(host: str, port: str) -> tuple[bool, str]:
    target = f"{host}:{port}"
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=TIMEOUT):
            return True, f"{target}: accepts connections"
    except OSError as exc:
        return False, f"{target}: {exc}"


def check(flags: dict[str, str]) -> tuple[bool, str]:
    """Is the server started with ``flags`` live, as far as this container can tell?"""
    tls = bool(flags.get("tls_cert_path"))
    client_certificates = bool(flags.get("tls_client_ca_path"))
    rest_port = flags.get("rest_port", "0")
    if rest_port not in ("", "0"):
        host = local_address(flags.get("rest_bind_address", ""))
        return port_open(host, rest_port) if client_certificates else rest_live(host, rest_port, tls)
    host, port = local_address(flags.get("grpc_bind_address", "")), flags.get("port", "9178")
    return port_open(host, port) if tls else grpc_live(host, port)


def main() -> int:
    try:
        flags = server_flags(Path("/proc/1/cmdline").read_bytes())
    except OSError as exc:
        print(f"cannot read the server's flags: {exc}")
        return 1
    live, detail = check(flags)
    print(detail)
    return 0 if live else 1


if __name__ == "__main__":
    sys.exit(main())
