"""gRPC balancing across replicas, as docs/kubernetes.md tells Kubernetes users to set it up.

A gRPC client keeps one connection, so behind a plain Service every call of a client lands on
one pod. With several addresses (what a headless Service's DNS name resolves to; here the
``ipv4:`` resolver lists two servers) and the ``round_robin`` policy, tritonclient spreads its
calls over all of them; with gRPC's default ``pick_first`` it sticks to one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
import tritonclient.grpc as grpcclient
from models import F32, add_scaled, model_file, reference, save
from prometheus_client.parser import text_string_to_metric_families
from serverproc import ServerProcess

DEADLINE_S = 30.0


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save(add_scaled(), tmp_path_factory.mktemp("balancing") / "m")


@pytest.fixture(scope="module")
def replicas(base: Path) -> Iterator[list[ServerProcess]]:
    """Two servers of the same model: two pods behind one name."""
    args = [
        "--model_name",
        "m",
        "--model_path",
        str(base),
        "--metrics_enable",
        "--plugin_config",
        json.dumps(F32),
    ]
    servers = [ServerProcess(args, base.parent / f"log{i}.txt").start() for i in range(2)]
    yield servers
    for server in servers:
        server.stop()


def calls_served(server: ServerProcess) -> float:
    text = requests.get(f"{server.rest_url}/metrics", timeout=5).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "ovms_requests_success"
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels.get("name") == "m"
    )


def infer(client: grpcclient.InferenceServerClient, x: np.ndarray) -> np.ndarray:
    tensor = grpcclient.InferInput("x", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    result = client.infer("m", [tensor]).as_numpy("y")
    assert result is not None
    return result


def test_round_robin_over_all_addresses_reaches_every_replica(
    replicas: list[ServerProcess], base: Path
) -> None:
    target = "ipv4:" + ",".join(s.grpc_address for s in replicas)
    client = grpcclient.InferenceServerClient(target, channel_args=[("grpc.lb_policy_name", "round_robin")])
    before = [calls_served(s) for s in replicas]
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    expected = reference(model_file(base), {"x": x})["y"]
    deadline = time.monotonic() + DEADLINE_S
    while not all(calls_served(s) > b for s, b in zip(replicas, before, strict=True)):
        assert time.monotonic() < deadline, "round_robin never reached both replicas"
        for _ in range(8):
            np.testing.assert_allclose(infer(client, x), expected, rtol=1e-6)
    client.close()


def test_pick_first_sticks_to_one_replica(replicas: list[ServerProcess]) -> None:
    target = "ipv4:" + ",".join(s.grpc_address for s in replicas)
    client = grpcclient.InferenceServerClient(target)  # gRPC's default policy
    before = [calls_served(s) for s in replicas]
    x = np.ones((1, 4), dtype=np.float32)
    for _ in range(20):
        infer(client, x)
    client.close()
    deadline = time.monotonic() + DEADLINE_S
    added = [calls_served(s) - b for s, b in zip(replicas, before, strict=True)]
    while sum(added) < 20 and time.monotonic() < deadline:  # counted once the answer is on its way
        time.sleep(0.05)
        added = [calls_served(s) - b for s, b in zip(replicas, before, strict=True)]
    assert sorted(added) == [0, 20]
