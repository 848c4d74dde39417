"""A failed call leaves nothing of its request alive: no reference cycle through the raised error.

The raised error's traceback holds the request path's frames (and the decoder's, whose locals hold
the request body); a local variable naming the error in one of those frames closes a cycle that
only the cyclic collector frees, so a failed 20 MB request stayed in memory until it ran
(tests/integration/test_hostile_grpc.py saw it now and then as RSS growth). With the collector
off, the body must be gone once the caller has dropped the error.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator, Mapping

import numpy as np
import pytest

from ovserve.api import request_path
from ovserve.api.tfs.wording import tfs_wording
from ovserve.core.servable import Servable
from ovserve.errors import EmptyBinaryItem, InvalidInput, ServingError
from ovserve.metrics import calls
from ovserve.tensors import InferRequest

from .kserve.fakes import EchoServable, make_context, spec


class Body:
    """Stands for a request body: something the decoder's frame holds, watched by a weak reference."""


class EmptyImage(EchoServable):
    """Refuses every call as the image conversion refuses an empty item (a reworded error)."""

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise EmptyBinaryItem("item 0 of input x has no bytes")


@pytest.fixture(autouse=True)
def no_collector() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _failed_call(
    servable: Servable, fail_in_decode: bool, wording: request_path.Wording | None
) -> weakref.ref[Body]:
    """Run one failing call (the error dropped by the caller) and return a weak reference to its body."""
    watched: list[weakref.ref[Body]] = []

    def decode(_: Servable) -> InferRequest:
        body = Body()
        watched.append(weakref.ref(body))
        if fail_in_decode:
            raise InvalidInput("Invalid content size of tensor proto")
        return InferRequest({"x": np.ones((1, 2), np.float32)})

    def encode(*_: object) -> None:
        raise AssertionError("a failed call is not encoded")

    async def scenario() -> None:
        ctx = await make_context(servable)
        try:
            await request_path.infer(
                ctx, calls.TFS_GRPC_PREDICT, servable.name, None, decode, encode, wording
            )
        except ServingError:
            pass
        else:
            raise AssertionError("the call should fail")

    asyncio.run(scenario())
    (ref,) = watched
    return ref


@pytest.mark.parametrize("wording", [None, tfs_wording], ids=["as raised", "reworded"])
@pytest.mark.parametrize("fail_in_decode", [True, False], ids=["decode fails", "run fails"])
def test_a_failed_calls_request_is_freed_without_the_cycle_collector(
    fail_in_decode: bool, wording: request_path.Wording | None
) -> None:
    servable = EmptyImage("m", [spec("x", "FP32", -1, 2)])
    ref = _failed_call(servable, fail_in_decode, wording)
    assert ref() is None, "the failed request is kept alive by a reference cycle"
