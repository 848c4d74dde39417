"""Drive a server with KServe's own Python SDK (``kserve`` package); run as a subprocess.

The kserve package registers the ``inference.*`` protobuf names in protobuf's default pool, as
tritonclient does, so the two cannot be imported into one process: the integration tests run
this script with the same interpreter and read the JSON it prints.

Usage: python kserve_sdk.py REST_URL GRPC_ADDRESS MODEL INPUT_NAME INPUT.npy
Prints {"rest": {...}, "grpc": {...}} with each client's probe answers and inference output.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import numpy as np
from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig


def _request(model: str, name: str, data: np.ndarray) -> InferRequest:
    tensor = InferInput(name, list(data.shape), "FP32")
    tensor.set_data_from_numpy(data, binary_data=False)
    return InferRequest(model_name=model, infer_inputs=[tensor])


async def rest(url: str, model: str, name: str, data: np.ndarray) -> dict[str, Any]:
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=30))
    try:
        response = await client.infer(url, _request(model, name, data), model_name=model)
        return {
            "live": await client.is_server_live(url),
            "ready": await client.is_server_ready(url),
            "model_ready": await client.is_model_ready(url, model),
            "missing_model_ready": await client.is_model_ready(url, "no_such_model"),
            "outputs": {out.name: out.as_numpy().tolist() for out in response.outputs},
        }
    finally:
        await client.close()


async def grpc(address: str, model: str, name: str, data: np.ndarray) -> dict[str, Any]:
    client = InferenceGRPCClient(address, timeout=30, retries=2)
    try:
        response = await client.infer(_request(model, name, data))
        return {
            "live": await client.is_server_live(),
            "ready": await client.is_server_ready(),
            "model_ready": await client.is_model_ready(model),
            "outputs": {out.name: out.as_numpy().tolist() for out in response.outputs},
        }
    finally:
        await client.close()


async def main(url: str, address: str, model: str, name: str, path: str) -> None:
    data = np.load(path)
    result = {"rest": await rest(url, model, name, data), "grpc": await grpc(address, model, name, data)}
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
