"""BentoML 1.4's idiomatic service for the benchmark's model (runs in bench/.envs/bentoml).

    BENCH_XML=/path/model.xml bentoml serve bentoml_service:Model --host 127.0.0.1 --port 18140

One ``@bentoml.api`` taking and returning a numpy array (BentoML's JSON codec: the body is
``{"x": [[...]]}``, the answer the array as nested lists), async, on the same OpenVINO runtime
as the other peers (ovrunner.Runner). Most favourable settings found: one worker (like the
other single-process servers), access log and metrics off, uvloop and httptools installed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import bentoml
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ovrunner import Runner


@bentoml.service(
    workers=1,
    logging={"access": {"enabled": False}},
    metrics={"enabled": False},
    traffic={"timeout": 120},
)
class Model:
    def __init__(self) -> None:
        self.runner = Runner(os.environ["BENCH_XML"])

    @bentoml.api
    async def predict(self, x: np.ndarray) -> np.ndarray:
        return await self.runner.infer(x)
