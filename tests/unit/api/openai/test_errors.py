"""OpenAI error objects: every code has a type; the status comes from the one HTTP table."""

from __future__ import annotations

import orjson

from ovserve.api.openai.errors import ERROR_TYPE, error_response
from ovserve.api.openai.fields import InvalidField
from ovserve.errors import Code, ModelNotFound


def test_every_code_has_an_openai_type() -> None:
    assert set(ERROR_TYPE) == set(Code)


def test_error_documents() -> None:
    answer = error_response(InvalidField("temperature", "The field 'temperature' must be a number"))
    assert answer.status == 400
    assert orjson.loads(answer.body) == {
        "error": {
            "message": "The field 'temperature' must be a number",
            "type": "invalid_request_error",
            "param": "temperature",
            "code": None,
        }
    }
    missing = error_response(ModelNotFound("m"))
    assert missing.status == 404
    assert orjson.loads(missing.body)["error"]["code"] == "model_not_found"
    hidden = error_response(KeyError("detail"))
    assert hidden.status == 500
    assert "detail" not in hidden.body.decode()
