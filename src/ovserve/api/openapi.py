"""The OpenAPI 3 document of ovserve's REST surface, served at ``GET /v2/openapi.json``.

It follows the Open Inference Protocol's REST specification (KServe v2: health, server and
model metadata, inference with the binary tensor data extension's parameters, the model
repository extension) and TensorFlow Serving's REST API (model status, metadata, predict in
row and column format), plus ovserve's OVMS additions (``/v1/config``, ``/v1/config/reload``,
``/metrics``). Every error answer is ``{"error": "<message>"}``.

The document is what ``tests/integration/test_openapi.py`` hands schemathesis to generate
requests from: no client mistake it can build may get a 5xx.
"""

from __future__ import annotations

from typing import Any

from ovserve.api.http import HttpRequest, HttpResponse, Router, json_response

PATH = "/v2/openapi.json"

_STRING = {"type": "string"}
_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string", "description": "What was wrong, naming the problem"}},
}
_DATATYPE = {
    "type": "string",
    "enum": [
        "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
        "FP16", "FP32", "FP64", "BF16", "BYTES",
    ],
}  # fmt: skip
_SHAPE = {"type": "array", "items": {"type": "integer", "minimum": 0}}
_PARAMETERS = {"type": "object", "additionalProperties": True}
_TENSOR_META = {
    "type": "object",
    "required": ["name", "datatype", "shape"],
    "properties": {
        "name": _STRING,
        "datatype": _DATATYPE,
        "shape": {"type": "array", "items": {"type": "integer"}},
    },
}
_TENSOR_DATA = {
    "description": "Values in row-major order, flat or nested as the shape",
    "type": "array",
    "items": {},
}
_REQUEST_INPUT = {
    "type": "object",
    "required": ["name", "shape", "datatype"],
    "properties": {
        "name": _STRING,
        "shape": _SHAPE,
        "datatype": _DATATYPE,
        "parameters": {
            "type": "object",
            "properties": {"binary_data_size": {"type": "integer", "minimum": 0}},
            "additionalProperties": True,
        },
        "data": _TENSOR_DATA,
    },
}
_REQUEST_OUTPUT = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": _STRING,
        "parameters": {"type": "object", "properties": {"binary_data": {"type": "boolean"}}},
    },
}
_INFER_REQUEST = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "id": _STRING,
        "parameters": {"type": "object", "properties": {"binary_data_output": {"type": "boolean"}}},
        "inputs": {"type": "array", "items": _REQUEST_INPUT},
        "outputs": {"type": "array", "items": _REQUEST_OUTPUT},
    },
}
_INFER_RESPONSE = {
    "type": "object",
    "required": ["model_name", "outputs"],
    "properties": {
        "model_name": _STRING,
        "model_version": _STRING,
        "id": _STRING,
        "parameters": _PARAMETERS,
        "outputs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "shape", "datatype"],
                "properties": {
                    "name": _STRING,
                    "shape": _SHAPE,
                    "datatype": _DATATYPE,
                    "parameters": _PARAMETERS,
                    "data": _TENSOR_DATA,
                },
            },
        },
    },
}
_SERVER_METADATA = {
    "type": "object",
    "required": ["name", "version", "extensions"],
    "properties": {"name": _STRING, "version": _STRING, "extensions": {"type": "array", "items": _STRING}},
}
_MODEL_METADATA = {
    "type": "object",
    "required": ["name", "platform", "inputs", "outputs"],
    "properties": {
        "name": _STRING,
        "versions": {"type": "array", "items": _STRING},
        "platform": _STRING,
        "inputs": {"type": "array", "items": _TENSOR_META},
        "outputs": {"type": "array", "items": _TENSOR_META},
    },
}
_REPOSITORY_INDEX = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["name"],
        "properties": {"name": _STRING, "version": _STRING, "state": _STRING, "reason": _STRING},
    },
}
_VERSION_STATUS = {
    "type": "object",
    "required": ["model_version_status"],
    "properties": {
        "model_version_status": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["version", "state", "status"],
                "properties": {"version": _STRING, "state": _STRING, "status": {"type": "object"}},
            },
        }
    },
}
_TFS_VALUE = {"description": 'A tensor as nested JSON arrays; strings, or {"b64": ...} for bytes'}
_PREDICT_REQUEST = {
    "type": "object",
    "description": 'Row format ("instances") or column format ("inputs"), not both',
    "properties": {
        "signature_name": _STRING,
        "instances": {"type": "array", "items": _TFS_VALUE},
        "inputs": {"oneOf": [{"type": "object", "additionalProperties": _TFS_VALUE}, {"type": "array"}]},
    },
}
_PREDICT_RESPONSE = {
    "type": "object",
    "properties": {"predictions": {}, "outputs": {}},
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    words = {
        400: "A client mistake, named in the message",
        404: "No such model or version",
        406: "Method not allowed on this path",
        408: "The request did not arrive in time",
        412: "The body is not valid JSON",
        413: "The body is larger than --max_request_bytes",
        415: "Unsupported Content-Encoding",
        501: "Not implemented by this server",
        503: "The model or server is not ready",
    }
    return {str(code): _json(_ERROR, words[code]) for code in codes}


def _param(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string"}}


_NAME = _param("name")
_VERSION = _param("version", {"type": "integer", "minimum": 1})
_CLIENT_ERRORS = (400, 404, 408, 412, 413, 415)


def _get(summary: str, ok: dict[str, Any], *errors: int, params: tuple[dict[str, Any], ...] = ()) -> Any:
    return {
        "get": {"summary": summary, "parameters": list(params), "responses": {"200": ok, **_errors(*errors)}}
    }


def _post(
    summary: str, body: dict[str, Any] | None, ok: dict[str, Any], *errors: int, params: tuple[Any, ...] = ()
) -> Any:
    operation: dict[str, Any] = {"summary": summary, "parameters": list(params)}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    operation["responses"] = {"200": ok, **_errors(*errors)}
    return {"post": operation}


def _kserve_model_paths(prefix: str, params: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    return {
        prefix: _get(
            "Model metadata", _json(_MODEL_METADATA, "The model's metadata"), 400, 404, params=params
        ),
        prefix + "/ready": _get("Model readiness", {"description": "Ready"}, 400, 404, 503, params=params),
        prefix + "/infer": _post(
            "Inference (JSON, or JSON plus binary data with Inference-Header-Content-Length)",
            _INFER_REQUEST,
            _json(_INFER_RESPONSE, "The outputs"),
            *_CLIENT_ERRORS,
            503,
            params=params,
        ),
    }


def _tfs_model_paths(prefix: str, params: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    return {
        prefix: _get("Model version status", _json(_VERSION_STATUS, "Status of each version"), 400, 404, params=params),
        prefix + "/metadata": _get("Model signature", _json({"type": "object"}, "SignatureDefMap"), 400, 404, params=params),
        prefix + ":predict": _post(
            "Predict", _PREDICT_REQUEST, _json(_PREDICT_RESPONSE, "Predictions"), *_CLIENT_ERRORS, 503, params=params
        ),
    }  # fmt: skip


def document(version: str) -> dict[str, Any]:
    """The OpenAPI 3.0 document (``version``: ovserve's version)."""
    kserve_version = ({**_NAME}, _VERSION)
    paths: dict[str, Any] = {
        "/v2/health/live": _get("Server liveness", {"description": "Live"}),
        "/v2/health/ready": _get("Server readiness", {"description": "Ready"}, 503),
        "/v2": _get("Server metadata", _json(_SERVER_METADATA, "Name, version, extensions")),
        PATH: _get("This document", _json({"type": "object"}, "OpenAPI 3 document")),
        **_kserve_model_paths("/v2/models/{name}", (_NAME,)),
        **_kserve_model_paths("/v2/models/{name}/versions/{version}", kserve_version),
        "/v2/repository/index": _post("Repository index", None, _json(_REPOSITORY_INDEX, "Every model")),
        "/v2/repository/models/{name}/load": _post(
            "Load a model", None, {"description": "Loaded"}, 400, 404, params=(_NAME,)
        ),
        "/v2/repository/models/{name}/unload": _post(
            "Unload a model", None, {"description": "Unloaded"}, 400, 404, params=(_NAME,)
        ),
        **_tfs_model_paths("/v1/models/{name}", (_NAME,)),
        **_tfs_model_paths("/v1/models/{name}/versions/{version}", kserve_version),
        **_tfs_model_paths("/v1/models/{name}/labels/{label}", (_NAME, _param("label"))),
        "/v1/config": _get(
            "Every model's status (OVMS)", _json({"type": "object"}, "name -> version status")
        ),
        "/v1/config/reload": _post(
            "Reload config.json (OVMS)", None, _json({"type": "object"}, "name -> version status"), 400, 404
        ),
        "/metrics": _get(
            "Prometheus metrics (with --metrics_enable)",
            {"description": "Metrics", "content": {"text/plain": {"schema": _STRING}}},
            400,
        ),
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "ovserve REST API",
            "version": version,
            "description": "KServe v2 (Open Inference Protocol) and TensorFlow Serving REST APIs of ovserve, "
            'an OpenVINO model server. Errors are {"error": "<message>"}.',
        },
        "paths": paths,
    }


def add_routes(router: Router, version: str) -> None:
    """Serve the document at :data:`PATH`."""
    body = json_response(document(version))

    async def serve(request: HttpRequest) -> HttpResponse:
        return body

    router.add("GET", PATH, serve)
