"""Running ovserve's image with the real Docker engine, as users do, on 127.0.0.1.

The containers use the host's network (the engine here runs without a bridge) and bind both
servers to 127.0.0.1 on free ports, so nothing is reachable from outside this machine. Each
container is removed, by the name this module gave it, when its test ends.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from serverproc import HOST, free_port

DOCKER = os.environ.get("DOCKER", "docker")
IMAGE = os.environ.get("OVSERVE_IMAGE", "ovserve:image-test")
#: the limits users are told to run with (docs/deployment.md)
LIMITS = ("--memory", "1g", "--cpus", "1")


def docker(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


class Container:
    """One detached ovserve container: read-only root, tmpfs /tmp, non-root, limited, host network."""

    def __init__(
        self,
        models: Path,
        server_args: Sequence[str],
        env: dict[str, str] | None = None,
        mounts: Sequence[str] = ("/models",),
        run_args: Sequence[str] = (),
        ports: tuple[int, int] | None = None,
    ) -> None:
        """``models`` is mounted read-only at each of ``mounts``; ``run_args`` go to `docker run`.

        Without ``ports`` the container gets free (gRPC, REST) ports and binds them to 127.0.0.1;
        with them, ``server_args`` must name those ports and addresses itself.
        """
        self.name = f"ovserve-image-test-{uuid.uuid4().hex[:10]}"
        self.models = models
        self.env = env or {}
        self.mounts = list(mounts)
        self.extra_run_args = list(run_args)
        self.server_args = list(server_args)
        if ports is None:
            ports = free_port(), free_port()
            self.server_args += ["--port", str(ports[0]), "--rest_port", str(ports[1])]
            self.server_args += ["--grpc_bind_address", HOST, "--rest_bind_address", HOST]
        self.grpc_port, self.rest_port = ports
        self.started_s = 0.0  # from `docker run` to readiness

    @property
    def rest_url(self) -> str:
        return f"http://{HOST}:{self.rest_port}"

    @property
    def grpc_address(self) -> str:
        return f"{HOST}:{self.grpc_port}"

    def run_args(self) -> list[str]:
        env = [a for name, value in self.env.items() for a in ("-e", f"{name}={value}")]
        volumes = [a for target in self.mounts for a in ("-v", f"{self.models}:{target}:ro")]
        return [
            "run", "-d", "--name", self.name, "--network", "host",
            "--read-only", "--tmpfs", "/tmp", *LIMITS,
            "--health-interval", "2s", "--health-start-period", "30s",
            *volumes, *env, *self.extra_run_args,
            IMAGE, *self.server_args,
        ]  # fmt: skip

    def start(self, timeout: float = 120) -> Container:
        began = time.monotonic()
        docker(*self.run_args())
        deadline = began + timeout
        while time.monotonic() < deadline:
            if not self.inspect()["State"]["Running"]:
                raise RuntimeError(f"the container stopped:\n{self.logs()}")
            if self.http_status("/v2/health/ready") == 200:
                self.started_s = time.monotonic() - began
                return self
            time.sleep(0.1)
        raise RuntimeError(f"not ready in {timeout}s:\n{self.logs()}")

    def http_status(self, path: str) -> int | None:
        try:
            with urllib.request.urlopen(self.rest_url + path, timeout=2) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except (urllib.error.URLError, OSError):
            return None

    def inspect(self) -> dict[str, Any]:
        found: list[dict[str, Any]] = json.loads(docker("inspect", self.name).stdout)
        return found[0]

    def wait_health(self, status: str, timeout: float = 60) -> str:
        """Poll Docker's HEALTHCHECK state until it is ``status`` (or the deadline passes)."""
        deadline = time.monotonic() + timeout
        current = ""
        while time.monotonic() < deadline:
            current = self.inspect()["State"]["Health"]["Status"]
            if current == status:
                break
            time.sleep(0.2)
        return current

    def process_uids(self) -> list[int]:
        """Real, effective, saved and filesystem uid of the container's main process."""
        pid = self.inspect()["State"]["Pid"]
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Uid:"):
                return [int(v) for v in line.split()[1:]]
        raise RuntimeError(f"no Uid line for pid {pid}")

    def signal(self, name: str) -> None:
        docker("kill", "--signal", name, self.name)

    def wait_exit(self, timeout: float = 60) -> int:
        return int(docker("wait", self.name, timeout=timeout).stdout.strip())

    def logs(self) -> str:
        result = docker("logs", self.name, check=False)
        return result.stdout + result.stderr

    def remove(self) -> None:
        docker("rm", "-f", self.name, check=False)
