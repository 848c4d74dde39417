"""A ``DL model`` node: a model version served by the same manager as every model.

The node does not hold the model: each pipeline request pins the version it runs
(:meth:`ModelNode.pin`, through an ``acquire(name, version)`` callable with
:meth:`ServableManager.acquire <ovserve.core.manager.ServableManager.acquire>`'s contract)
for the whole request, so every item of a demultiplexed request runs on one version, and
a version being replaced is closed only once the requests using it ended. The tensor
specs are read once, when the pipeline is built (and again when it is rebuilt after the
model changed). Tensors pass between nodes as they are: the node runs the version without
the string and image conversions made for clients (``Servable.without_conversion``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager, ExitStack
from typing import Protocol

import numpy as np

from ovserve.tensors import TensorSpec

#: runs one set of inputs on one pinned node
RunFn = Callable[[Mapping[str, np.ndarray]], Awaitable[dict[str, np.ndarray]]]


class Runnable(Protocol):
    """What the node needs of a served model version (a :class:`~ovserve.core.servable.Servable`)."""

    @property
    def inputs(self) -> Mapping[str, TensorSpec]: ...

    @property
    def outputs(self) -> Mapping[str, TensorSpec]: ...

    @property
    def parallelism(self) -> int: ...

    @property
    def special_inputs(self) -> Mapping[str, TensorSpec]: ...

    @property
    def without_conversion(self) -> Runnable:
        """The version without the string and image conversions made for clients."""
        ...

    async def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...


#: ``acquire(name, version)``: pins a version (None: the newest available) until the context exits;
#: raises the manager's errors (ModelNotFound, VersionNotFound, ModelNotReady, VersionRetired)
Acquire = Callable[[str, int | None], AbstractContextManager[Runnable]]


class ModelNode:
    """One model version as a pipeline node. Implements :class:`~.nodes.Node`, and :meth:`pin`.

    ``inputs`` and ``outputs`` are the version's specs when the node was built. :meth:`run`
    pins the version for one call; the executor uses :meth:`pin` once per pipeline request
    instead.
    """

    def __init__(self, model_name: str, version: int | None, acquire: Acquire) -> None:
        self.model_name = model_name
        self.version = version
        self._acquire = acquire
        with acquire(model_name, version) as pinned:
            servable = pinned.without_conversion
            self._inputs = dict(servable.inputs)
            self._outputs = dict(servable.outputs)
            self.parallelism = servable.parallelism
            #: a stateful model takes a sequence id (and gives one) besides its own tensors
            self.is_stateful = bool(servable.special_inputs)

    @property
    def inputs(self) -> Mapping[str, TensorSpec]:
        return self._inputs

    @property
    def outputs(self) -> Mapping[str, TensorSpec]:
        return self._outputs

    def pin(self, stack: ExitStack) -> RunFn:
        """Pin the version until ``stack`` closes; returns its (validating) infer call."""
        servable = stack.enter_context(self._acquire(self.model_name, self.version))
        return servable.without_conversion.infer

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        with self._acquire(self.model_name, self.version) as servable:
            return await servable.without_conversion.infer(inputs)

    def close(self) -> None:
        """Nothing to free: the manager owns the model."""
