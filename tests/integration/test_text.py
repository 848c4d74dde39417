"""Strings to a 2-D U8 input and ``..._string`` outputs back as strings, on every API (OVMS's text handling).

The ``text_rows`` catalog model takes ``text`` U8 [-1,-1]: strings arrive as zero-padded rows
``[count, longest + 1]``. It answers ``lengths`` (I32, non-zero bytes per row) and
``shifted_string`` (U8 rows, each non-zero byte + 1), which the server sends back as strings.
Expected answers come from in-process OpenVINO on rows built here.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import ovmsclient
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from models import model_file, reference
from serverproc import ServerProcess
from tritonclient.utils import InferenceServerException

TEXTS = [b"abc", b"hello world", b"", "za\u017c\u00f3\u0142\u0107".encode()]


def rows(texts: Sequence[bytes]) -> np.ndarray:
    width = max(len(t) for t in texts) + 1
    out = np.zeros((len(texts), width), np.uint8)
    for row, text in zip(out, texts, strict=True):
        row[: len(text)] = list(text)
    return out


@pytest.fixture(scope="module")
def expected(repo: dict[str, Path]) -> dict[str, object]:
    answer = reference(model_file(repo["text_rows"]), {"text": rows(TEXTS)})
    shifted = [row.tobytes().split(b"\0", 1)[0] for row in answer["shifted_string"]]
    assert shifted[0] == b"bcd"  # the model does what it says
    return {"lengths": answer["lengths"], "shifted_string": shifted}


def as_bytes(values: Sequence[object]) -> list[bytes]:
    return [v if isinstance(v, bytes) else str(v).encode() for v in values]


@pytest.fixture(scope="module")
def rest_client(server: ServerProcess) -> Iterator[httpclient.InferenceServerClient]:
    client = httpclient.InferenceServerClient(url=server.rest_url.removeprefix("http://"))
    yield client
    client.close()


@pytest.mark.parametrize("binary", [True, False])
def test_kserve_rest(
    rest_client: httpclient.InferenceServerClient, expected: dict[str, object], binary: bool
) -> None:
    texts = TEXTS if binary else TEXTS[:3]  # JSON strings are UTF-8 text; keep the JSON case ASCII
    item = httpclient.InferInput("text", [len(texts)], "BYTES")
    item.set_data_from_numpy(np.array(texts, dtype=object), binary_data=binary)
    outputs = [httpclient.InferRequestedOutput(n, binary_data=binary) for n in ("lengths", "shifted_string")]
    result = rest_client.infer("text_rows", [item], outputs=outputs)
    assert result.get_output("shifted_string")["datatype"] == "BYTES"
    assert result.get_output("shifted_string")["shape"] == [len(texts)]
    count = len(texts)
    np.testing.assert_array_equal(result.as_numpy("lengths"), expected["lengths"][:count])  # type: ignore[index]
    assert as_bytes(result.as_numpy("shifted_string").tolist()) == expected["shifted_string"][:count]  # type: ignore[index]


def test_kserve_grpc(server: ServerProcess, expected: dict[str, object]) -> None:
    client = grpcclient.InferenceServerClient(url=server.grpc_address)
    try:
        item = grpcclient.InferInput("text", [len(TEXTS)], "BYTES")
        item.set_data_from_numpy(np.array(TEXTS, dtype=object))
        result = client.infer("text_rows", [item])
    finally:
        client.close()
    np.testing.assert_array_equal(result.as_numpy("lengths"), expected["lengths"])
    assert result.as_numpy("shifted_string").tolist() == expected["shifted_string"]


def test_tfs_grpc(server: ServerProcess, expected: dict[str, object]) -> None:
    client = ovmsclient.make_grpc_client(server.grpc_address)
    served = client.predict({"text": TEXTS}, "text_rows")
    np.testing.assert_array_equal(served["lengths"], expected["lengths"])
    assert list(served["shifted_string"]) == expected["shifted_string"]


def test_tfs_rest(server: ServerProcess, expected: dict[str, object]) -> None:
    client = ovmsclient.make_http_client(server.rest_url.removeprefix("http://"))
    texts = TEXTS[:3]
    served = client.predict({"text": np.array(texts)}, "text_rows")  # ovmsclient sends bytes as b64
    np.testing.assert_array_equal(served["lengths"], expected["lengths"][:3])  # type: ignore[index]
    assert as_bytes(list(served["shifted_string"])) == expected["shifted_string"][:3]  # type: ignore[index]


def test_tfs_rest_plain_json_strings(server: ServerProcess, expected: dict[str, object]) -> None:
    body = json.dumps({"instances": [t.decode() for t in TEXTS]}).encode()
    with urllib.request.urlopen(
        urllib.request.Request(server.rest_url + "/v1/models/text_rows:predict", data=body, method="POST"),
        timeout=30,
    ) as reply:
        answer = json.loads(reply.read())
    predictions = answer["predictions"]
    assert [p["lengths"] for p in predictions] == expected["lengths"].tolist()  # type: ignore[attr-defined]
    assert [p["shifted_string"].encode() for p in predictions] == expected["shifted_string"]


def test_strings_that_do_not_fit_are_refused(server: ServerProcess) -> None:
    client = grpcclient.InferenceServerClient(url=server.grpc_address)
    try:
        item = grpcclient.InferInput("text", [1, 2], "BYTES")
        item.set_data_from_numpy(np.array([[b"a", b"b"]], dtype=object))
        with pytest.raises(InferenceServerException) as caught:
            client.infer("text_rows", [item])
        assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"
        assert "Expected number of binary input shape dimensions: 1; Actual: 2" in str(caught.value.message())
    finally:
        client.close()
