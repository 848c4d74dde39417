"""A burst of slow inferences over fresh REST and gRPC connections, for shutdown tests."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from serverproc import HOST, ServerProcess


@dataclass
class Burst:
    """``count`` calls of ``model`` with ``x`` (input ``x``, output ``y``), gRPC and REST alternating."""

    threads: list[threading.Thread]
    results: list[np.ndarray] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def join(self, timeout: float = 60) -> None:
        for thread in self.threads:
            thread.join(timeout)


def start_burst(server: ServerProcess, model: str, x: np.ndarray, count: int) -> Burst:
    """Start the calls and return once every one of them is about to be sent."""
    started = threading.Barrier(count + 1)
    burst = Burst([])

    def call(i: int) -> None:
        module: Any = grpcclient if i % 2 == 0 else httpclient
        if module is grpcclient:
            client = module.InferenceServerClient(server.grpc_address)
        else:
            client = module.InferenceServerClient(f"{HOST}:{server.rest_port}", network_timeout=60)
        tensor = module.InferInput("x", list(x.shape), "FP32")
        tensor.set_data_from_numpy(x)
        started.wait()
        try:
            burst.results.append(client.infer(model, [tensor]).as_numpy("y"))
        except Exception as exc:
            burst.errors.append(f"{module.__name__}: {exc}")

    burst.threads = [threading.Thread(target=call, args=(i,)) for i in range(count)]
    for thread in burst.threads:
        thread.start()
    started.wait()
    return burst
