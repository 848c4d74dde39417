"""schemathesis against a live ovserve, from the OpenAPI document the server publishes at /v2/openapi.json.

schemathesis builds requests from the document (valid ones and, in its negative mode, ones the document
forbids) and sends them to the server. A client mistake must never get a 5xx, and the server must be
alive at the end. Bounded: a few examples per operation, derandomized, so a run takes seconds and is the
same each time. The server is the module's own (the repository endpoints load and unload its models).
"""

from __future__ import annotations

import contextlib
import itertools
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from models import write_config
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance
from serverproc import ServerProcess

MODELS = ("identity_fp32", "dynamic", "strings")


@pytest.fixture(scope="module")
def live(repo: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("openapi")
    config = write_config(root / "config.json", {name: repo[name] for name in MODELS})
    server = ServerProcess(["--config_path", str(config), "--metrics_enable"], root / "log.txt")
    server.start()
    yield server
    assert server.stop() == 0
    assert "Traceback" not in server.log()


SETTINGS = settings(
    max_examples=8,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


def aim(case: Any) -> None:
    """Half of the cases name a model the server has, so that their bodies reach a real decoder."""
    params = case.path_parameters or {}
    name = params.get("name")
    if isinstance(name, str) and name.isascii():
        index = sum(map(ord, name)) % (2 * len(MODELS))
        if index < len(MODELS):
            params["name"] = MODELS[index]


@pytest.mark.timeout(300)  # about 300 requests: 10-45 s here, depending on the machine's load
def test_no_server_errors(live: ServerProcess) -> None:
    schema = schemathesis.openapi.from_url(f"{live.rest_url}/v2/openapi.json")
    schema.config.update(base_url=live.rest_url)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20
    statuses: Counter[int] = Counter()
    for operation, mode in itertools.product(operations, GenerationMode):

        @SETTINGS
        @given(case=operation.as_strategy(mode))
        def run(case: Any) -> None:
            aim(case)
            response = case.call_and_validate(checks=CHECKS, timeout=30)
            statuses[response.status_code] += 1

        with contextlib.suppress(Unsatisfiable):  # nothing to break in an operation without inputs
            run()
    assert sum(statuses.values()) > 100 and statuses[200] > 10, statuses
    assert not [status for status in statuses if status >= 500], statuses


def test_zz_alive(live: ServerProcess) -> None:
    assert live.alive()
    document = requests.get(f"{live.rest_url}/v2/openapi.json", timeout=10).json()
    assert document["openapi"].startswith("3.") and "/v2/models/{name}/infer" in document["paths"]
