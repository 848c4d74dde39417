"""The GIL switch interval: short while a request waits for its first token, longer while all decode."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from ovserve.backends.genai.switching import DECODING_S, FIRST_TOKEN_S, SwitchInterval


@pytest.fixture(autouse=True)
def restore_interval() -> Iterator[None]:
    before = sys.getswitchinterval()
    yield
    sys.setswitchinterval(before)


def test_short_while_any_request_waits_for_its_first_token() -> None:
    switch = SwitchInterval()
    switch.engine_started()
    assert sys.getswitchinterval() == pytest.approx(DECODING_S)
    a, b = SimpleNamespace(awaiting_first=False), SimpleNamespace(awaiting_first=False)
    switch.wait_first(a)
    switch.wait_first(b)
    assert sys.getswitchinterval() == pytest.approx(FIRST_TOKEN_S) and switch.waiting == 2
    switch.first_done(a)
    switch.first_done(a)  # counted once, whichever thread comes second
    assert sys.getswitchinterval() == pytest.approx(FIRST_TOKEN_S) and switch.waiting == 1
    switch.first_done(b)
    assert sys.getswitchinterval() == pytest.approx(DECODING_S) and switch.waiting == 0
