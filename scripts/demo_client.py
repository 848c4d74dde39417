"""Call the demo server with the real clients: tritonclient (KServe v2) and ovmsclient (TF Serving).

.venv/bin/python scripts/demo_client.py --rest 8000 --grpc 9000
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rest", type=int, default=8000)
    parser.add_argument("--grpc", type=int, default=9000)
    args = parser.parse_args()
    x = np.arange(10, dtype=np.float32).reshape(1, 10)

    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(f"127.0.0.1:{args.rest}")
    tensor = httpclient.InferInput("x", [1, 10], "FP32")
    tensor.set_data_from_numpy(x)
    print("KServe v2 REST (tritonclient):", client.infer("tiny", [tensor]).as_numpy("y"))

    import tritonclient.grpc as grpcclient

    gclient = grpcclient.InferenceServerClient(f"127.0.0.1:{args.grpc}")
    gtensor = grpcclient.InferInput("x", [1, 10], "FP32")
    gtensor.set_data_from_numpy(x)
    print("KServe v2 gRPC (tritonclient):", gclient.infer("tiny", [gtensor]).as_numpy("y"))

    import ovmsclient

    tfs = ovmsclient.make_grpc_client(f"127.0.0.1:{args.grpc}")
    print("TF Serving gRPC (ovmsclient):", tfs.predict({"x": x}, "tiny"))
    rest = ovmsclient.make_http_client(f"127.0.0.1:{args.rest}")
    print("TF Serving REST (ovmsclient):", rest.predict({"x": x}, "tiny"))
    print("expected (2x + 1):            ", 2 * x + 1)
    chain = client.infer("tiny_chain", [tensor]).as_numpy("y")  # a pipeline: tiny, then tiny again
    print("pipeline tiny_chain (tritonclient):", chain)
    print("expected (4x + 3):                 ", 4 * x + 3)
    negated = client.infer("tiny_negated", [tensor]).as_numpy("y")  # tiny, then a Python node
    print("pipeline tiny_negated (Python node):", negated)
    print("expected (-(2x + 1)):               ", -(2 * x + 1))
    if client.is_model_ready("tiny_plus_half"):  # built where the demo found a C compiler
        plus = client.infer("tiny_plus_half", [tensor]).as_numpy("y")  # tiny, then a C custom node
        print("pipeline tiny_plus_half (C node):", plus)
        print("expected (2x + 1.5):             ", 2 * x + 1.5)
    graph = client.infer("tiny_graph", [tensor]).as_numpy("y")  # MediaPipe: Python node, then tiny
    print("graph tiny_graph (MediaPipe):", graph)
    print("expected (1 - 2x):           ", 1 - 2 * x)


if __name__ == "__main__":
    main()
