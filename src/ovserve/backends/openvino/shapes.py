"""Which input shapes a model with dynamic dimensions can run, asked before OpenVINO runs them.

A model input declared ``[?,3,?,?]`` often takes only some sizes: a detector whose
strided layers and skip connections need H and W divisible by 32, a pooling layer that
refuses a batch of zero. OpenVINO finds out only inside the inference, and its CPU plugin
then leaves the stream's graph in a state where the *last shape that worked* fails too,
until a different shape runs (OpenVINO 2026.4; the same happens on a fresh infer request
of the same compiled model). One bad request would take the model's usual input size
down with it.

So the servable asks OpenVINO's shape inference first, on a private, light copy of the
model (constants of more than :data:`LIGHT_LIMIT` elements, the weights, become
parameters of the same shape: shape inference needs their shapes, not their values, and
the copy must not keep the weights in memory): :meth:`ShapeCheck.verdict` answers from a bounded
memo of the shapes already seen; an unseen shape is checked by :meth:`ShapeCheck.check`
(blocking, a few milliseconds for a model of a few hundred operations; the servable runs
it off the event loop). A refused shape becomes a :class:`~ovserve.errors.ShapeMismatch`
(400 / INVALID_ARGUMENT) naming the model, the input shapes and the layer that refused.
"""

from __future__ import annotations

import collections
import contextlib
import math
import threading
from collections.abc import Sequence

import openvino as ov

from ovserve.core.ids import ServableId
from ovserve.errors import ShapeMismatch

#: constants with more elements than this are left out of the shape-checking copy
LIGHT_LIMIT = 1024
#: how many distinct input-shape signatures the memo keeps (least recently used leave first)
MEMO_SIZE = 512

Signature = tuple[tuple[int, ...], ...]

#: a verdict: None (unknown yet), "" (the model takes it) or the reason it does not
Verdict = str | None


class ShapeCheck:
    """OpenVINO's shape inference on a private copy of a model, with a memo of verdicts."""

    def __init__(self, sid: ServableId, model: ov.Model, input_names: Sequence[str]) -> None:
        self.sid = sid
        self._model = light_copy(model)
        self._ports = list(self._model.inputs)[: len(model.inputs)]
        self._names = list(input_names)
        self._memo: collections.OrderedDict[Signature, str] = collections.OrderedDict()
        self._lock = threading.Lock()  # one reshape of the private copy at a time

    def verdict(self, signature: Signature) -> Verdict:
        """The remembered verdict for ``signature``, or None when it was never checked."""
        reason = self._memo.get(signature)
        if reason is not None:
            # unlocked (the loop thread): a check on a checker thread may evict it just now
            with contextlib.suppress(KeyError):
                self._memo.move_to_end(signature)
        return reason

    def check(self, signature: Signature) -> str:
        """Run shape inference for ``signature`` (blocking); remember and return the verdict."""
        with self._lock:
            try:
                self._model.reshape(
                    {p: ov.PartialShape(list(s)) for p, s in zip(self._ports, signature, strict=True)}
                )
                reason = ""
            except Exception as exc:
                reason = refusal(exc)
            memo = self._memo
            memo[signature] = reason
            memo.move_to_end(signature)
            while len(memo) > MEMO_SIZE:
                memo.popitem(last=False)
            return reason

    def error(self, signature: Signature, reason: str) -> ShapeMismatch:
        shapes = ", ".join(f"{n} {list(s)}" for n, s in zip(self._names, signature, strict=True))
        return ShapeMismatch(
            f"Invalid input shape - model {self.sid.name} version {self.sid.version} cannot run inputs of "
            f"shape {shapes}: {reason}"
        )


def light_copy(model: ov.Model) -> ov.Model:
    """A copy of ``model`` whose large constants are parameters (appended after its inputs)."""
    copy = model.clone()
    stand_ins = []
    for node in copy.get_ordered_ops():
        if node.get_type_name() != "Constant":
            continue
        out = node.output(0)
        if out.get_partial_shape().is_static and math.prod(out.get_shape()) > LIGHT_LIMIT:
            stand_in = ov.opset13.parameter(out.get_partial_shape(), out.get_element_type())
            out.replace(stand_in.output(0))
            stand_ins.append(stand_in)
    if stand_ins:
        copy.add_parameters(stand_ins)
    return copy


def refusal(exc: BaseException) -> str:
    """The useful part of an OpenVINO shape-inference error: the layer and the reason.

    OpenVINO's text is several lines: ``Check '...' failed at <source file>``, ``While
    validating node '<op> <name> (<inputs>) -> (<outputs>)' with friendly_name '<name>'``,
    then the reason. The source-file lines are left out.
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    layer = ""
    for line in lines:
        if "with friendly_name '" in line:
            layer = line.split("with friendly_name '", 1)[1].split("'", 1)[0]
    reasons = [
        line
        for line in lines
        if not line.startswith(("Exception from src", "Check '", "While validating node"))
        and "src/" not in line
    ]
    reason = reasons[-1].rstrip(":") if reasons else "shape inference failed"
    return f"layer {layer} refuses it: {reason}" if layer else reason
