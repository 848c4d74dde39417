"""Frames on the supervisor ↔ worker sockets: a 4-byte big-endian length, then a pickle.

Both ends are processes of this same installation talking over a private socketpair,
so pickle (which carries ``ModelConfig`` tuples as they are) is safe here; it is never
used on a socket anyone else can reach.
"""

from __future__ import annotations

import asyncio
import pickle
import struct
from typing import Any

_HEADER = struct.Struct(">I")
#: a frame larger than this is a bug (metrics text of thousands of models stays far below)
MAX_FRAME = 256 * 1024 * 1024


def encode(message: tuple[Any, ...]) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    if len(body) > MAX_FRAME:
        raise ValueError(f"cluster message of {len(body)} bytes is larger than {MAX_FRAME}")
    return _HEADER.pack(len(body)) + body


async def read_message(reader: asyncio.StreamReader) -> tuple[Any, ...] | None:
    """The next message, or None when the other end closed the socket."""
    try:
        header = await reader.readexactly(_HEADER.size)
        (size,) = _HEADER.unpack(header)
        if size > MAX_FRAME:
            raise ValueError(f"cluster frame of {size} bytes is larger than {MAX_FRAME}")
        body = await reader.readexactly(size)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    message = pickle.loads(body)
    if not isinstance(message, tuple) or not message:
        raise ValueError(f"malformed cluster message: {type(message).__name__}")
    return message
