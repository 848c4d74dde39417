"""The stateful models (``stateful_clients.MODELS``) and a server of them, for test_stateful.py and
test_stateful_errors.py: module-scoped, so each of the two modules has a server of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import prediction_service_pb2_grpc
from serverproc import ServerProcess
from stateful_clients import MODELS, config_doc
from stateful_models import save


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("stateful")
    return {name: save(builder(), root / name) for name, (builder, _) in MODELS.items()}


@pytest.fixture(scope="module")
def config_path(paths: dict[str, Path]) -> Path:
    path = next(iter(paths.values())).parent / "config.json"
    path.write_text(config_doc(paths))
    return path


@pytest.fixture(scope="module")
def server(config_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    args = ["--config_path", str(config_path), "--file_system_poll_wait_seconds", "0"]
    args += ["--sequence_cleaner_poll_wait_seconds", "1"]
    proc = ServerProcess(args, tmp_path_factory.mktemp("log") / "ovserve.log").start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def stub(server: ServerProcess) -> Iterator[Any]:
    with grpc.insecure_channel(server.grpc_address) as channel:
        yield prediction_service_pb2_grpc.PredictionServiceStub(channel)
