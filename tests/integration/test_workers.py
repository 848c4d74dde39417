"""Several serving processes (``--rest_workers 2``) behind one pair of ports, from the CLI.

Each check opens fresh connections, so the kernel hands them to either worker: answers
are compared with in-process OpenVINO, model control must reach every worker before it
answers, ``/metrics`` must add up every worker's counts, and the supervisor must keep
the server serving when a worker dies and drain them all on SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from bursts import start_burst
from gates import Gates
from models import add_scaled, model_file, reference, save, small_cnn, write_config
from prometheus_client.parser import text_string_to_metric_families
from serverproc import HOST, ServerProcess, free_port, run_cli, wait_for

X = np.arange(8, dtype=np.float32).reshape(2, 4)
CONNECTIONS = 24  # fresh connections per check: both workers get some of them


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            state, ppid = stat.rsplit(")", 1)[1].split()[:2]
            if int(ppid) == pid and state != "Z":  # a zombie is a worker that exited, not yet reaped
                found.append(int(entry))
    return sorted(found)


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def post(url: str, body: bytes = b"{}") -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST")) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def ready_everywhere(server: ServerProcess, name: str) -> list[bool]:
    """Readiness of ``name`` seen from fresh REST connections."""
    answers = []
    for _ in range(CONNECTIONS):
        client = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
        try:
            answers.append(client.is_model_ready(name))
        finally:
            client.close()
    return answers


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("workers")
    return {"dynamic": save(add_scaled(), root / "dynamic"), "cnn": save(small_cnn(), root / "cnn")}


@pytest.fixture(scope="module")
def server(repo: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    config = write_config(tmp_path_factory.mktemp("cfg") / "config.json", repo)
    proc = ServerProcess(
        [
            "--config_path",
            str(config),
            "--rest_workers",
            "2",
            "--metrics_enable",
            "--file_system_poll_wait_seconds",
            "0",
        ],
        tmp_path_factory.mktemp("log") / "ovserve.log",
    )
    proc.start()
    wait_for(lambda: "all 2 workers ready" in proc.log(), what="both workers ready")
    yield proc
    assert proc.stop() == 0, proc.log()


def supervisor_pid(server: ServerProcess) -> int:
    assert server.process is not None
    return server.process.pid


def test_two_worker_processes_serve_both_ports_with_correct_answers(
    server: ServerProcess, repo: dict[str, Path]
) -> None:
    workers = children(supervisor_pid(server))
    assert len(workers) == 2
    before = {pid: cpu_ticks(pid) for pid in workers}
    expected = reference(model_file(repo["dynamic"]), {"x": X})["y"]
    for _ in range(CONNECTIONS):
        http = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
        grpc_client = grpcclient.InferenceServerClient(server.grpc_address)
        try:
            for module, client in ((httpclient, http), (grpcclient, grpc_client)):
                tensor = module.InferInput("x", list(X.shape), "FP32")
                tensor.set_data_from_numpy(X)
                for _ in range(10):
                    got = client.infer("dynamic", [tensor]).as_numpy("y")
                    np.testing.assert_allclose(got, expected, rtol=1e-6)
        finally:
            http.close()
            grpc_client.close()
    # both workers took part
    assert all(cpu_ticks(pid) > before[pid] for pid in workers), "one worker served nothing"


def test_metrics_add_up_every_worker(server: ServerProcess) -> None:
    def count() -> float:
        with urllib.request.urlopen(f"{server.rest_url}/metrics") as answer:
            text = answer.read().decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = sample.labels
                if (
                    sample.name == "ovms_requests_success_total"
                    and labels.get("name") == "cnn"
                    and labels.get("interface") == "REST"
                    and labels.get("method") == "ModelInfer"
                ):
                    return sample.value
        return 0.0

    start = count()
    image = np.zeros((1, 3, 32, 32), np.float32)
    for _ in range(CONNECTIONS):
        client = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
        try:
            tensor = httpclient.InferInput("image", list(image.shape), "FP32")
            tensor.set_data_from_numpy(image)
            client.infer("cnn", [tensor])
        finally:
            client.close()
    # every scrape (whichever worker takes it) sees all of them
    assert [count() - start for _ in range(6)] == [CONNECTIONS] * 6


def test_model_control_reaches_every_worker_before_it_answers(server: ServerProcess) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_address)
    try:
        client.unload_model("cnn")
        assert ready_everywhere(server, "cnn") == [False] * CONNECTIONS
        client.load_model("cnn")
        assert ready_everywhere(server, "cnn") == [True] * CONNECTIONS
    finally:
        client.close()


def test_config_reload_reaches_every_worker(
    server: ServerProcess, repo: dict[str, Path], tmp_path: Path
) -> None:
    config = Path(server.args[server.args.index("--config_path") + 1])
    original = config.read_text()
    extra = save(add_scaled(scale=5.0), tmp_path / "five")
    try:
        write_config(config, {**repo, "five": extra})
        status, body = post(f"{server.rest_url}/v1/config/reload")
        assert status == 201, body
        assert ready_everywhere(server, "five") == [True] * CONNECTIONS
        expected = reference(model_file(extra), {"x": X})["y"]
        for _ in range(CONNECTIONS):
            http = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
            try:
                tensor = httpclient.InferInput("x", list(X.shape), "FP32")
                tensor.set_data_from_numpy(X)
                np.testing.assert_allclose(http.infer("five", [tensor]).as_numpy("y"), expected, rtol=1e-6)
            finally:
                http.close()
    finally:
        config.write_text(original)
        assert post(f"{server.rest_url}/v1/config/reload")[0] == 201
    assert not any(ready_everywhere(server, "five"))


def test_a_worker_that_dies_is_replaced_and_the_server_keeps_serving(server: ServerProcess) -> None:
    victim, survivor = children(supervisor_pid(server))
    os.kill(victim, signal.SIGKILL)
    # the other worker takes every new connection meanwhile
    for _ in range(CONNECTIONS):
        client = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
        try:
            assert client.is_server_live()
        finally:
            client.close()
    wait_for(lambda: set(children(supervisor_pid(server))) - {victim, survivor}, what="a new worker process")
    assert survivor in children(supervisor_pid(server))
    wait_for(lambda: server.log().count("all 2 workers ready") >= 2, what="the new worker ready")
    assert ready_everywhere(server, "dynamic") == [True] * CONNECTIONS


def start_workers(args: list[str], log: Path) -> tuple[ServerProcess, list[int]]:
    """A 2-worker server from ``args``; returns it once both workers are ready, with their pids."""
    proc = ServerProcess(args, log).start()
    wait_for(lambda: "all 2 workers ready" in proc.log(), what="both workers ready")
    return proc, children(supervisor_pid(proc))


def test_sigterm_during_a_burst_of_requests_in_flight_drops_none_and_exits_0(tmp_path: Path) -> None:
    base = save(add_scaled(), tmp_path / "slow")
    gates = Gates(tmp_path / "gates")  # holds every call in flight until after the signal
    plugin = '{"INFERENCE_PRECISION_HINT": "f32", "NUM_STREAMS": "1"}'
    args = [
        "--model_name",
        "slow",
        "--model_path",
        str(base),
        "--grpc_workers",
        "2",
        "--plugin_config",
        plugin,
    ]
    proc = ServerProcess(args, tmp_path / "ovserve.log", env=gates.env).start()
    wait_for(lambda: "all 2 workers ready" in proc.log(), what="both workers ready")
    workers = children(supervisor_pid(proc))
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    expected = reference(model_file(base), {"x": x})["y"]
    gates.close("infer", "slow")
    burst = start_burst(proc, "slow", x, 12)
    gates.wait_held("infer", "slow", 12)  # in flight in the workers (REST calls too: the REST port is theirs)
    assert proc.process is not None
    proc.process.send_signal(signal.SIGTERM)
    wait_for(lambda: "SIGTERM received" in proc.log(), what="the signal handled")
    gates.open("infer", "slow")
    burst.join()
    assert proc.process.wait(60) == 0, proc.log()
    assert burst.errors == []
    assert len(burst.results) == 12
    for result in burst.results:
        np.testing.assert_allclose(result, expected, rtol=1e-6)
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    proc.stop()


def test_workers_stop_when_the_supervisor_is_killed(repo: dict[str, Path], tmp_path: Path) -> None:
    proc, workers = start_workers(
        ["--model_name", "dynamic", "--model_path", str(repo["dynamic"]), "--rest_workers", "2"],
        tmp_path / "ovserve.log",
    )
    assert proc.process is not None
    proc.process.kill()
    proc.process.wait(10)
    wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), "the workers to exit", 30)
    proc.stop()


def test_a_taken_port_stops_a_multi_process_server_with_exit_64(repo: dict[str, Path]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(
            [
                "--model_name",
                "m",
                "--model_path",
                str(repo["dynamic"]),
                "--grpc_workers",
                "2",
                "--port",
                str(port),
                "--grpc_bind_address",
                HOST,
                "--rest_port",
                str(free_port()),
                "--rest_bind_address",
                HOST,
            ]
        )
    assert result.returncode == 64, result
    assert f"port: cannot bind {HOST}:{port}" in result.stderr
