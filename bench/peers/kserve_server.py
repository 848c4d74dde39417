"""KServe 0.21's Python model server with a small OpenVINO runtime (runs in bench/.envs/kserve).

    python kserve_server.py --bench_model tiny=/path/model.xml [--bench_model ...] \
        --http_port 18080 --grpc_port 18081

KServe's own flags pass through. KServe binds 0.0.0.0 (no flag changes it); the benchmark
sends traffic to 127.0.0.1 only. Per-request latency log lines are turned off by run.py
(``--enable_latency_logging false``): the comparison is about the serving path, not logging.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import kserve
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer
from kserve.utils.utils import from_np_dtype, generate_uuid

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ovrunner import Runner


class OpenVINOModel(Model):
    def __init__(self, name: str, xml: str) -> None:
        super().__init__(name)
        self.xml = xml
        self.runner: Runner | None = None
        self.load()

    def load(self) -> bool:
        self.runner = Runner(self.xml)
        self.ready = True
        return self.ready

    async def predict(
        self,
        payload: InferRequest,
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> InferResponse:
        assert self.runner is not None
        result = await self.runner.infer(payload.inputs[0].as_numpy())
        output = InferOutput(
            name=self.runner.output_name, shape=list(result.shape), datatype=from_np_dtype(result.dtype)
        )
        output.set_data_from_numpy(result, binary_data=payload.use_binary_outputs)
        return InferResponse(
            model_name=self.name,
            infer_outputs=[output],
            response_id=payload.id or generate_uuid(),
            use_binary_outputs=payload.use_binary_outputs,
            requested_outputs=payload.request_outputs,
        )


def main() -> None:
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument("--bench_model", action="append", required=True, help="name=/path/to/model.xml")
    args, _ = parser.parse_known_args()
    models = []
    for item in args.bench_model:
        name, xml = item.split("=", 1)
        models.append(OpenVINOModel(name, xml))
    ModelServer().start(models)


if __name__ == "__main__":
    main()
