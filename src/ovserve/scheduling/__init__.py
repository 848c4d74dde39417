"""Scheduling: batching and queues, as servables that wrap servables (never patching a model).

Depends on ``core``, ``config``, ``tensors`` and ``errors`` only; the composition root
installs it (:func:`with_batching`) and connects its hooks.
"""

from ovserve.scheduling.batching import BatchingHooks, BatchingServable
from ovserve.scheduling.loader import BatchingLoader, backend_config, with_batching

__all__ = ["BatchingHooks", "BatchingLoader", "BatchingServable", "backend_config", "with_batching"]
