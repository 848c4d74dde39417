"""Ray Serve 2.60's idiomatic deployment of the benchmark's model (runs in bench/.envs/rayserve).

    python rayserve_app.py --xml /path/model.xml --port 18160

A local Ray instance (no dashboard, usage stats off) and one ``@serve.deployment`` whose
async ``__call__`` takes the Starlette request on ``POST /predict``, body ``{"x": [[...]]}``,
answer ``{"y": [[...]]}``, on the same OpenVINO runtime as the other peers (ovrunner.Runner).
Requests go client -> Ray's HTTP proxy actor -> the replica actor. Most favourable settings
found: one replica (like the other single-process servers), ``max_ongoing_requests`` above the
benchmark's highest concurrency (no queueing in the proxy), access logs off. A GET on
``/predict`` answers ``ready`` (the benchmark's readiness probe).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import ray
from ray import serve
from starlette.requests import Request

sys.path.insert(0, str(Path(__file__).resolve().parent))


@serve.deployment(num_replicas=1, max_ongoing_requests=256, ray_actor_options={"num_cpus": 0})
class OpenVINODeployment:
    def __init__(self, xml: str, peers_dir: str) -> None:
        sys.path.insert(0, peers_dir)
        from ovrunner import Runner

        self.runner = Runner(xml)

    async def __call__(self, request: Request) -> Any:
        if request.method == "GET":
            return "ready"
        body = await request.json()
        y = await self.runner.infer(np.asarray(body["x"], dtype=np.float32))
        return {"y": y.tolist()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--xml", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    peers_dir = str(Path(__file__).resolve().parent)
    runtime_env = {"env_vars": {"BENCH_PLUGIN_CONFIG": os.environ.get("BENCH_PLUGIN_CONFIG", "{}")}}
    ray.init(include_dashboard=False, runtime_env=runtime_env, log_to_driver=False)
    serve.start(
        http_options={"host": "127.0.0.1", "port": args.port},
        logging_config={"enable_access_log": False, "log_level": "WARNING"},
    )
    serve.run(OpenVINODeployment.bind(args.xml, peers_dir), route_prefix="/predict")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    serve.shutdown()
    ray.shutdown()


if __name__ == "__main__":
    main()
