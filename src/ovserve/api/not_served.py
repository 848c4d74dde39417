"""Why a model is not fully served: the one summary that KServe's model load and TF Serving's config
reload both answer with."""

from __future__ import annotations

from ovserve.core.manager import ServableManager
from ovserve.core.states import State
from ovserve.errors import Code


def not_served_reasons(manager: ServableManager, name: str) -> list[str]:
    """Each failed version of ``name`` (ascending), its repository's error, or "no version is
    available"; empty when the model is served."""
    reasons = [
        f"version {status.version}: {status.error_message}"
        for status in sorted(manager.status(name), key=lambda s: s.version)
        if status.error_code != Code.OK and status.state != State.END
    ]
    stream_error = manager.stream_error(name)
    if stream_error is not None:
        reasons.append(stream_error.message)
    if not reasons and not manager.available_versions(name):
        reasons.append("no version is available")
    return reasons
