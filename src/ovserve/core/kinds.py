"""Kinds of manager streams that are not versioned models: OVMS's DAG pipelines and MediaPipe graphs.

Such a stream is one servable whose version requests do not choose (OVMS ignores the version a
request names). When it cannot serve, requests get its kind's texts: ``not_loaded_yet`` with the
reason while it is invalid or failed, ``retired`` once the configuration dropped it. A version
whose reload fails stops serving (it no longer validates: OVMS does not keep the old one), and a
failed version is tried again only when its fingerprint changes (the same inputs fail the same way).
A kind served on some APIs only (a graph: KServe, as OVMS) is not found on the others, also while
it cannot serve.
"""

from __future__ import annotations

from dataclasses import dataclass

from ovserve.errors import (
    GraphNotLoadedYet,
    GraphRetired,
    NotLoadedYet,
    PipelineNotLoadedYet,
    PipelineRetired,
    Retired,
)


@dataclass(frozen=True)
class StreamKind:
    """What a stream serves, and the errors (with OVMS's texts) a request gets when it cannot."""

    name: str
    not_loaded_yet: type[NotLoadedYet]
    retired: type[Retired]
    #: the APIs (``CallInfo.api`` names) it answers on; None: all, as a model
    apis: frozenset[str] | None = None


#: OVMS's DAG pipelines (``pipeline_config_list``): "Pipeline is not loaded yet" / "... retired"
PIPELINE = StreamKind("pipeline", PipelineNotLoadedYet, PipelineRetired)
#: MediaPipe graphs (``graph.pbtxt``): "Mediapipe is not loaded yet" / "Mediapipe is retired"
GRAPH = StreamKind("graph", GraphNotLoadedYet, GraphRetired, frozenset({"KServe"}))
