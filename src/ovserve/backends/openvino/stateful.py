"""Stateful models on OpenVINO: one sequence step on a pooled infer request, with its state.

A stateful model keeps state in variables (ReadValue/Assign pairs) that live in each
infer request. Sequences share the request pool, so a step restores its sequence's saved
state into whichever request is free (or resets it for a sequence start), runs, and
copies the state out again, as OVMS did (``query_state``, ``VariableState.state``,
``reset_state``). The saved state is a dict of variable id -> ``ov.Tensor`` copy, opaque to
the caller (``ovserve.scheduling.stateful``), which keeps it per sequence.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import cast

import numpy as np
import openvino as ov
from openvino._offline_transformations import apply_low_latency_transformation

from ovserve.backends.openvino.servable import OpenVINOServable
from ovserve.errors import LoadError

log = logging.getLogger(__name__)

#: a sequence's saved model state: variable id -> a copy of its tensor
State = dict[str, ov.Tensor]


def apply_low_latency(model: ov.Model) -> None:
    """OpenVINO's LowLatency2: TensorIterator/Loop bodies keep their state in variables."""
    try:
        apply_low_latency_transformation(model, True)
    except Exception as exc:
        raise LoadError(f"Low latency transformation failed: {exc}") from exc


def prepare_stateful(model: ov.Model, name: str, low_latency: bool) -> None:
    """Apply LowLatency2 when asked; warn when the model has no state variables (it is served anyway,
    as OVMS serves it: its sequences then have no state to keep)."""
    if low_latency:
        apply_low_latency(model)
    if not model.get_variables():
        log.warning(
            "stateful model %s has no state variables (ReadValue/Assign); set "
            "low_latency_transformation if it has a TensorIterator or Loop",
            name,
        )


class StatefulOpenVINOServable(OpenVINOServable):
    """A compiled stateful model whose pool runs sequence steps (:meth:`run_step`)."""

    async def run_step(
        self, inputs: Mapping[str, np.ndarray], state: object | None
    ) -> tuple[dict[str, np.ndarray], State]:
        """Run one step from ``state`` (None: the model's initial state); return outputs and new state.

        :meth:`OpenVINOServable._infer` with the state restored into the request before the
        run and copied out after it (a failure of either is the step's failure).
        """
        outputs, saved = await self._infer(inputs, lambda request: _restore(request, state), _save)
        return outputs, cast(State, saved)


def _restore(request: ov.InferRequest, state: object | None) -> None:
    if state is None:
        request.reset_state()
        return
    assert isinstance(state, dict)
    for variable in request.query_state():
        saved = state.get(variable.name)
        if saved is None:
            raise RuntimeError(f"the sequence's saved state has no variable {variable.name}")
        variable.state = saved


def _save(request: ov.InferRequest) -> State:
    saved: State = {}
    for variable in request.query_state():
        tensor = variable.state
        copy = ov.Tensor(tensor.element_type, tensor.shape)
        tensor.copy_to(copy)
        saved[variable.name] = copy
    return saved
