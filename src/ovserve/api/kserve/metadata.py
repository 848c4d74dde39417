"""KServe v2 model metadata: one builder for REST (the JSON object) and gRPC (the same fields as a
``ModelMetadataResponse``), as TF Serving's has ``api/tfs/metadata.py``."""

from __future__ import annotations

from typing import Any

from ovserve.api.context import ServingContext
from ovserve.core.servable import Servable
from ovserve.tensors import TensorSpec

PLATFORM = "OpenVINO"


def tensor_metadata(spec: TensorSpec) -> dict[str, Any]:
    return {"name": spec.name, "datatype": spec.datatype, "shape": list(spec.shape)}


def model_metadata(ctx: ServingContext, servable: Servable) -> dict[str, Any]:
    """Metadata of a pinned servable; ``versions`` lists every AVAILABLE version of its name."""
    return {
        "name": servable.name,
        "versions": [str(v) for v in ctx.manager.available_versions(servable.name)],
        "platform": PLATFORM,
        "inputs": [tensor_metadata(spec) for spec in servable.inputs.values()],
        "outputs": [tensor_metadata(spec) for spec in servable.outputs.values()],
    }
