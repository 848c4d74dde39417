"""Health, server and model metadata, readiness and versions over the REST router."""

from __future__ import annotations

from .fakes import EchoServable, echo, rest, spec


def _versions() -> list[EchoServable]:
    return [
        EchoServable("v", [spec("x", "FP32", -1, 4)], [spec("y", "FP32", -1, 4)], version=n) for n in (1, 2)
    ]


def test_live() -> None:
    reply = rest([], "GET", "/v2/health/live")
    assert (reply.status, reply.json()) == (200, {"live": True})


def test_ready() -> None:
    reply = rest([], "GET", "/v2/health/ready")
    assert (reply.status, reply.json()) == (200, {"ready": True})


def test_not_ready_is_503() -> None:
    reply = rest([], "GET", "/v2/health/ready", ready=False)
    assert reply.status == 503
    assert "not ready" in reply.error
    assert reply.json()["ready"] is False


def test_server_metadata() -> None:
    reply = rest([], "GET", "/v2")
    assert reply.status == 200
    assert reply.json() == {
        "name": "ovserve",
        "version": "test",
        "extensions": ["binary_tensor_data", "model_configuration", "statistics"],
    }
    assert rest([], "GET", "/v2/").status == 200


def test_model_metadata() -> None:
    reply = rest(_versions(), "GET", "/v2/models/v")
    assert reply.status == 200, reply.body
    assert reply.json() == {
        "name": "v",
        "versions": ["1", "2"],
        "platform": "OpenVINO",
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}],
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 4]}],
    }
    assert rest(_versions(), "GET", "/v2/models/v/").status == 200


def test_model_metadata_of_a_version() -> None:
    reply = rest(_versions(), "GET", "/v2/models/v/versions/1")
    assert reply.status == 200, reply.body
    assert reply.json()["name"] == "v"


def test_model_metadata_errors() -> None:
    reply = rest(_versions(), "GET", "/v2/models/nope")
    assert (reply.status, reply.error) == (404, "Model with requested name is not found - nope")
    reply = rest(_versions(), "GET", "/v2/models/v/versions/3")
    assert (reply.status, reply.error) == (404, "Model with requested version is not found - v version 3")
    reply = rest(_versions(), "GET", "/v2/models/v/versions/x")
    assert reply.status == 400
    assert "invalid model version format in request" in reply.error


def test_metadata_of_a_model_that_failed_to_load_shows_why() -> None:
    reply = rest([], "GET", "/v2/models/broken", failing=["broken"])
    assert reply.status == 404
    assert "not loaded yet" in reply.error
    assert "the model file is broken" in reply.error


def test_model_ready() -> None:
    assert rest(_versions(), "GET", "/v2/models/v/ready").json() == {"name": "v", "ready": True}
    assert rest(_versions(), "GET", "/v2/models/v/versions/2/ready").status == 200
    reply = rest(_versions(), "GET", "/v2/models/v/versions/5/ready")
    assert reply.status == 404
    assert "version is not found" in reply.error
    reply = rest([], "GET", "/v2/models/broken/ready", failing=["broken"])
    assert reply.status == 404
    assert "Model with requested version is not loaded yet" in reply.error


def test_versions_infer() -> None:
    body = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
    assert rest(_versions(), "POST", "/v2/models/v/infer", body).json()["model_version"] == "2"
    assert rest(_versions(), "POST", "/v2/models/v/versions/1/infer", body).json()["model_version"] == "1"
    assert rest(_versions(), "POST", "/v2/models/v/versions/0/infer", body).json()["model_version"] == "2"


def test_wrong_method() -> None:
    assert rest([echo("FP32", 1)], "GET", "/v2/models/echo_fp32/infer").status == 406


def test_non_ascii_digit_version_is_a_bad_version() -> None:
    reply = rest([echo("FP32", 1)], "GET", "/v2/models/echo_fp32/versions/%C2%B2")
    assert reply.status == 400
    assert "invalid model version format in request" in reply.error
