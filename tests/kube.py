"""The Helm chart (deploy/helm/ovserve) rendered offline with Helm's own engine, and its objects.

Helm's engine is the one in the ``helm-python-sdk`` wheel (Helm v4's Go SDK behind a C ABI):
no cluster, no ``helm`` binary. Objects are validated against Kubernetes' OpenAPI schemas with
``kubernetes-validate`` (strict: unknown fields are errors).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
CHART = REPO_ROOT / "deploy" / "helm" / "ovserve"
KSERVE_DIR = REPO_ROOT / "deploy" / "kserve"
#: the oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest schemas at hand
OLDEST_KUBERNETES = "1.29.0"
NEWEST_KUBERNETES = kubernetes_validate.latest_version()
RELEASE, NAMESPACE = "demo", "serving"

Manifest = dict[str, Any]


def render(values: dict[str, Any] | None = None) -> list[Manifest]:
    """Every object the chart renders for ``values`` (NOTES.txt left out)."""
    rendered = helm.Chart.load(CHART).render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return [doc for name, text in sorted(rendered.items()) if name.endswith(".yaml") for doc in _docs(text)]


def _docs(text: str) -> Iterator[Manifest]:
    for doc in yaml.safe_load_all(text):
        if doc:
            yield doc


def load_manifests(path: Path) -> list[Manifest]:
    return list(_docs(path.read_text()))


def find(objects: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    matches = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(matches) == 1, f"{len(matches)} objects of kind {kind} named {name}"
    return matches[0]


def kinds(objects: list[Manifest]) -> list[str]:
    return sorted(o["kind"] for o in objects)


def is_builtin(obj: Manifest) -> bool:
    """Kinds whose schemas Kubernetes itself defines (CRDs such as ServiceMonitor are not)."""
    group = obj["apiVersion"].rpartition("/")[0]
    return group in ("", "apps", "autoscaling", "policy", "batch", "networking.k8s.io")


def validate(obj: Manifest, version: str) -> None:
    """Raise kubernetes_validate.ValidationError when ``obj`` breaks the schema of ``version``."""
    kubernetes_validate.validate(obj, version, strict=True)


def container(objects: list[Manifest]) -> Manifest:
    containers = find(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])
