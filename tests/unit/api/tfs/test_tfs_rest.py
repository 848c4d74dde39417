"""The TF Serving REST routes, driven in-process through the ASGI app (no sockets)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from ovserve.api.http import RestApp, Router
from ovserve.api.tfs.rest import add_routes
from ovserve.core.servable import Servable

from .fakes import ConstServable, EchoServable, serving_context, spec

Call = tuple[str, str, bytes]


def serve(
    servables: Sequence[Servable], calls: Sequence[Call], failed: Sequence[tuple[str, int, str]] = ()
) -> list[tuple[int, Any]]:
    """Run ``calls`` (method, path, body) against a REST app serving ``servables``."""

    async def go() -> list[tuple[int, Any]]:
        ctx = await serving_context(servables, failed)
        router = Router()
        add_routes(router, ctx)
        app = RestApp(router, max_body=1 << 20)
        answers = []
        for method, path, body in calls:
            sent: list[dict[str, Any]] = []

            async def receive(body: bytes = body) -> dict[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            async def send(message: dict[str, Any], sent: list[dict[str, Any]] = sent) -> None:
                sent.append(message)

            scope = {
                "type": "http",
                "method": method,
                "path": path,
                "query_string": b"",
                "headers": [(b"content-length", str(len(body)).encode())],
            }
            await app(scope, receive, send)
            headers = dict(sent[0]["headers"])
            assert headers[b"content-type"] == b"application/json"
            answers.append((sent[0]["status"], orjson.loads(sent[1]["body"])))
        return answers

    return asyncio.run(go())


def one(
    servables: Sequence[Servable],
    method: str,
    path: str,
    body: object = None,
    failed: Sequence[tuple[str, int, str]] = (),
) -> tuple[int, Any]:
    raw = b"" if body is None else body if isinstance(body, bytes) else orjson.dumps(body)
    return serve(servables, [(method, path, raw)], failed)[0]


def add_scaled(version: int) -> EchoServable:
    return EchoServable("add", [spec("x", np.float32, -1, 2)], version)


# -- status ----------------------------------------------------------------------------
def test_status_of_all_versions_and_one() -> None:
    models = [add_scaled(1), add_scaled(2)]
    ok = {"error_code": "OK", "error_message": "OK"}
    answers = serve(
        models,
        [
            ("GET", "/v1/models/add", b""),
            ("GET", "/v1/models/add/versions/1", b""),
            ("GET", "/v1/models/add/versions/0", b""),
            ("GET", "/v1/models/add/labels/x/", b""),
        ],
    )
    everything = {
        "model_version_status": [
            {"version": "2", "state": "AVAILABLE", "status": ok},
            {"version": "1", "state": "AVAILABLE", "status": ok},
        ]
    }
    assert answers[0] == (200, everything)
    assert answers[1] == (
        200,
        {"model_version_status": [{"version": "1", "state": "AVAILABLE", "status": ok}]},
    )
    assert answers[2] == (200, everything)
    assert answers[3] == (200, everything)


def test_status_shows_a_failed_load() -> None:
    status, answer = one([add_scaled(1)], "GET", "/v1/models/add", failed=[("add", 2, "weights are broken")])
    assert status == 200
    assert answer["model_version_status"][0] == {
        "version": "2",
        "state": "LOADING",
        "status": {"error_code": "UNKNOWN", "error_message": "weights are broken"},
    }


def test_status_unknown_model_and_version() -> None:
    status, answer = one([add_scaled(1)], "GET", "/v1/models/nope")
    assert status == 404 and answer["error"].startswith("Model with requested name is not found")
    status, answer = one([add_scaled(1)], "GET", "/v1/models/add/versions/7")
    assert status == 404 and answer["error"].startswith("Model with requested version is not found")
    status, answer = one([add_scaled(1)], "GET", "/v1/models/add/versions/99999999999999999999")
    assert status == 404 and "version is not found" in answer["error"]


# -- metadata --------------------------------------------------------------------------
def test_metadata_document() -> None:
    model = EchoServable("m", [spec("in", np.float32, -1, 3), spec("ids", np.int64, 2)], version=3)
    status, answer = one([model], "GET", "/v1/models/m/metadata")
    assert status == 200

    def info(name: str, dtype: str, dims: list[str]) -> dict[str, Any]:
        return {
            "dtype": dtype,
            "tensorShape": {"dim": [{"size": d, "name": ""} for d in dims], "unknownRank": False},
            "name": name,
        }

    tensors = {"in": info("in", "DT_FLOAT", ["-1", "3"]), "ids": info("ids", "DT_INT64", ["2"])}
    assert answer == {
        "modelSpec": {"name": "m", "signatureName": "", "version": "3"},
        "metadata": {
            "signature_def": {
                "@type": "type.googleapis.com/tensorflow.serving.SignatureDefMap",
                "signatureDef": {
                    "serving_default": {
                        "inputs": tensors,
                        "outputs": tensors,
                        "methodName": "",
                        "defaults": {},
                    }
                },
            }
        },
    }


def test_metadata_picks_the_version() -> None:
    answers = serve(
        [add_scaled(1), add_scaled(2)],
        [
            ("GET", "/v1/models/add/metadata", b""),
            ("GET", "/v1/models/add/versions/1/metadata", b""),
            ("GET", "/v1/models/add/labels/stable/metadata", b""),
        ],
    )
    assert [a["modelSpec"]["version"] for _, a in answers] == ["2", "1", "2"]


def test_metadata_of_a_version_that_failed() -> None:
    status, answer = one(
        [add_scaled(1)], "GET", "/v1/models/add/versions/2/metadata", failed=[("add", 2, "bad")]
    )
    assert status == 404 and answer["error"].startswith("Model with requested version is not loaded yet")


# -- predict ---------------------------------------------------------------------------
def test_predict_row_and_column() -> None:
    status, answer = one([add_scaled(1)], "POST", "/v1/models/add:predict", {"instances": [[1, 2], [3, 4]]})
    assert (status, answer) == (200, {"predictions": [[1.0, 2.0], [3.0, 4.0]]})
    status, answer = one(
        [add_scaled(1)], "POST", "/v1/models/add/versions/1:predict", {"inputs": {"x": [[5, 6]]}}
    )
    assert (status, answer) == (200, {"outputs": [[5.0, 6.0]]})
    status, answer = one([add_scaled(1)], "POST", "/v1/models/add/labels/a:predict", {"inputs": [[5, 6]]})
    assert (status, answer) == (200, {"outputs": [[5.0, 6.0]]})


def test_predict_reaches_the_requested_version() -> None:
    v1, v2 = add_scaled(1), add_scaled(2)
    serve(
        [v1, v2],
        [
            ("POST", "/v1/models/add/versions/1:predict", b'{"inputs": [[1, 2]]}'),
            ("POST", "/v1/models/add:predict", b'{"inputs": [[1, 2]]}'),
        ],
    )
    assert len(v1.calls) == 1 and len(v2.calls) == 1


def test_predict_multi_output_row() -> None:
    model = ConstServable(
        "c",
        [spec("x", np.float32, 1)],
        {"a": np.array([[1, 2], [3, 4]], np.int32), "b": np.array([0.5, 1.5], np.float32)},
    )
    status, answer = one([model], "POST", "/v1/models/c:predict", {"instances": [0.0]})
    assert (status, answer) == (200, {"predictions": [{"a": [1, 2], "b": 0.5}, {"a": [3, 4], "b": 1.5}]})
    status, answer = one([model], "POST", "/v1/models/c:predict", {"inputs": [0.0]})
    assert (status, answer) == (200, {"outputs": {"a": [[1, 2], [3, 4]], "b": [0.5, 1.5]}})


def test_predict_errors_by_status() -> None:
    model = [add_scaled(1)]
    status, answer = one(model, "POST", "/v1/models/add:predict", b"{nope")
    assert status == 412 and answer["error"].startswith("The file is not valid json - ")
    status, answer = one(model, "POST", "/v1/models/add:predict", {"instances": [[1, 2]], "inputs": [[1, 2]]})
    assert (status, answer) == (
        400,
        {"error": "Invalid JSON structure. Could not detect row or column format"},
    )
    status, answer = one(model, "POST", "/v1/models/add:predict", {"instances": [[1, 2, 3]]})
    assert status == 400 and answer["error"].startswith("Invalid input shape")
    status, answer = one(model, "POST", "/v1/models/add:predict", {"inputs": {"y": [[1, 2]]}})
    assert status == 400 and "Missing input with specific name - Required input: x" in answer["error"]
    status, answer = one(model, "POST", "/v1/models/add:predict", {"inputs": {"x": [[1, 2]], "y": 1}})
    assert status == 400 and answer["error"].startswith("Invalid number of inputs - Expected: 1; Actual: 2")
    status, answer = one(model, "POST", "/v1/models/other:predict", {"inputs": [[1, 2]]})
    assert status == 404 and "requested name is not found" in answer["error"]
    status, answer = one(model, "POST", "/v1/models/add/versions/3:predict", {"inputs": [[1, 2]]})
    assert status == 404 and "requested version is not found" in answer["error"]


def test_predict_string_on_numeric_input_is_a_precision_error() -> None:
    status, answer = one(
        [add_scaled(1)], "POST", "/v1/models/add:predict", {"inputs": [[{"b64": "AAAA"}, "x"]]}
    )
    assert status == 400
    assert answer["error"].startswith("Invalid input precision - Expected: FP32; Actual: STRING")


# -- routing ---------------------------------------------------------------------------
def test_classify_and_regress_are_not_found() -> None:
    for verb in ("classify", "regress"):
        status, answer = one([add_scaled(1)], "POST", f"/v1/models/add:{verb}", {"examples": []})
        assert status == 404 and answer["error"].startswith("Requested REST resource not found")


def test_wrong_method_and_unknown_routes() -> None:
    assert one([add_scaled(1)], "GET", "/v1/models/add:predict")[0] == 406
    assert one([add_scaled(1)], "POST", "/v1/models/add")[0] == 406
    assert one([add_scaled(1)], "PUT", "/v1/models/add/metadata")[0] == 406
    assert one([add_scaled(1)], "GET", "/v1/models/add/versions/one") == (
        400,
        {"error": "Invalid request URL"},
    )
    assert one([add_scaled(1)], "GET", "/v1/models") == (400, {"error": "Invalid request URL"})
