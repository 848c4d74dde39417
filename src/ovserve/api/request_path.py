"""The one request path that every front end's inference call goes through.

A front end supplies how to decode its payload into named numpy inputs (given the
resolved servable, whose specs some codecs need) and how to encode the outputs. The
version is pinned for the whole call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ovserve.core.manager import ServableManager
from ovserve.core.servable import Servable
from ovserve.errors import InvalidInput
from ovserve.tensors import InferRequest, InferResponse

R = TypeVar("R")


async def infer(
    manager: ServableManager,
    name: str,
    version: int | None,
    decode: Callable[[Servable], InferRequest],
    encode: Callable[[Servable, InferRequest, InferResponse], R],
) -> R:
    """Resolve ``name``/``version``, decode, validate and run, encode."""
    with manager.acquire(name, version) as servable:
        request = decode(servable)
        outputs = await servable.infer(request.inputs)
        response = InferResponse(servable.name, servable.version, outputs, request.id)
        return encode(servable, request, response)


def parse_version(text: str | None) -> int | None:
    """A version from a URL or request field: digits only; empty or 0 means "newest"."""
    if not text:
        return None
    if not (text.isascii() and text.isdigit()):
        raise InvalidInput(f"invalid model version format in request: {text!r}")
    return int(text) or None
