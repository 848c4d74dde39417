"""LitServe 0.2's idiomatic server for the benchmark's model (runs in bench/.envs/litserve).

    python litserve_server.py --xml /path/model.xml --port 18150

A ``LitAPI`` (decode_request, predict, encode_response) on ``POST /predict``, body
``{"x": [[...]]}``, answer ``{"y": [[...]]}``. LitServe runs predict in an inference worker
process fed by the API server (uvicorn) through a queue. Most favourable settings found:
one API server and one worker (like the other single-process servers), ``fast_queue=True``
(ZeroMQ instead of a multiprocessing queue, "for >100 RPS"), no timeout, no request
tracking, uvicorn with uvloop + httptools and no access log. predict is a synchronous
OpenVINO call (the worker has nothing else to do).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import litserve as ls
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ovrunner import Runner


class OpenVINOAPI(ls.LitAPI):
    def __init__(self, xml: str) -> None:
        super().__init__()
        self.xml = xml

    def setup(self, device: str) -> None:
        self.runner = Runner(self.xml)

    # no annotation on ``request``: LitServe builds the endpoint from it, and a string annotation
    # (``from __future__ import annotations``) would make FastAPI read the body as a query parameter
    def decode_request(self, request):  # type: ignore[no-untyped-def]
        return np.asarray(request["x"], dtype=np.float32)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.runner.infer_sync(x)

    def encode_response(self, output: np.ndarray) -> dict[str, Any]:
        return {"y": output.tolist()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--xml", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = ls.LitServer(
        OpenVINOAPI(args.xml), accelerator="cpu", workers_per_device=1, timeout=False, fast_queue=True
    )
    server.run(
        host="127.0.0.1",
        port=args.port,
        num_api_servers=1,
        generate_client_file=False,
        log_level="warning",
        loop="uvloop",
        http="httptools",
        access_log=False,
    )


if __name__ == "__main__":
    main()
