"""Starting ``ovserve`` as a user does (its CLI, in a subprocess) on free 127.0.0.1 ports."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


def wait_for(
    check: Callable[[], object],
    what: str = "the condition",
    timeout: float = 90.0,
    server: ServerProcess | None = None,
) -> None:
    """Poll ``check`` until it is true. Tests wait for a state, never for a duration: the deadline only
    catches a broken server (and its log's tail, given ``server``, says what it did)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            tail = f"\n{server.log()[-3000:]}" if server is not None else ""
            raise AssertionError(f"not reached within {timeout:g} s: {what}{tail}")
        time.sleep(0.05)


def http_json(
    url: str, body: bytes | None = None, method: str | None = None, timeout: float = 30.0
) -> tuple[int, Any]:
    """One HTTP call (a POST when ``body`` is given, else ``method`` or GET): its status and JSON body,
    ``{}`` when the body is empty; error statuses are answers too."""
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """An ``ovserve`` subprocess; ``start()`` returns once ``/v2/health/ready`` answers 200.

    ``tls``: the client context to reach a REST port that serves TLS (https); ``env``: variables
    added to the server's environment.
    """

    def __init__(
        self,
        args: Sequence[str],
        log_file: Path,
        rest: bool = True,
        *,
        tls: ssl.SSLContext | None = None,
        env: Mapping[str, str] | None = None,
        preexec: Callable[[], None] | None = None,
    ) -> None:
        self.tls = tls
        self.env = dict(env or {})
        self.preexec = preexec  # run in the child before ovserve starts (e.g. a resource limit)
        self.grpc_port = free_port()
        self.rest_port = free_port() if rest else 0
        self.log_file = log_file
        self.args = [
            sys.executable,
            "-m",
            "ovserve",
            *args,
            "--port",
            str(self.grpc_port),
            "--grpc_bind_address",
            HOST,
        ]
        if rest:
            self.args += ["--rest_port", str(self.rest_port), "--rest_bind_address", HOST]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def rest_url(self) -> str:
        return f"{'https' if self.tls is not None else 'http'}://{HOST}:{self.rest_port}"

    @property
    def grpc_address(self) -> str:
        return f"{HOST}:{self.grpc_port}"

    def start(self, timeout: float = 60.0) -> ServerProcess:
        self.start_process()
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ovserve exited with {self.process.returncode}:\n{self.log()}")
            try:
                url = f"{self.rest_url}/v2/health/ready"
                with urllib.request.urlopen(url, timeout=1, context=self.tls) as answer:
                    if answer.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"ovserve did not become ready in {timeout}s:\n{self.log()}")

    def start_process(self) -> None:
        """Spawn ovserve without waiting for it (``start`` waits until it is ready)."""
        self._log = self.log_file.open("wb")
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.env)
        self.process = subprocess.Popen(
            self.args, stdout=self._log, stderr=subprocess.STDOUT, env=env, preexec_fn=self.preexec
        )

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()
        return self.process.returncode


def rss(server: ServerProcess, field: str = "VmRSS") -> int:
    """The server process's resident memory in bytes (``field``: another /proc status line, as VmHWM)."""
    assert server.process is not None
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(field)


def run_cli(
    args: Sequence[str], timeout: float = 60.0, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m ovserve args`` to completion (for start-up errors, --help, --version)."""
    return subprocess.run(
        [sys.executable, "-m", "ovserve", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd
    )
