"""Where the server's servables come from, and the wrappers each loaded model version gets.

The composition root's wiring of sources: the model repositories (each version behind its
wrappers: dynamic batching, stateful sequences, string and image conversion), the generative
models, and config.json's pipelines (the DAG engine with C custom and Python nodes).
:class:`~ovserve.app.server.Server` puts them together with the manager and the lifecycle.
"""

from __future__ import annotations

from collections.abc import Callable

from ovserve.backends.genai import generative_loader
from ovserve.config.pipelines import PipelineConfig
from ovserve.config.types import ServerConfig
from ovserve.core.ids import ServableId
from ovserve.core.manager import ServableManager
from ovserve.core.servable import Servable
from ovserve.genai.source import GenerativeSource, with_stream_gates
from ovserve.metrics import MetricsRegistry
from ovserve.pipelines.build import MakeNode, build_pipeline
from ovserve.pipelines.model_node import Acquire
from ovserve.pipelines.node_factory import NodeFactory
from ovserve.pipelines.source import PipelineSource
from ovserve.preprocess import converting, with_string_conversion
from ovserve.repository.sources import RepositorySource
from ovserve.scheduling import BatchingHooks, with_batching
from ovserve.scheduling.loader import LoaderFactory
from ovserve.scheduling.sequences import SequenceCleaner
from ovserve.scheduling.stateful import with_stateful


def pipeline_source(manager: ServableManager) -> PipelineSource:
    """config.json's pipelines, built by the DAG engine with C custom and Python nodes; a pipeline
    whose inputs take images or whose outputs give strings converts them, as a model does."""

    def build(config: PipelineConfig, acquire: Acquire, make_node: MakeNode) -> Servable:
        return converting(build_pipeline(config, acquire, make_node))

    return PipelineSource(manager, build, NodeFactory().for_libraries)


def model_source(
    load: LoaderFactory,
    cleaner: SequenceCleaner,
    config: ServerConfig,
    metrics: MetricsRegistry | None,
    *,
    single_process: bool,
    test_gates: str | None = None,
) -> GenerativeSource:
    """Where model versions come from: the repositories (each version with its wrappers), and
    the generative models, which take no strings as tensors and get none of the wrappers
    (``test_gates``: the test gates' directory, for their ``stream-<model>`` gate)."""
    return GenerativeSource(
        RepositorySource(
            with_wrappers(load, cleaner, batching_hooks(metrics), single_process=single_process),
            config.storage,
        ),
        with_stream_gates(generative_loader, test_gates),
    )


def with_wrappers(
    load: LoaderFactory,
    cleaner: SequenceCleaner | None,
    hooks: Callable[[ServableId], BatchingHooks] | None = None,
    *,
    single_process: bool = True,
) -> LoaderFactory:
    """``load`` with the wrapper servables each loaded version gets where its config or tensors ask,
    inner to outer: dynamic batching, stateful sequences, string and image conversion (so batches
    and sequence steps see tensors, never strings)."""
    return with_string_conversion(
        with_stateful(with_batching(load, hooks=hooks), cleaner, single_process=single_process)
    )


def batching_hooks(metrics: MetricsRegistry | None) -> Callable[[ServableId], BatchingHooks] | None:
    """Feed each batcher's queue length and batch sizes into its metrics series."""
    if metrics is None:
        return None

    def hooks(sid: ServableId) -> BatchingHooks:
        series = metrics.batcher(sid)
        return BatchingHooks(on_queue_length=series.set_queue_length, on_batch=series.observe_batch)

    return hooks
