"""The image's HEALTHCHECK: is the ovserve in this container live?

It reads the server's flags from ``/proc/1/cmdline`` (the container's main process), so it
follows whatever ``--rest_port`` / ``--port`` the container was started with: with REST on it
asks ``GET /v2/health/live``; with REST off it asks the KServe gRPC ``ServerLive``. Exit 0 when
live, 1 otherwise (the one line printed says why); it never waits longer than ``TIMEOUT``.
"""

from __future__ import annotations

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


def rest_live(host: str, port: str) -> tuple[bool, str]:
    url = f"http://{host}:{port}/v2/health/live"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as answer:
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


def main() -> int:
    try:
        flags = server_flags(Path("/proc/1/cmdline").read_bytes())
    except OSError as exc:
        print(f"cannot read the server's flags: {exc}")
        return 1
    rest_port = flags.get("rest_port", "0")
    if rest_port not in ("", "0"):
        live, detail = rest_live(local_address(flags.get("rest_bind_address", "")), rest_port)
    else:
        grpc_bind = local_address(flags.get("grpc_bind_address", ""))
        live, detail = grpc_live(grpc_bind, flags.get("port", "9178"))
    print(detail)
    return 0 if live else 1


if __name__ == "__main__":
    sys.exit(main())
