"""Answer checks: before its cases, a server gets one request per protocol with the generator's
exact bytes, and its answer is compared with in-process OpenVINO."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
from loadgen import rest_url
from models import ModelSpec
from plan import GRPC_PATH, LABEL, OWN, Phase, Report
from servers import RunningServer, ServerKind


def _http(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=120) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {}, exc.read()


def answer(kind: ServerKind, protocol: str, spec: ModelSpec, body: bytes, hlen: str) -> np.ndarray:
    """Send ``body`` once and decode the output tensor; raises with the reason on any failure."""
    if protocol in GRPC_PATH:
        return _grpc_answer(protocol, kind.grpc_port, spec, body)
    url = rest_url(kind, spec, protocol)
    if protocol in ("tfs_rest", OWN):
        status, _, data = _http(url, body, {"Content-Type": "application/json"})
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {data[:200]!r}")
        decoded = json.loads(data)
        if protocol == "tfs_rest":
            return np.asarray(decoded["predictions"], np.float32)
        # the peers' own APIs answer the array, or an object with the array as its one value
        if isinstance(decoded, dict) and len(decoded) == 1:
            decoded = next(iter(decoded.values()))
        return np.asarray(decoded, np.float32)
    return _v2_rest_answer(url, protocol, body, hlen)


def _grpc_answer(protocol: str, port: int, spec: ModelSpec, body: bytes) -> np.ndarray:
    import grpc

    options = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
        raw = channel.unary_unary(GRPC_PATH[protocol])(body[5:], timeout=120)
    if protocol == "v2_grpc":
        from tritonclient.grpc import service_pb2

        msg = service_pb2.ModelInferResponse.FromString(raw)
        out = msg.outputs[0]
        if msg.raw_output_contents:
            return np.frombuffer(msg.raw_output_contents[0], np.float32).reshape(list(out.shape))
        return np.array(out.contents.fp32_contents, np.float32).reshape(list(out.shape))
    from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import predict_pb2

    tensor = predict_pb2.PredictResponse.FromString(raw).outputs[spec.output_name]
    shape = [d.size for d in tensor.tensor_shape.dim]
    if tensor.tensor_content:
        return np.frombuffer(tensor.tensor_content, np.float32).reshape(shape)
    return np.array(tensor.float_val, np.float32).reshape(shape)


def _v2_rest_answer(url: str, protocol: str, body: bytes, hlen: str) -> np.ndarray:
    headers = {"Content-Type": "application/json"}
    if protocol == "v2_binary":
        headers = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": hlen}
    status, response_headers, data = _http(url, body, headers)
    if status != 200:
        raise RuntimeError(f"HTTP {status}: {data[:160]!r}")
    json_len = int(response_headers.get("inference-header-content-length", len(data)))
    out = json.loads(data[:json_len])["outputs"][0]
    if "data" in out:
        return np.asarray(out["data"], np.float32).reshape(out["shape"])
    size = out["parameters"]["binary_data_size"]
    return np.frombuffer(data[json_len : json_len + size], np.float32).reshape(out["shape"])


def check_answers(
    rep: Report,
    server: RunningServer,
    spec: ModelSpec,
    files: dict[str, Path],
    expected: np.ndarray,
    phase: Phase | None = None,
) -> list[str]:
    """Ask once per protocol with the generator's bytes; returns the protocols answered right."""
    phase = phase or Phase.main(rep, spec.name)
    prefix = f"{phase.title}: " if phase.title else ""
    kind = server.kind
    good = []
    for protocol in kind.protocols:
        body = files[protocol]
        hlen_file = body.with_name(body.name + ".hlen")
        hlen = hlen_file.read_text() if hlen_file.exists() else ""
        try:
            got = answer(kind, protocol, spec, body.read_bytes(), hlen)
            if got.shape != expected.shape:
                raise RuntimeError(f"wrong answer: shape {list(got.shape)}, expected {list(expected.shape)}")
            diff = float(np.max(np.abs(got - expected)))
            if not np.allclose(got, expected, rtol=1e-4, atol=1e-6):
                raise RuntimeError(f"wrong answer: max |diff| {diff:.3g}")
            rep.checks.append(
                f"{prefix}{kind.label}, {spec.name}, {LABEL[protocol]}: ok (max |diff| {diff:.2g})"
            )
            good.append(protocol)
        except Exception as exc:  # a peer that lacks a protocol is reported, not fatal
            reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            rep.checks.append(f"{prefix}{kind.label}, {spec.name}, {LABEL[protocol]}: **failed**: {reason}")
            skip = {"skip": "answer check failed"}
            for p, c in phase.plan:
                if p == protocol:
                    phase.results.setdefault((spec.name, p, c), {})[kind.name] = skip
    return good
