"""pipelines.nodes.RunningCalls: the closing rule C custom and Python nodes share."""

from __future__ import annotations

import pytest

from ovserve.errors import CustomNodeFailed
from ovserve.pipelines.nodes import RunningCalls


def counted() -> tuple[RunningCalls, list[str]]:
    finished: list[str] = []
    return RunningCalls(lambda: finished.append("finish"), lambda: CustomNodeFailed("closed")), finished


def test_close_with_nothing_running_finishes_at_once_and_only_once() -> None:
    calls, finished = counted()
    calls.close()
    calls.close()
    assert finished == ["finish"]
    with pytest.raises(CustomNodeFailed, match="closed"):
        calls.enter()


def test_close_waits_for_the_last_running_call() -> None:
    calls, finished = counted()
    calls.enter()
    calls.enter()
    calls.close()
    with pytest.raises(CustomNodeFailed, match="closed"):
        calls.enter()  # refused: the count stays at two
    calls.leave()
    assert finished == []
    calls.leave(object())  # a future's done callback passes the future
    assert finished == ["finish"]


def test_calls_before_close_never_finish() -> None:
    calls, finished = counted()
    for _ in range(3):
        calls.enter()
        calls.leave()
    assert finished == []
