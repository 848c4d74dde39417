"""The supervisor ↔ worker wire and the worker's link, over a real socketpair in-process."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from ovserve.cluster import PeerLink, Reply, WorkerSeat, worker_seat_from_env
from ovserve.cluster.wire import MAX_FRAME, encode, read_message
from ovserve.config.types import ModelConfig


def test_messages_round_trip_including_model_configs() -> None:
    models = (ModelConfig(name="m", base_path="/models/m", nireq=2),)

    async def main() -> tuple[Any, ...] | None:
        a, b = socket.socketpair()
        reader, reader_side = await asyncio.open_connection(sock=a)
        _, writer = await asyncio.open_connection(sock=b)
        writer.write(encode(("call", 7, "replace_models", models)))
        await writer.drain()
        got = await read_message(reader)
        writer.close()
        assert await read_message(reader) is None  # closed: no message, no exception
        reader_side.close()
        return got

    assert asyncio.run(main()) == ("call", 7, "replace_models", models)


def test_an_oversized_frame_is_refused() -> None:
    async def main() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data((MAX_FRAME + 1).to_bytes(4, "big"))
        await read_message(reader)

    with pytest.raises(ValueError, match="larger than"):
        asyncio.run(main())


def test_the_seat_comes_from_the_environment() -> None:
    seat = WorkerSeat(1, 2, 5, 6)
    assert worker_seat_from_env({"OVSERVE_WORKER": seat.to_env()}) == seat
    assert worker_seat_from_env({}) is None
    with pytest.raises(ValueError, match="OVSERVE_WORKER"):
        worker_seat_from_env({"OVSERVE_WORKER": "1,2"})


def test_the_link_answers_calls_and_collects_broadcast_replies() -> None:
    """The test plays the supervisor on the other end of the socketpair."""

    async def main() -> None:
        ours, theirs = socket.socketpair()
        link = PeerLink(theirs, index=0)

        async def double(value: Any) -> Any:
            return value * 2

        async def broken(value: Any) -> Any:
            raise RuntimeError("no such model")

        link.handlers.update(double=double, broken=broken)
        lost = asyncio.Event()
        await link.start(on_lost=lost.set)
        reader, writer = await asyncio.open_connection(sock=ours)

        link.ready()
        assert await read_message(reader) == ("ready",)
        for call in (("call", 1, "double", 21), ("call", 2, "broken", None), ("call", 3, "missing", None)):
            writer.write(encode(call))
        replies = sorted([await read_message(reader) for _ in range(3)], key=lambda m: m[1] if m else 0)
        assert replies[0] == ("reply", 1, True, 42)
        assert replies[1] == ("reply", 2, False, "no such model")
        assert replies[2] is not None and replies[2][2] is False and "missing" in replies[2][3]

        pending = asyncio.ensure_future(link.broadcast("metrics"))
        message = await read_message(reader)
        assert message is not None and message[0] == "broadcast" and message[2] == "metrics"
        writer.write(encode(("done", message[1], [(1, True, "text")])))
        assert await pending == [Reply(1, True, "text")]

        # the supervisor going away ends pending broadcasts and tells the worker
        pending = asyncio.ensure_future(link.broadcast("reload"))
        await read_message(reader)
        writer.close()
        assert await asyncio.wait_for(pending, 5) == []
        await asyncio.wait_for(lost.wait(), 5)
        await link.close()

    asyncio.run(main())
