"""OVMS's CORS flags over real HTTP: preflight (OPTIONS) and simple requests, as a browser sends them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
from models import add_scaled, model_file, reference, save
from serverproc import ServerProcess

APP = "https://app.example"
X = np.arange(8, dtype=np.float32).reshape(2, 4)
BODY = {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": X.ravel().tolist()}]}
F32 = '{"INFERENCE_PRECISION_HINT": "f32"}'


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save(add_scaled(), tmp_path_factory.mktemp("models") / "m")


def _serve(model_dir: Path, log: Path, *flags: str, env: dict[str, str] | None = None) -> ServerProcess:
    args = ["--model_name", "m", "--model_path", str(model_dir), "--plugin_config", F32, *flags]
    return ServerProcess(args, log, env=env).start()


@pytest.fixture(scope="module")
def default(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """No CORS flag: OVMS's defaults (every origin, method and header; no credentials)."""
    proc = _serve(model_dir, tmp_path_factory.mktemp("log") / "default.log")
    yield proc
    assert proc.stop() == 0, proc.log()


@pytest.fixture(scope="module")
def restricted(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One origin, GET and POST, two headers, credentials; and an API key."""
    flags = [
        "--allowed_origins",
        f"{APP},https://other.example",
        "--allowed_methods",
        "GET,POST",
        "--allowed_headers",
        "Content-Type,Authorization",
        "--allow_credentials",
    ]
    proc = _serve(model_dir, tmp_path_factory.mktemp("log") / "restricted.log", *flags, env={"API_KEY": "k"})
    yield proc
    assert proc.stop() == 0, proc.log()


def preflight(proc: ServerProcess, origin: str, method: str = "POST", headers: str = "") -> requests.Response:
    asked = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        asked["Access-Control-Request-Headers"] = headers
    return requests.options(f"{proc.rest_url}/v2/models/m/infer", headers=asked, timeout=10)


def outputs(answer: requests.Response) -> np.ndarray:
    out = answer.json()["outputs"][0]
    return np.array(out["data"], np.float32).reshape(out["shape"])


def test_default_preflight_and_simple_request(default: ServerProcess, model_dir: Path) -> None:
    answer = preflight(default, "https://anywhere.example", "POST", "content-type, authorization")
    assert answer.status_code == 200 and answer.content == b""
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert answer.headers["Access-Control-Allow-Methods"] == "POST"
    assert answer.headers["Access-Control-Allow-Headers"] == "content-type, authorization"
    assert "Access-Control-Allow-Credentials" not in answer.headers
    simple = requests.post(
        f"{default.rest_url}/v2/models/m/infer",
        json=BODY,
        headers={"Origin": "https://anywhere.example"},
        timeout=10,
    )
    assert simple.status_code == 200 and simple.headers["Access-Control-Allow-Origin"] == "*"
    np.testing.assert_allclose(outputs(simple), reference(model_file(model_dir), {"x": X})["y"], rtol=1e-6)
    no_origin = requests.get(f"{default.rest_url}/v2/health/ready", timeout=10)
    assert "Access-Control-Allow-Origin" not in no_origin.headers


def test_default_errors_carry_cors_headers_too(default: ServerProcess) -> None:
    answer = requests.get(f"{default.rest_url}/v2/models/nope", headers={"Origin": APP}, timeout=10)
    assert answer.status_code == 404 and answer.headers["Access-Control-Allow-Origin"] == "*"


def test_restricted_preflight_allowed(restricted: ServerProcess) -> None:
    answer = preflight(restricted, APP, "POST", "Authorization, Content-Type")
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == APP
    assert answer.headers["Access-Control-Allow-Credentials"] == "true"
    assert answer.headers["Access-Control-Allow-Methods"] == "GET, POST"
    assert answer.headers["Access-Control-Allow-Headers"] == "authorization, content-type"
    assert answer.headers["Vary"].lower() == "origin"


@pytest.mark.parametrize(
    ("origin", "method", "headers", "reason"),
    [
        ("https://evil.example", "POST", "", "origin https://evil.example is not allowed"),
        (APP, "DELETE", "", "method DELETE is not allowed"),
        (APP, "POST", "X-Custom", "header x-custom is not allowed"),
    ],
)
def test_restricted_preflight_refused(
    restricted: ServerProcess, origin: str, method: str, headers: str, reason: str
) -> None:
    answer = preflight(restricted, origin, method, headers)
    assert answer.status_code == 403
    assert answer.json() == {"error": f"CORS: {reason}"}
    assert "Access-Control-Allow-Origin" not in answer.headers


def test_restricted_simple_requests(restricted: ServerProcess, model_dir: Path) -> None:
    url = f"{restricted.rest_url}/v2/models/m/infer"
    ok = requests.post(url, json=BODY, headers={"Origin": APP, "Authorization": "Bearer k"}, timeout=10)
    assert ok.status_code == 200
    assert ok.headers["Access-Control-Allow-Origin"] == APP
    assert ok.headers["Access-Control-Allow-Credentials"] == "true"
    np.testing.assert_allclose(outputs(ok), reference(model_file(model_dir), {"x": X})["y"], rtol=1e-6)
    no_key = requests.post(url, json=BODY, headers={"Origin": APP}, timeout=10)
    assert no_key.status_code == 401  # and the page can read why
    assert no_key.headers["Access-Control-Allow-Origin"] == APP
    other = requests.post(
        url, json=BODY, headers={"Origin": "https://evil.example", "Authorization": "Bearer k"}, timeout=10
    )
    assert other.status_code == 200  # served (CORS is the browser's check) but not readable by the page
    assert "Access-Control-Allow-Origin" not in other.headers
    assert restricted.alive()
