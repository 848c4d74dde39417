"""The KServe objects (deploy/kserve): every field checked against the ``kserve`` SDK's model classes.

The SDK's classes are generated from KServe's CRD schemas (and reuse the Kubernetes client's
classes for pod fields), so an unknown or misplaced field, a wrong type or a missing required
field is a failure here, as it would be for the API server.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest
from kserve import models as kserve_models
from kube import KSERVE_DIR, OLDEST_KUBERNETES, load_manifests, validate

CLASSES = {
    ("serving.kserve.io/v1alpha1", "ClusterServingRuntime"): "V1alpha1ClusterServingRuntime",
    ("serving.kserve.io/v1beta1", "InferenceService"): "V1beta1InferenceService",
}
PRIMITIVES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "bool": (bool,),
    "float": (int, float),
    "object": (object,),
    "datetime": (str,),
    "ResourceQuantity": (str, int, float),
}
# both notations of the generators: list[T] / dict(str, T) (kserve) and List[T] / Dict[str, T] (kubernetes)
LIST_TYPE = re.compile(r"^[lL]ist\[(.*)\]$")
DICT_TYPE = re.compile(r"^(?:dict\(str, (.*)\)|Dict\[str, (.*)\])$")
FILES = sorted(KSERVE_DIR.glob("*.yaml"))


def model_class(name: str) -> Any:
    for module in (kserve_models, kubernetes.client.models):
        if hasattr(module, name):
            return getattr(module, name)
    raise AssertionError(f"no SDK class {name}")


def check(data: Any, type_name: str, path: str) -> list[str]:
    """Problems of ``data`` as a ``type_name`` (the SDK's openapi type notation)."""
    if match := LIST_TYPE.match(type_name):
        if not isinstance(data, list):
            return [f"{path}: expected a list"]
        return [p for i, item in enumerate(data) for p in check(item, match[1], f"{path}[{i}]")]
    if match := DICT_TYPE.match(type_name):
        if not isinstance(data, dict):
            return [f"{path}: expected a mapping"]
        return [p for key, item in data.items() for p in check(item, match[1] or match[2], f"{path}.{key}")]
    if type_name in PRIMITIVES:
        ok = isinstance(data, PRIMITIVES[type_name]) and not (type_name == "int" and isinstance(data, bool))
        return [] if ok else [f"{path}: expected {type_name}, got {data!r}"]
    cls = model_class(type_name)
    if not isinstance(data, dict):
        return [f"{path}: expected a {type_name} mapping"]
    by_json = {json_name: attr for attr, json_name in cls.attribute_map.items()}
    problems = [f"{path}.{key}: not a field of {type_name}" for key in data if key not in by_json]
    for key, value in data.items():
        if key in by_json:
            problems += check(value, cls.openapi_types[by_json[key]], f"{path}.{key}")
    return problems


def build(data: Any, type_name: str) -> Any:
    """The SDK object for ``data`` (after :func:`check`): its constructors refuse missing required fields."""
    if match := LIST_TYPE.match(type_name):
        return [build(item, match[1]) for item in data]
    if match := DICT_TYPE.match(type_name):
        return {key: build(item, match[1] or match[2]) for key, item in data.items()}
    if type_name in PRIMITIVES:
        return data
    cls = model_class(type_name)
    by_json = {json_name: attr for attr, json_name in cls.attribute_map.items()}
    return cls(**{by_json[key]: build(value, cls.openapi_types[by_json[key]]) for key, value in data.items()})


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_fields_match_the_kserve_sdk(path: Path) -> None:
    for obj in load_manifests(path):
        key = (obj["apiVersion"], obj["kind"])
        assert key in CLASSES, f"{path.name}: unexpected {key}"
        assert check(obj, CLASSES[key], obj["kind"]) == []
        assert build(obj, CLASSES[key]).metadata.name == obj["metadata"]["name"]


def test_a_missing_required_field_is_caught() -> None:
    runtime = load_manifests(KSERVE_DIR / "cluster-serving-runtime.yaml")[0]
    del runtime["spec"]["containers"][0]["name"]
    with pytest.raises(ValueError, match="name"):
        build(runtime, "V1alpha1ClusterServingRuntime")


def test_a_misplaced_field_is_caught() -> None:
    runtime = load_manifests(KSERVE_DIR / "cluster-serving-runtime.yaml")[0]
    runtime["spec"]["containers"][0]["port"] = 9000  # "ports" is the field
    runtime["spec"]["protocolVersions"] = "v2"
    assert sorted(check(runtime, "V1alpha1ClusterServingRuntime", "rt")) == [
        "rt.spec.containers[0].port: not a field of V1Container",
        "rt.spec.protocolVersions: expected a list",
    ]


def test_runtime_follows_kserve_conventions() -> None:
    runtime = load_manifests(KSERVE_DIR / "cluster-serving-runtime.yaml")[0]
    spec = runtime["spec"]
    assert set(spec["protocolVersions"]) == {"v1", "v2", "grpc-v1", "grpc-v2"}
    formats = {f["name"] for f in spec["supportedModelFormats"]}
    assert formats == {"openvino", "onnx", "tflite", "paddle", "tensorflow"}
    (main,) = spec["containers"]
    assert main["name"] == "kserve-container"  # the name KServe's controller looks for
    args = main["args"]
    for arg in ("--model_name={{.Name}}", "--model_path=/mnt/models", "--rest_port=8080", "--port=9000"):
        assert arg in args
    assert main["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert spec["annotations"]["prometheus.kserve.io/port"] == "8080" and "--metrics_enable" in args
    assert main["securityContext"]["runAsNonRoot"] is True
    assert main["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"name": "tmp", "mountPath": "/tmp"} in main["volumeMounts"]


def test_runtime_pod_fields_validate_as_a_pod() -> None:
    """The runtime's container and volumes are pod fields: Kubernetes' own schema checks them."""
    spec = load_manifests(KSERVE_DIR / "cluster-serving-runtime.yaml")[0]["spec"]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "runtime-check"}, "spec": {}}
    pod["spec"] = {"containers": spec["containers"], "volumes": spec["volumes"]}
    validate(pod, OLDEST_KUBERNETES)


def test_grpc_example_names_its_port_h2c() -> None:
    (isvc,) = load_manifests(KSERVE_DIR / "inferenceservice-grpc.yaml")
    model = isvc["spec"]["predictor"]["model"]
    assert model["protocolVersion"] == "grpc-v2"
    assert model["ports"] == [{"name": "h2c", "containerPort": 9000, "protocol": "TCP"}]
    for path in FILES:
        for obj in load_manifests(path):
            if obj["kind"] == "InferenceService":
                assert obj["spec"]["predictor"]["model"]["runtime"] == "kserve-ovserve"
