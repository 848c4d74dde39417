from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import numpy as np
import pytest
from fakes import FakeLoader

from ovserve.core.ids import ServableId
from ovserve.core.manager import AspiredStream, AspiredVersion, ServableManager
from ovserve.core.states import State
from ovserve.errors import (
    Code,
    LoadError,
    ModelNotFound,
    ModelNotReady,
    VersionNotFound,
    VersionRetired,
)

X = {"x": np.ones((1, 4), np.float32)}


async def until(condition: Callable[[], bool]) -> None:
    """Let the loop run until ``condition`` holds (state changes, not durations, are awaited)."""
    while not condition():
        await asyncio.sleep(0.001)


def stream(name: str, *versions: int, fingerprint: object = None, error: str | None = None) -> AspiredStream:
    return AspiredStream(
        tuple(AspiredVersion(v, FakeLoader(ServableId(name, v), error=error), fingerprint) for v in versions)
    )


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_loads_and_serves_newest_by_default() -> None:
    async def go() -> None:
        m = ServableManager()
        await m.apply({"a": stream("a", 1, 2)})
        with m.acquire("a") as s:
            assert s.id == ServableId("a", 2)
            out = await s.infer(X)
            np.testing.assert_array_equal(out["y"], X["x"])
        with m.acquire("a", 1) as s:
            assert s.version == 1
        assert [st.state for st in m.status("a")] == [State.AVAILABLE, State.AVAILABLE]
        assert m.available_versions("a") == [1, 2]

    run(go())


def test_unknown_model_and_version() -> None:
    async def go() -> None:
        m = ServableManager()
        await m.apply({"a": stream("a", 1)})
        with pytest.raises(ModelNotFound, match="nope"):
            m.acquire("nope")
        with pytest.raises(VersionNotFound, match="a version 7"):
            m.acquire("a", 7)
        with pytest.raises(VersionNotFound):
            m.status("a", 7)

    run(go())


def test_failed_load_is_in_status_and_others_serve() -> None:
    async def go() -> None:
        m = ServableManager()
        await m.apply({"bad": stream("bad", 1, error="broken file"), "good": stream("good", 1)})
        [status] = m.status("bad")
        assert status.state == State.LOADING
        assert status.error_code == Code.UNKNOWN
        assert "broken file" in status.error_message
        with pytest.raises(ModelNotReady, match="broken file"):
            m.acquire("bad")
        with m.acquire("good") as s:
            assert s.name == "good"

    run(go())


def test_stream_error_without_versions() -> None:
    async def go() -> None:
        m = ServableManager()
        await m.apply({"a": AspiredStream((), LoadError("The provided base path is invalid"))})
        with pytest.raises(ModelNotReady, match="base path is invalid"):
            m.acquire("a")
        assert m.status("a") == []
        assert m.stream_error("a") is not None

    run(go())


def test_versions_retired_because_the_source_found_nothing_say_why() -> None:
    async def go() -> None:
        m = ServableManager()
        await m.apply({"a": stream("a", 1)})
        gone = LoadError("The provided base path is invalid or doesn't exists: /models/a")
        await m.apply({"a": AspiredStream((), gone)})
        [status] = m.status("a")
        assert status.state == State.END
        assert status.error_message == gone.message  # not "OK": the reason stays in the status
        await m.apply({"a": stream("a", 1)})  # back: served again, the reason gone
        [status] = m.status("a")
        assert status.state == State.AVAILABLE and status.error_message == "OK"

    run(go())


def test_retired_version_after_removal_and_model_removal() -> None:
    async def go() -> None:
        m = ServableManager()
        first = stream("a", 1, 2)
        await m.apply({"a": first})
        await m.apply({"a": AspiredStream((first.versions[1],))})
        with pytest.raises(VersionRetired, match="a version 1"):
            m.acquire("a", 1)
        assert m.status("a", 1)[0].state == State.END
        loader = first.versions[0].loader
        assert isinstance(loader, FakeLoader) and loader.servables[0].closed
        await m.apply({})
        with pytest.raises(VersionRetired):
            m.acquire("a")

    run(go())


def test_unload_waits_for_requests_holding_the_version() -> None:
    async def go() -> None:
        m = ServableManager()
        s1 = stream("a", 1)
        await m.apply({"a": s1})
        handle = m.acquire("a")
        retire = asyncio.create_task(m.apply({"a": stream("a", 2)}))
        await until(lambda: m.status("a", 1)[0].state == State.UNLOADING)  # version 2 loaded (on a thread)
        loader = s1.versions[0].loader
        assert isinstance(loader, FakeLoader)
        assert not loader.servables[0].closed  # still pinned
        assert m.status("a", 1)[0].state == State.UNLOADING
        with m.acquire("a") as s:
            assert s.version == 2  # new requests go to the new version meanwhile
        with handle:
            pass
        await retire
        assert loader.servables[0].closed
        assert m.status("a", 1)[0].state == State.END

    run(go())


def test_unload_waits_for_the_last_of_several_requests() -> None:
    async def go() -> None:
        m = ServableManager()
        s1 = stream("a", 1)
        await m.apply({"a": s1})
        first, second = m.acquire("a"), m.acquire("a")
        retire = asyncio.create_task(m.apply({"a": stream("a", 2)}))
        await until(lambda: m.status("a", 1)[0].state == State.UNLOADING)
        loader = s1.versions[0].loader
        assert isinstance(loader, FakeLoader)
        first.release()
        for _ in range(20):  # the retirement runs meanwhile, and keeps waiting
            await asyncio.sleep(0)
        assert not loader.servables[0].closed and not retire.done()
        second.release()
        await retire
        assert loader.servables[0].closed

    run(go())


def test_loading_runs_off_the_event_loop() -> None:
    async def go() -> None:
        m = ServableManager()
        await m.apply({"fast": stream("fast", 1)})
        gate = threading.Event()
        slow = AspiredStream((AspiredVersion(1, FakeLoader(ServableId("slow", 1), gate=gate)),))
        task = asyncio.create_task(m.apply({"fast": stream("fast", 1), "slow": slow}, complete=True))
        await until(lambda: "slow" in m.names() and m.status("slow", 1)[0].state == State.LOADING)
        # the loop is free: requests to the other model are served while "slow" loads
        with m.acquire("fast") as s:
            await s.infer(X)
        with pytest.raises(ModelNotReady):
            m.acquire("slow")
        gate.set()
        await task
        with m.acquire("slow") as s:
            assert s.name == "slow"

    run(go())


def test_changed_fingerprint_reloads_in_place() -> None:
    async def go() -> None:
        m = ServableManager()
        await m.apply({"a": stream("a", 1, fingerprint="v1")})
        with m.acquire("a") as before:
            pass
        await m.apply({"a": stream("a", 1, fingerprint="v1")})
        with m.acquire("a") as same:
            assert same is before  # unchanged config: not touched
        await m.apply({"a": stream("a", 1, fingerprint="v2")})
        with m.acquire("a") as after:
            assert after is not before
        assert m.status("a")[0].state == State.AVAILABLE

    run(go())


def test_listeners_see_every_transition() -> None:
    async def go() -> None:
        m = ServableManager()
        seen: list[tuple[int, State]] = []
        m.subscribe(lambda sid, st: seen.append((sid.version, st.state)))
        await m.apply({"a": stream("a", 1)})
        await m.apply({})
        assert seen == [(1, State.LOADING), (1, State.AVAILABLE), (1, State.UNLOADING), (1, State.END)]

    run(go())


def test_failed_new_version_keeps_the_old_one_serving() -> None:
    async def go() -> None:
        m = ServableManager()
        await m.apply({"a": stream("a", 1)})
        broken = AspiredStream((AspiredVersion(2, FakeLoader(ServableId("a", 2), error="half copied")),))
        changed = await m.apply({"a": broken})
        assert changed
        with m.acquire("a") as s:
            assert s.version == 1  # the fallback keeps serving
        assert m.status("a", 2)[0].error_message == "half copied"
        assert m.status("a", 1)[0].state == State.AVAILABLE
        # the same failure on the next poll is no change; a later good copy replaces version 1
        assert not await m.apply({"a": broken})
        await m.apply({"a": stream("a", 2)})
        with m.acquire("a") as s:
            assert s.version == 2
        assert m.status("a", 1)[0].state == State.END

    run(go())


def test_apply_reports_whether_anything_changed() -> None:
    async def go() -> None:
        m = ServableManager()
        assert await m.apply({"a": stream("a", 1, fingerprint=1)})
        assert not await m.apply({"a": stream("a", 1, fingerprint=1)})
        assert await m.apply({"a": stream("a", 1, fingerprint=2)})

    run(go())


def test_unchanged_stream_keeps_every_version_and_records_the_error() -> None:
    async def go() -> None:
        m = ServableManager()
        first = stream("a", 1, 2)
        await m.apply({"a": first, "b": stream("b", 1)})
        outage = LoadError("storage for model a unreachable: connection refused")
        changed = await m.apply({"a": AspiredStream(error=outage, unchanged=True), "b": stream("b", 1)})
        assert not changed
        assert [st.state for st in m.status("a")] == [State.AVAILABLE, State.AVAILABLE]
        assert m.stream_error("a") is outage
        with m.acquire("a") as s:
            assert s.id == ServableId("a", 2)
        assert all(a.loader.loads == 1 for a in first.versions)  # type: ignore[attr-defined]
        # news again: the listing decides, and the stream error clears
        await m.apply({"a": stream("a", 2), "b": stream("b", 1)})
        assert m.stream_error("a") is None
        assert [st.state for st in m.status("a")] == [State.AVAILABLE, State.END]

    run(go())


def test_unchanged_stream_of_a_new_model_shows_its_error() -> None:
    async def go() -> None:
        m = ServableManager()
        await m.apply({"a": AspiredStream(error=LoadError("bad credentials"), unchanged=True)})
        assert m.names() == ["a"] and m.status("a") == []
        with pytest.raises(ModelNotReady, match="bad credentials"):
            m.acquire("a")

    run(go())


def test_unchanged_stream_is_not_retired_by_a_complete_apply() -> None:
    async def go() -> None:
        m = ServableManager()
        await m.apply({"a": stream("a", 1)})
        await m.apply({"a": AspiredStream(unchanged=True)}, complete=True)
        assert m.available_versions("a") == [1]
        assert m.stream_error("a") is None

    run(go())


def test_the_newest_version_is_followed_as_versions_come_reload_and_go() -> None:
    """``acquire(name)`` remembers what it pinned; every state change of the name forgets it."""

    async def go() -> None:
        m = ServableManager()
        v1 = stream("a", 1, fingerprint="one")
        await m.apply({"a": v1})
        for _ in range(2):  # the second time from what acquire remembered
            with m.acquire("a") as s:
                assert s.version == 1
        both = stream("a", 1, 2)
        await m.apply({"a": AspiredStream((v1.versions[0], both.versions[1]))})
        with m.acquire("a") as s:
            assert s.version == 2
        reloaded = stream("a", 1, 2, fingerprint="new")
        await m.apply({"a": AspiredStream((v1.versions[0], reloaded.versions[1]))})
        with m.acquire("a") as s:  # the reloaded version 2, not the one it replaced
            loader = reloaded.versions[1].loader
            assert isinstance(loader, FakeLoader) and s is loader.servables[0]
        await m.apply({"a": v1})  # version 2 retired: back to 1
        with m.acquire("a") as s:
            assert s.version == 1
        await m.apply({})
        with pytest.raises(VersionRetired):
            m.acquire("a")
        await m.apply({"a": stream("a", 3, error="broken")})
        with pytest.raises(ModelNotReady, match="broken"):
            m.acquire("a")

    run(go())
