"""The servable contract: what a request runs on once it resolved a model version.

A servable is a backend's model version, a pipeline, or a *wrapper* that adds one concern
around another servable (dynamic batching, sequences of a stateful model, string and image
conversion, the tests' gates): :class:`WrapperServable`. Wrappers are installed at load
time by loader decorators (``with_batching`` and its kin), so the front ends and the
request path see one servable and never ask which kind it is: what they need to know
(how many calls run at once, the dynamic batching policy, the special tensors, the backend
that reports pool metrics, the servable under the client-side conversions) is a property
here, answered through the wrappers.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

import numpy as np

from ovserve.core.ids import ServableId
from ovserve.core.validation import validate_inputs
from ovserve.tensors import TensorSpec

_NONE: Mapping[str, TensorSpec] = MappingProxyType({})
NO_PARAMETERS: Mapping[str, object] = MappingProxyType({})
#: the parameters of the request being served (KServe's request ``parameters``), set by the request
#: path around :meth:`Servable.infer`, whose signature every servable shares: a MediaPipe graph reads
#: ``OVMS_MP_TIMESTAMP`` and checks side packets there
REQUEST_PARAMETERS: ContextVar[Mapping[str, object]] = ContextVar("REQUEST_PARAMETERS", default=NO_PARAMETERS)
_BOTH_APIS = frozenset({"KServe", "TensorFlowServing"})


class DynamicBatching(Protocol):
    """A dynamic batching policy as callers see it (``config.types.BatchingConfig`` fits it)."""

    @property
    def max_batch_size(self) -> int: ...

    @property
    def preferred_batch_sizes(self) -> Sequence[int]: ...

    @property
    def max_queue_delay_microseconds(self) -> int: ...


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
    """

    #: The APIs it answers on (``CallInfo.api`` names): both, but a MediaPipe graph, KServe only (as
    #: OVMS); elsewhere its name is not found. Plain attributes, not properties, as they are read on
    #: every request: a wrapper copies its inner servable's ``apis`` when it is made.
    apis: frozenset[str] = _BOTH_APIS
    #: Inputs whose gRPC ``raw_input_contents`` it takes as sent (``tensors.RawInput``: a MediaPipe
    #: graph's ``OVMS_PY_TENSOR`` inputs, as OVMS); none by default.
    raw_inputs: frozenset[str] = frozenset()

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

    @property
    def batching(self) -> DynamicBatching | None:
        """The dynamic batching policy its calls are queued under; None when calls run one by one."""
        return None

    @property
    def special_inputs(self) -> Mapping[str, TensorSpec]:
        """Tensors it takes besides the model's own (a stateful model's ``sequence_id``): codecs
        decode them with these specs; metadata does not list them."""
        return _NONE

    @property
    def special_outputs(self) -> Mapping[str, TensorSpec]:
        """Tensors it gives besides the model's own; codecs encode them with these specs."""
        return _NONE

    @property
    def backend(self) -> Servable:
        """The servable that runs the model (itself, unless it wraps one): where pool metrics come from."""
        return self

    @property
    def without_conversion(self) -> Servable:
        """This servable without the string and image conversions made for clients (itself unless
        it is the conversion wrapper): what a pipeline's model node calls, tensors in and out."""
        return self

    async def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Validate ``inputs`` and run; returns every output in the model's order."""
        validate_inputs(self.id, self.inputs, inputs)
        return await self.run(inputs)

    def infer_now(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray] | None:
        """:meth:`infer` done at once, without awaiting, when this servable can (a fast model with
        an idle infer request): the request path tries it first and saves the coroutine layers of
        :meth:`infer`. Validates as :meth:`infer` does (a refusal raises the same error); None when
        the caller must await :meth:`infer` instead (always, by default)."""
        return None

    @abc.abstractmethod
    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run already validated inputs. Must not block the event loop."""

    @property
    def streams_answers(self) -> bool:
        """Whether a streaming call (gRPC ``ModelStreamInfer``) answers through :meth:`infer_stream`,
        possibly several times per request (a MediaPipe graph); False: once, through :meth:`infer`."""
        return False

    @property
    def decoupled(self) -> bool:
        """Whether a streaming call may answer one request other than exactly once (Triton's
        ``model_transaction_policy.decoupled``: a client must then read a stream's replies, not
        pair them one to one with its requests): a MediaPipe graph with a generative Python node
        or several output streams; False for a model."""
        return False

    async def infer_stream(self, inputs: Mapping[str, np.ndarray]) -> AsyncGenerator[InferAnswer, None]:
        """Each answer to one request, validated as :meth:`infer`; a model answers once."""
        yield InferAnswer(await self.infer(inputs))

    def close(self) -> None:  # noqa: B027 - optional hook
        """Free the resources; called once, after the last request let go."""


class WrapperServable(Servable):
    """A servable that adds one concern around ``inner`` and is otherwise ``inner``.

    It has ``inner``'s id and (unless given others) its tensors; parallelism, batching
    policy, special tensors, backend and APIs (copied when it is made) are ``inner``'s; it owns ``inner``: :meth:`close`
    closes it. A subclass overrides what its concern changes. A wrapper answers once, through
    its own :meth:`infer` (so that its concern applies): ``streams_answers``, ``decoupled`` and
    ``raw_inputs`` are the defaults, not ``inner``'s.
    """

    def __init__(
        self,
        inner: Servable,
        inputs: Sequence[TensorSpec] | None = None,
        outputs: Sequence[TensorSpec] | None = None,
    ) -> None:
        super().__init__(
            inner.id,
            list(inner.inputs.values()) if inputs is None else inputs,
            list(inner.outputs.values()) if outputs is None else outputs,
        )
        self.inner = inner
        self.apis = inner.apis

    @property
    def parallelism(self) -> int:
        return self.inner.parallelism

    @property
    def batching(self) -> DynamicBatching | None:
        return self.inner.batching

    @property
    def special_inputs(self) -> Mapping[str, TensorSpec]:
        return self.inner.special_inputs

    @property
    def special_outputs(self) -> Mapping[str, TensorSpec]:
        return self.inner.special_outputs

    @property
    def backend(self) -> Servable:
        return self.inner.backend

    def close(self) -> None:
        self.inner.close()
