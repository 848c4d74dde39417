"""The image's HEALTHCHECK script (deploy/image/healthcheck.py) against a real server."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from types import ModuleType

import numpy as np
import pytest
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
