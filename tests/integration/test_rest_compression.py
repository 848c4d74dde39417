"""gzip / deflate REST bodies: tritonclient's compression options, raw HTTP, and bad bodies.

Answers are compared with in-process OpenVINO; bad bodies (corrupt, unknown coding, a small
body that inflates past --max_request_bytes) must get a clear 4xx and leave the server serving.
"""

from __future__ import annotations

import gzip
import http.client
import json
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient
from models import build_repository, model_file, reference, write_config
from serverproc import HOST, ServerProcess

LIMIT = 4 * 1024 * 1024
RNG = np.random.default_rng(21)
IMAGE = RNG.standard_normal((4, 3, 32, 32)).astype(np.float32)
ROWS = RNG.standard_normal((300, 4)).astype(np.float32)
CODINGS = {"gzip": gzip.compress, "deflate": zlib.compress}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_repository(tmp_path_factory.mktemp("compression-models"), ["cnn", "dynamic", "multi_io"])


@pytest.fixture(scope="module")
def server(repo: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("compression")
    config = write_config(tmp / "config.json", repo)
    proc = ServerProcess(["--config_path", str(config), "--max_request_bytes", str(LIMIT)], tmp / "log.txt")
    proc.start()
    yield proc
    assert proc.stop() == 0, proc.log()


def post(
    server: ServerProcess, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP POST; the answer's status, headers (lower-case names) and body as sent."""
    conn = http.client.HTTPConnection(HOST, server.rest_port, timeout=60)
    try:
        conn.request("POST", path, body, {"Content-Type": "application/json", **headers})
        answer = conn.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        conn.close()


def kserve_json(name: str, value: np.ndarray) -> bytes:
    return json.dumps(
        {
            "inputs": [
                {"name": name, "datatype": "FP32", "shape": list(value.shape), "data": value.ravel().tolist()}
            ]
        }
    ).encode()


@pytest.mark.parametrize("request_coding", ["gzip", "deflate", None])
@pytest.mark.parametrize("response_coding", ["gzip", "deflate", None])
@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_compression_options(
    server: ServerProcess,
    repo: dict[str, Path],
    request_coding: str | None,
    response_coding: str | None,
    binary: bool,
) -> None:
    client = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    image = httpclient.InferInput("image", list(IMAGE.shape), "FP32")
    image.set_data_from_numpy(IMAGE, binary_data=binary)
    result = client.infer(
        "cnn",
        [image],
        outputs=[httpclient.InferRequestedOutput("probs", binary_data=binary)],
        request_compression_algorithm=request_coding,
        response_compression_algorithm=response_coding,
    )
    expected = reference(model_file(repo["cnn"]), {"image": IMAGE})["probs"]
    np.testing.assert_allclose(result.as_numpy("probs"), expected, rtol=1e-5)

    # an answer past MIN_COMPRESS_BYTES (about 5 KB binary, 10 KB JSON): compressed when asked
    rows = httpclient.InferInput("x", list(ROWS.shape), "FP32")
    rows.set_data_from_numpy(ROWS, binary_data=binary)
    result = client.infer(
        "dynamic",
        [rows],
        outputs=[httpclient.InferRequestedOutput("y", binary_data=binary)],
        request_compression_algorithm=request_coding,
        response_compression_algorithm=response_coding,
    )
    expected = reference(model_file(repo["dynamic"]), {"x": ROWS})["y"]
    np.testing.assert_allclose(result.as_numpy("y"), expected, rtol=1e-6)

    inputs = {"a": RNG.standard_normal((1, 3)).astype(np.float32), "b": np.array([[2, -9, 4]], np.int32)}
    tensors = []
    for key, value in inputs.items():
        tensor = httpclient.InferInput(key, [1, 3], "FP32" if key == "a" else "INT32")
        tensor.set_data_from_numpy(value, binary_data=binary)
        tensors.append(tensor)
    result = client.infer(
        "multi_io",
        tensors,
        request_compression_algorithm=request_coding,
        response_compression_algorithm=response_coding,
    )
    expected_multi = reference(model_file(repo["multi_io"]), inputs)
    np.testing.assert_allclose(result.as_numpy("sum"), expected_multi["sum"], rtol=1e-6)
    np.testing.assert_array_equal(result.as_numpy("prod"), expected_multi["prod"])


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_raw_http_compressed_both_ways(server: ServerProcess, repo: dict[str, Path], coding: str) -> None:
    body = kserve_json("x", ROWS)
    packed = CODINGS[coding](body)
    status, headers, answer = post(
        server,
        "/v2/models/dynamic/infer",
        packed,
        {"Content-Encoding": coding, "Accept-Encoding": f"br, {coding};q=0.9, identity;q=0.1"},
    )
    assert status == 200 and headers["content-encoding"] == coding
    assert int(headers["content-length"]) == len(answer)
    plain = gzip.decompress(answer) if coding == "gzip" else zlib.decompress(answer)
    assert len(answer) < len(plain)
    output = json.loads(plain)["outputs"][0]
    expected = reference(model_file(repo["dynamic"]), {"x": ROWS})["y"]
    assert output["name"] == "y" and output["shape"] == [300, 4]
    np.testing.assert_allclose(np.array(output["data"], np.float32).reshape(300, 4), expected, rtol=1e-6)
    # no Accept-Encoding: the same answer, uncompressed
    status, headers, answer = post(server, "/v2/models/dynamic/infer", packed, {"Content-Encoding": coding})
    assert status == 200 and "content-encoding" not in headers and json.loads(answer) == json.loads(plain)


def test_tfs_rest_routes_take_compressed_bodies_too(server: ServerProcess, repo: dict[str, Path]) -> None:
    body = json.dumps({"instances": ROWS.tolist()}).encode()
    status, headers, answer = post(
        server,
        "/v1/models/dynamic:predict",
        gzip.compress(body),
        {"Content-Encoding": "gzip", "Accept-Encoding": "gzip"},
    )
    assert status == 200 and headers["content-encoding"] == "gzip"
    expected = reference(model_file(repo["dynamic"]), {"x": ROWS})["y"]
    np.testing.assert_allclose(
        np.array(json.loads(gzip.decompress(answer))["predictions"]), expected, rtol=1e-6
    )


def test_corrupt_bodies_are_400(server: ServerProcess) -> None:
    body = kserve_json("x", ROWS[:2])
    truncated = gzip.compress(body)[:-12]
    for coding, packed, problem in [
        ("gzip", body, "incorrect header check"),
        ("gzip", truncated, "the compressed stream is incomplete"),
        ("deflate", zlib.compress(body) + b"trailing", "data after the end of the compressed stream"),
    ]:
        status, _, answer = post(server, "/v2/models/dynamic/infer", packed, {"Content-Encoding": coding})
        message = json.loads(answer)["error"]
        assert status == 400 and message.startswith(f"Request body is not valid {coding} data")
        assert problem in message
    assert server.alive()


def test_unknown_encoding_is_415_naming_what_is_accepted(server: ServerProcess) -> None:
    status, headers, answer = post(
        server, "/v2/models/dynamic/infer", kserve_json("x", ROWS[:2]), {"Content-Encoding": "br"}
    )
    assert status == 415 and headers["accept-encoding"] == "gzip, deflate"
    assert json.loads(answer)["error"] == (
        "Unsupported Content-Encoding 'br' of the request body; supported: gzip, deflate, identity"
    )


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_a_bomb_past_the_limit_is_413_and_the_server_keeps_serving(
    server: ServerProcess, repo: dict[str, Path], coding: str
) -> None:
    bomb = CODINGS[coding](b" " * (256 * 1024 * 1024))  # 256 MiB of spaces in about 256 KiB
    assert len(bomb) < LIMIT
    status, _, answer = post(server, "/v2/models/dynamic/infer", bomb, {"Content-Encoding": coding})
    assert status == 413
    assert json.loads(answer)["error"] == f"Decompressed request body exceeds the limit of {LIMIT} bytes"
    assert server.alive()
    # just under the limit once inflated: served
    body = kserve_json("x", ROWS)
    padded = body + b" " * (LIMIT - len(body))
    status, _, answer = post(
        server, "/v2/models/dynamic/infer", CODINGS[coding](padded), {"Content-Encoding": coding}
    )
    assert status == 200
    expected = reference(model_file(repo["dynamic"]), {"x": ROWS})["y"]
    np.testing.assert_allclose(
        np.array(json.loads(answer)["outputs"][0]["data"], np.float32).reshape(300, 4), expected, rtol=1e-6
    )
