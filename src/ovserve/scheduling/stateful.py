"""Stateful models: a servable wrapper that runs each request as one step of a sequence.

Installed like batching, by a loader decorator (:func:`with_stateful`) for the models
whose config has ``stateful``. Requests carry two special inputs besides the model's
(OVMS's, TF Serving encodings; the same names on KServe): ``sequence_id`` (UINT64, shape
[1]) and ``sequence_control_input`` (UINT32, shape [1]: 0 none, 1 start, 2 end); every
answer carries ``sequence_id`` (UINT64, [1]). Metadata lists neither.

The inner servable runs one step with a given state (:class:`StepRunner`): the backend
restores the sequence's saved state into whichever infer request of its pool is free,
runs it and hands back the new state, so many sequences share the pool without mixing
state. Steps of one sequence run one at a time, in arrival order.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, cast

import numpy as np

from ovserve.config.types import ModelConfig, StatefulConfig
from ovserve.core.manager import Loader
from ovserve.core.servable import Servable, WrapperServable
from ovserve.core.validation import validate_inputs
from ovserve.errors import InvalidInput, LoadError, SequenceNotFound
from ovserve.scheduling.loader import LoaderFactory
from ovserve.scheduling.sequences import Control, SequenceCleaner, SequenceManager, sequence_error
from ovserve.tensors import Dim, TensorSpec, format_dims, precision_name

SEQUENCE_ID = "sequence_id"
SEQUENCE_CONTROL_INPUT = "sequence_control_input"

SEQUENCE_ID_NOT_PROVIDED = "Sequence ID has not been provided in request inputs"
INVALID_CONTROL_INPUT = "Unexpected value of sequence control input"
SEQUENCE_ID_BAD_TYPE = "Could not find sequence id in expected tensor proto field uint64_val"
CONTROL_INPUT_BAD_TYPE = "Could not find sequence control input in expected tensor proto field uint32_val"
NO_TENSOR_SHAPE = "Special input proto does not contain tensor shape information"

_ONE = (Dim.static(1),)
_SPECIAL_INPUTS = {
    SEQUENCE_ID: TensorSpec(SEQUENCE_ID, np.dtype(np.uint64), _ONE),
    SEQUENCE_CONTROL_INPUT: TensorSpec(SEQUENCE_CONTROL_INPUT, np.dtype(np.uint32), _ONE),
}
_SPECIAL_OUTPUTS = {SEQUENCE_ID: _SPECIAL_INPUTS[SEQUENCE_ID]}


class StepRunner(Protocol):
    """What a stateful model's backend servable offers: one step run with a given state.

    ``state`` None resets the model state (a sequence start); otherwise it is what an
    earlier step returned. Returns the outputs and the state the step left (opaque here).
    """

    async def run_step(
        self, inputs: Mapping[str, np.ndarray], state: object | None
    ) -> tuple[dict[str, np.ndarray], object]: ...


def read_special_inputs(inputs: Mapping[str, np.ndarray]) -> tuple[Control, int]:
    """The request's control and sequence id, checked as OVMS checks them (id 0 when absent)."""
    sequence_id = _special_value(inputs, SEQUENCE_ID, SEQUENCE_ID_BAD_TYPE)
    value = _special_value(inputs, SEQUENCE_CONTROL_INPUT, CONTROL_INPUT_BAD_TYPE)
    if value not in (0, 1, 2):
        raise InvalidInput(f"{INVALID_CONTROL_INPUT} - {value}; expected 0 (none), 1 (start) or 2 (end)")
    control = Control(value)
    if control != Control.START and sequence_id == 0:
        raise InvalidInput(
            f"{SEQUENCE_ID_NOT_PROVIDED} - a request that does not start a sequence must carry the "
            "sequence_id (UINT64, shape [1], not 0) of an open sequence"
        )
    return control, sequence_id


def _special_value(inputs: Mapping[str, np.ndarray], name: str, bad_type: str) -> int:
    array = inputs.get(name)
    if array is None:
        return 0
    spec = _SPECIAL_INPUTS[name]
    if array.ndim == 0:
        raise InvalidInput(f"{NO_TENSOR_SHAPE} - input name: {name}")
    if array.ndim != 1:
        raise InvalidInput(
            f"Invalid number of shape dimensions - Required shape for {name} is: (1); "
            f"Actual: {format_dims(array.shape)}"
        )
    if array.shape[0] != 1:
        raise InvalidInput(
            f"Invalid input shape - Required shape for {name} is: (1); Actual: {format_dims(array.shape)}"
        )
    if array.dtype != spec.dtype:
        raise InvalidInput(
            f"{bad_type} - {name} must be {spec.datatype} (DT_{spec.datatype}); "
            f"Actual: {precision_name(array.dtype)}"
        )
    return int(array[0])


class StatefulServable(WrapperServable):
    """A stateful model version: each request is one step of a sequence (see the module doc).

    Owns the version's :class:`SequenceManager`; registers it with the cleaner when the
    model has ``idle_sequence_cleanup``. Closing drops every sequence.
    """

    def __init__(
        self,
        inner: Servable,
        config: StatefulConfig,
        cleaner: SequenceCleaner | None = None,
    ) -> None:
        super().__init__(inner)
        if not callable(getattr(inner, "run_step", None)):
            raise LoadError(f"{inner.id}: this backend cannot serve stateful models")
        self._runner = cast(StepRunner, inner)  # run_step checked above
        self.config = config
        self.sequences = SequenceManager(inner.id, config.max_sequence_number)
        self._cleaner = cleaner if config.idle_sequence_cleanup else None
        if self._cleaner is not None:
            self._cleaner.register(self.sequences)

    @property
    def special_inputs(self) -> Mapping[str, TensorSpec]:
        return _SPECIAL_INPUTS

    @property
    def special_outputs(self) -> Mapping[str, TensorSpec]:
        return _SPECIAL_OUTPUTS

    async def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        control, sequence_id = read_special_inputs(inputs)
        model_inputs = {name: array for name, array in inputs.items() if name not in _SPECIAL_INPUTS}
        validate_inputs(self.id, self.inputs, model_inputs)
        return await self._step(control, sequence_id, model_inputs)

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return await self.infer(inputs)

    async def _step(
        self, control: Control, sequence_id: int, inputs: Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        sequence = self.sequences.begin(control, sequence_id)
        done = False
        try:
            async with sequence.lock:
                if sequence.removed:  # cleaned or ended while this request waited for its turn
                    raise sequence_error(SequenceNotFound, self.id, sequence.id)
                state = None if control == Control.START else sequence.state
                outputs, new_state = await self._runner.run_step(inputs, state)
                if control != Control.END:
                    sequence.save(new_state)
                done = True
        finally:
            if control == Control.END or (control == Control.START and not done):
                self.sequences.remove(sequence)
        outputs[SEQUENCE_ID] = np.array([sequence.id], dtype=np.uint64)
        return outputs

    def close(self) -> None:
        if self._cleaner is not None:
            self._cleaner.unregister(self.sequences)
        self.sequences.clear()
        self.inner.close()


class StatefulLoader:
    """Loads with ``inner`` and wraps the result in a :class:`StatefulServable` (blocking, off the loop)."""

    def __init__(self, inner: Loader, config: StatefulConfig, cleaner: SequenceCleaner | None) -> None:
        self.inner = inner
        self.config = config
        self.cleaner = cleaner

    def load(self) -> Servable:
        servable = self.inner.load()
        try:
            return StatefulServable(servable, self.config, self.cleaner)
        except BaseException:
            servable.close()
            raise


def with_stateful(
    factory: LoaderFactory, cleaner: SequenceCleaner | None, *, single_process: bool = True
) -> LoaderFactory:
    """``factory``, with stateful models served as :class:`StatefulServable`.

    ``single_process`` False (several serving processes): stateful models fail to load,
    since a sequence lives in one process and its requests may reach any.
    """

    def make(config: ModelConfig, version: int, path: Path) -> Loader:
        if config.stateful is None:
            return factory(config, version, path)
        if not single_process:
            return _Refused(
                f"stateful model {config.name}: sequences live in one serving process; "
                "serve stateful models with a single process (no --rest_workers / --grpc_workers > 1)"
            )
        return StatefulLoader(factory(config, version, path), config.stateful, cleaner)

    return make


class _Refused:
    """A loader that fails with ``message`` (the version's status says why)."""

    def __init__(self, message: str) -> None:
        self.message = message

    def load(self) -> Servable:
        raise LoadError(self.message)
