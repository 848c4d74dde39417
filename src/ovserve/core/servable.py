"""The servable contract: what a request runs on once it resolved a model version."""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import ClassVar

import numpy as np

from ovserve.core.ids import ServableId
from ovserve.core.validation import validate_inputs
from ovserve.tensors import TensorSpec


@dataclass(frozen=True, slots=True)
class InferAnswer:
    """One answer of :meth:`Servable.infer_stream`: outputs, and parameters for the response
    (a graph's ``OVMS_MP_TIMESTAMP``)."""

    outputs: dict[str, np.ndarray]
    parameters: Mapping[str, int | str | bool] = field(default_factory=dict)


class Servable(abc.ABC):
    """One runnable model version (or pipeline).

    ``inputs`` and ``outputs`` list the tensors with the names the model file gives, in
    the model's order. :meth:`infer` validates the inputs against them (the one
    validation every front end shares) and runs the model. A servable is used only
    from the event loop; :meth:`close` is called once no request holds it any more.

    ``special_inputs`` and ``special_outputs`` are tensors a servable takes and gives
    besides the model's own (a stateful model's ``sequence_id``): codecs decode and encode
    them with these specs; metadata does not list them.
    """

    #: the APIs it answers on: ``CallInfo.api`` names (a MediaPipe graph: KServe only, as OVMS)
    apis: ClassVar[frozenset[str]] = frozenset({"KServe", "TensorFlowServing"})
    special_inputs: ClassVar[Mapping[str, TensorSpec]] = MappingProxyType({})
    special_outputs: ClassVar[Mapping[str, TensorSpec]] = MappingProxyType({})

    def __init__(self, servable_id: ServableId, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]):
        self.id = servable_id
        self.inputs: dict[str, TensorSpec] = {t.name: t for t in inputs}
        self.outputs: dict[str, TensorSpec] = {t.name: t for t in outputs}

    @property
    def name(self) -> str:
        return self.id.name

    @property
    def version(self) -> int:
        return self.id.version

    @property
    def parallelism(self) -> int:
        """How many calls (batches) it runs at once; more wait their turn. A backend with a pool
        says its size; a wrapper says its inner servable's; 1 by default."""
        return 1

    async def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Validate ``inputs`` and run; returns every output in the model's order."""
        validate_inputs(self.id, self.inputs, inputs)
        return await self.run(inputs)

    @abc.abstractmethod
    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run already validated inputs. Must not block the event loop."""

    @property
    def streams_answers(self) -> bool:
        """Whether a streaming call (gRPC ``ModelStreamInfer``) answers through :meth:`infer_stream`,
        possibly several times per request (a MediaPipe graph); False: once, through :meth:`infer`."""
        return False

    async def infer_stream(self, inputs: Mapping[str, np.ndarray]) -> AsyncIterator[InferAnswer]:
        """Each answer to one request, validated as :meth:`infer`; a model answers once."""
        yield InferAnswer(await self.infer(inputs))

    def close(self) -> None:  # noqa: B027 - optional hook
        """Free the resources; called once, after the last request let go."""
