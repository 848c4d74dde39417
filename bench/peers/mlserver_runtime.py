"""A small MLServer 1.7.1 inference runtime for OpenVINO models (runs in bench/.envs/mlserver).

run.py writes a model repository whose ``model-settings.json`` files name
``mlserver_runtime.OpenVINORuntime`` with ``parameters.uri`` = the model's IR file, puts
this folder on PYTHONPATH and starts ``mlserver start <repository>``.
"""

from __future__ import annotations

from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse
from ovrunner import Runner


class OpenVINORuntime(MLModel):
    async def load(self) -> bool:
        uri = self.settings.parameters.uri if self.settings.parameters else None
        if not uri:
            raise ValueError(f"model {self.name}: parameters.uri must name the model's .xml file")
        self.runner = Runner(uri)
        self.ready = True
        return self.ready

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        x = NumpyCodec.decode_input(payload.inputs[0])
        y = await self.runner.infer(x)
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version,
            id=payload.id,
            outputs=[NumpyCodec.encode_output(self.runner.output_name, y)],
        )
