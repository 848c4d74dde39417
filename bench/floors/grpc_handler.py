"""Floor (b): the least a Python gRPC server does for a KServe v2 ModelInfer call.

A bare ``grpc.aio`` server (on uvloop, as ovserve's) with one generic handler (no servicer class, no interceptor):
parse the ModelInferRequest, the same OpenVINO call as ovserve (floors/ovcall.py) on the
raw input bytes, answer a ModelInferResponse with the output in ``raw_output_contents``.

    python grpc_handler.py --model tiny=/path/model.xml --port 18141
"""

from __future__ import annotations

import argparse

import grpc
import numpy as np
import uvloop
from ovcall import Call
from tritonclient.grpc import service_pb2

SERVICE = "inference.GRPCInferenceService"


def make_handler(name: str, call: Call) -> grpc.GenericRpcHandler:
    async def model_infer(
        request: service_pb2.ModelInferRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.ModelInferResponse:
        tensor = request.inputs[0]
        x = np.frombuffer(request.raw_input_contents[0], dtype=np.float32).reshape(tensor.shape)
        y = call(x)
        response = service_pb2.ModelInferResponse(model_name=name, model_version="1", id=request.id)
        output = response.outputs.add()
        output.name, output.datatype = call.output_name, "FP32"
        output.shape.extend(y.shape)
        response.raw_output_contents.append(y.tobytes())
        return response

    async def server_ready(
        request: service_pb2.ServerReadyRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.ServerReadyResponse:
        return service_pb2.ServerReadyResponse(ready=True)

    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "ModelInfer": grpc.unary_unary_rpc_method_handler(
                model_infer,
                request_deserializer=service_pb2.ModelInferRequest.FromString,
                response_serializer=service_pb2.ModelInferResponse.SerializeToString,
            ),
            "ServerReady": grpc.unary_unary_rpc_method_handler(
                server_ready,
                request_deserializer=service_pb2.ServerReadyRequest.FromString,
                response_serializer=service_pb2.ServerReadyResponse.SerializeToString,
            ),
        },
    )


async def serve(name: str, xml: str, port: int) -> None:
    server = grpc.aio.server(
        options=[("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
    )
    server.add_generic_rpc_handlers((make_handler(name, Call(xml)),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="name=/path/to/model.xml")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    name, xml = args.model.split("=", 1)
    uvloop.run(serve(name, xml, args.port))  # as ovserve: its gRPC server runs on uvloop


if __name__ == "__main__":
    main()
