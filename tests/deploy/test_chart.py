"""The Helm chart: `helm lint --strict`, schema validation of every object, and what it renders.

Three value sets: the defaults and the chart's ci/*-values.yaml: a scaled, secured one (HPA on CPU
and a custom metric, a ServiceMonitor, storage credentials, TLS and an API key) and single-model
mode with mTLS.
"""

from __future__ import annotations

from typing import Any

import helm_python as helm
import pytest
import yaml
from kube import (
    CHART,
    NEWEST_KUBERNETES,
    OLDEST_KUBERNETES,
    RELEASE,
    container,
    find,
    is_builtin,
    kinds,
    render,
)
from kube import validate as validate_object

FULLNAME = f"{RELEASE}-ovserve"

SCALED: dict[str, Any] = yaml.safe_load((CHART / "ci" / "scaled-values.yaml").read_text())
SINGLE_MTLS: dict[str, Any] = yaml.safe_load((CHART / "ci" / "single-mtls-values.yaml").read_text())
VALUE_SETS = {"default": {}, "scaled": SCALED, "single-mtls": SINGLE_MTLS}


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_helm_lint_strict(values: dict[str, Any]) -> None:
    report = helm.lint(CHART, values, strict=True, kube_version=f"v{OLDEST_KUBERNETES}")
    problems = [m for m in report["messages"] if m["severity"] >= 2]  # warnings and errors
    assert report["errors"] == [] and problems == [], report


@pytest.mark.parametrize("version", [OLDEST_KUBERNETES, NEWEST_KUBERNETES])
@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_every_object_validates_strictly(values: dict[str, Any], version: str) -> None:
    objects = render(values)
    assert "Deployment" in kinds(objects)
    for obj in objects:
        if is_builtin(obj):
            validate_object(obj, version)
        else:
            assert obj["kind"] == "ServiceMonitor", obj["kind"]  # the only custom resource


def test_default_probes_ports_and_security_context() -> None:
    objects = render()
    assert kinds(objects) == [
        "ConfigMap",
        "Deployment",
        "PodDisruptionBudget",
        "Service",
        "Service",
        "ServiceAccount",
    ]
    spec = find(objects, "Deployment")["spec"]["template"]["spec"]
    main = container(objects)
    assert main["ports"] == [
        {"name": "grpc", "containerPort": 9000, "protocol": "TCP"},
        {"name": "rest", "containerPort": 8000, "protocol": "TCP"},
    ]
    assert main["startupProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "rest", "scheme": "HTTP"}
    assert main["startupProbe"]["periodSeconds"] * main["startupProbe"]["failureThreshold"] == 600
    assert main["livenessProbe"]["grpc"] == {"port": 9000, "service": ""}
    assert main["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "rest", "scheme": "HTTP"}
    assert main["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] == 5000
    assert spec["automountServiceAccountToken"] is False
    # drain: pre-stop wait + --shutdown_grace_seconds + time to close
    assert "--shutdown_grace_seconds=30" in main["args"]
    assert spec["terminationGracePeriodSeconds"] == 5 + 30 + 10
    assert main["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]


def test_default_config_map_is_mounted_as_a_directory() -> None:
    objects = render()
    main = container(objects)
    assert "--config_path=/config/config.json" in main["args"]
    assert "--file_system_poll_wait_seconds=1" in main["args"]
    config_mount = next(m for m in main["volumeMounts"] if m["name"] == "config")
    assert "subPath" not in config_mount  # a subPath mount never sees ConfigMap updates
    volumes = {v["name"]: v for v in find(objects, "Deployment")["spec"]["template"]["spec"]["volumes"]}
    assert volumes["config"]["configMap"]["name"] == f"{FULLNAME}-config"
    assert find(objects, "ConfigMap")["data"]["config.json"].strip().startswith("{")
    assert {m["mountPath"] for m in main["volumeMounts"]} == {"/tmp", "/opt/cache", "/config", "/models"}


def test_services_name_both_ports_with_app_protocols() -> None:
    objects = render()
    service = find(objects, "Service", FULLNAME)
    assert [(p["name"], p["port"], p["appProtocol"]) for p in service["spec"]["ports"]] == [
        ("grpc", 9000, "kubernetes.io/h2c"),
        ("rest", 8000, "http"),
    ]
    headless = find(objects, "Service", f"{FULLNAME}-headless")
    assert headless["spec"]["clusterIP"] == "None"


def test_scaled_values_autoscale_and_monitor() -> None:
    objects = render(SCALED)
    assert "replicas" not in find(objects, "Deployment")["spec"]  # the HPA owns the count
    hpa = find(objects, "HorizontalPodAutoscaler")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 10)
    assert hpa["metrics"][0]["resource"] == {
        "name": "cpu",
        "target": {"type": "Utilization", "averageUtilization": 70},
    }
    assert hpa["metrics"][1]["pods"]["metric"]["name"] == "ovms_current_requests"
    monitor = find(objects, "ServiceMonitor")
    assert monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "server"
    endpoint = monitor["spec"]["endpoints"][0]
    assert (endpoint["port"], endpoint["path"], endpoint["scheme"]) == ("rest", "/metrics", "https")
    assert endpoint["tlsConfig"]["ca"]["secret"] == {"name": "ovserve-tls", "key": "ca.crt"}
    annotations = find(objects, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scheme"] == "https" and annotations["prometheus.io/port"] == "8000"


def test_scaled_values_wire_credentials_tls_and_api_key() -> None:
    objects = render(SCALED)
    main = container(objects)
    secret = find(objects, "Secret", f"{FULLNAME}-storage")
    assert secret["stringData"]["S3_ENDPOINT"] == "http://minio:9000"
    assert main["envFrom"] == [{"secretRef": {"name": f"{FULLNAME}-storage"}}]
    assert {"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": "/etc/ovserve/gcs/key.json"} in main["env"]
    for flag in ("--tls_cert_path=/etc/ovserve/tls/tls.crt", "--tls_key_path=/etc/ovserve/tls/tls.key"):
        assert flag in main["args"]
    assert "--api_key_file=/etc/ovserve/api-key/api_key" in main["args"]
    assert main["args"][-2:] == ["--rest_workers", "2"]
    # the kubelet's gRPC probe speaks plaintext: with TLS the probes are HTTPS
    assert main["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "rest", "scheme": "HTTPS"}
    assert main["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
    volumes = {v["name"]: v for v in find(objects, "Deployment")["spec"]["template"]["spec"]["volumes"]}
    assert volumes["tls"]["secret"]["secretName"] == "ovserve-tls"
    assert volumes["tmp"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "1Gi"}
    assert "models" not in volumes


def test_single_model_with_client_certificates() -> None:
    objects = render(SINGLE_MTLS)
    assert kinds(objects) == ["Deployment", "Service", "ServiceAccount"]
    main = container(objects)
    assert main["args"][:2] == ["--model_name=resnet", "--model_path=gs://models/resnet"]
    assert "--tls_client_ca_path=/etc/ovserve/tls/ca.crt" in main["args"]
    assert not any(a.startswith("--cache_dir") for a in main["args"])
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert main[probe]["tcpSocket"] == {"port": "rest"}, probe
    assert "lifecycle" not in main
    assert find(objects, "Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 130
    assert main["envFrom"] == [{"secretRef": {"name": "s3-credentials"}}]


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"replicaCount": "two"}, "/replicaCount"),
        ({"ports": {"grpc": 70000, "rest": 8000}}, "/ports/grpc"),
        ({"server": {"logLevel": "LOUD"}}, "/server/logLevel"),
        ({"replicas": 3}, "replicas"),
        ({"server": {"extraArgs": [{"rest_workers": 2}]}}, "/server/extraArgs/0"),
        ({"tls": {"secretName": "Not_A_Name"}}, "/tls/secretName"),
    ],
)
def test_bad_values_are_refused_with_their_path(values: dict[str, Any], named: str) -> None:
    with pytest.raises(helm.HelmValuesError) as refused:
        render(values)
    assert named in str(refused.value)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"config": {"enabled": False}}, "singleModel.name is required"),
        ({"tls": {"enabled": True}}, "tls.secretName is required"),
        ({"apiKey": {"enabled": True}}, "apiKey.secretName is required"),
    ],
)
def test_missing_required_values_are_named(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmError) as refused:
        render(values)
    assert message in str(refused.value)


def test_fixed_ids_can_be_dropped_for_openshift() -> None:
    values = {"podSecurityContext": {"runAsUser": None, "runAsGroup": None, "fsGroup": None}}
    objects = render(values)
    assert find(objects, "Deployment")["spec"]["template"]["spec"]["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    validate_object(find(objects, "Deployment"), OLDEST_KUBERNETES)
