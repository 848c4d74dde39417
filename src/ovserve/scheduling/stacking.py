"""Putting requests together on dimension 0 and taking the answers apart again.

Pure numpy, no state. Every request tensor has its batch on dimension 0; the helpers
here count a request's rows, cut a request into chunks, concatenate several requests
into one batch, and split a batch's outputs back into one answer per request.
Slices are views (no copy); concatenation copies once. :func:`batching_specs` gives a
batched model's specs as the batcher serves them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from ovserve.core.servable import Servable
from ovserve.errors import BackendError, InvalidInput, LoadError
from ovserve.tensors import Dim, TensorSpec

Tensors = Mapping[str, np.ndarray]


def batch_rows(inputs: Tensors) -> int:
    """The number of rows (dimension 0) every input shares; InvalidInput when they disagree."""
    rows = -1
    for name, array in inputs.items():
        if rows == -1:
            rows = array.shape[0]
        elif array.shape[0] != rows:
            sizes = ", ".join(f"{n} has {a.shape[0]}" for n, a in inputs.items())
            raise InvalidInput(
                f"Invalid input batch size - inputs must agree on dimension 0 for dynamic batching: {sizes}"
                f" (first mismatch: {name})"
            )
    return max(rows, 0)


def chunks(inputs: Tensors, rows: int, size: int) -> Iterator[tuple[dict[str, np.ndarray], int]]:
    """``inputs`` cut on dimension 0 into pieces of at most ``size`` rows: (piece, its rows)."""
    for start in range(0, rows, size):
        stop = min(start + size, rows)
        yield {name: array[start:stop] for name, array in inputs.items()}, stop - start


def concatenate(parts: Sequence[Tensors], names: Sequence[str]) -> dict[str, np.ndarray]:
    """One batch from several requests: each input of ``names`` concatenated on dimension 0."""
    if len(parts) == 1:
        return dict(parts[0])
    return {name: np.concatenate([part[name] for part in parts], axis=0) for name in names}


def split(outputs: Tensors, sizes: Sequence[int], what: str) -> list[dict[str, np.ndarray]]:
    """A batch's outputs cut back into one answer per request of ``sizes`` rows (views).

    Every output must have ``sum(sizes)`` rows; BackendError (naming ``what``, the model)
    otherwise: such a model cannot be batched on dimension 0.
    """
    total = sum(sizes)
    for name, array in outputs.items():
        if array.ndim == 0 or array.shape[0] != total:
            shape = tuple(array.shape)
            raise BackendError(
                f"Internal inference error: {what}: output {name} of shape {shape} does not have the batch's "
                f"{total} rows on dimension 0, so dynamic batching cannot split it; turn dynamic_batching off "
                "for this model"
            )
    if len(sizes) == 1:
        return [dict(outputs)]
    answers: list[dict[str, np.ndarray]] = []
    start = 0
    for size in sizes:
        stop = start + size
        answers.append({name: array[start:stop] for name, array in outputs.items()})
        start = stop
    return answers


def join(answers: Sequence[Tensors]) -> dict[str, np.ndarray]:
    """The answer of a request that ran in chunks: each output concatenated on dimension 0."""
    if len(answers) == 1:
        return dict(answers[0])
    return {name: np.concatenate([a[name] for a in answers], axis=0) for name in answers[0]}


def batching_specs(inner: Servable, max_batch: int) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """The wrapper's specs: ``inner``'s with dimension 0 taking any number of rows."""
    inputs: list[TensorSpec] = []
    for spec in inner.inputs.values():
        if not spec.dims:
            raise LoadError(
                f"dynamic_batching: input {spec.name} of {inner.id} is a scalar, without a batch dimension"
            )
        dim = spec.dims[0]
        if not (dim.accepts(1) and dim.accepts(max_batch)):
            raise LoadError(
                f"dynamic_batching: input {spec.name} of {inner.id} has batch dimension {dim}, which cannot "
                f"take batches of 1 to max_batch_size ({max_batch}) rows; leave shape and batch_size unset "
                "(batching then makes dimension 0 dynamic) or give dimension 0 a range"
            )
        inputs.append(
            TensorSpec(spec.name, spec.dtype, (Dim(min(dim.lo, 1), -1), *spec.dims[1:]), spec.layout)
        )
    outputs: list[TensorSpec] = []
    for spec in inner.outputs.values():
        if not spec.dims:
            raise LoadError(
                f"dynamic_batching: output {spec.name} of {inner.id} is a scalar, without a batch dimension"
            )
        outputs.append(TensorSpec(spec.name, spec.dtype, (Dim.any(), *spec.dims[1:])))
    return inputs, outputs
