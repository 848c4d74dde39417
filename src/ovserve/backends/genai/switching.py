"""The interpreter's GIL switch interval while generation engines run: short while a request waits
for its first token, longer while every running request is decoding.

The event loop and an engine's stepping thread hand work to each other through the GIL: a thread
that wants it while the other runs Python waits up to the switch interval (CPython's default:
5 ms), then forces a switch. Each hand-over on the way to a first token can wait that long, so
while any request waits for its first token (from :meth:`SwitchInterval.wait_first` on the loop
until the loop received it, or the request ended) the interval is
:data:`FIRST_TOKEN_S`. While all requests decode, a short interval costs throughput: forced
switches every 0.2 ms kept the loop from falling behind at all, so each stream got one chunk (one
SSE event, one socket write, one read by the client) per step, and the engine thread waited on
the GIL while OpenVINO's worker threads spun. With :data:`DECODING_S` the threads switch mostly
where they release the GIL themselves (the loop's poll, the engine's wait for a hand-over;
GenAI's ``step()`` itself holds it); the steps that queue up for a stream meanwhile go out as
one chunk. Measured on the tiny LLM (bench/genai.py, 2 cores, server
alone with its client): c=8 9,100 → 14,900 tokens/s and 189 → 103 µs of server CPU per token
from 0.2 to 1 ms; at c=1, 0.2 ms: first token 3 ms, 2 ms: 6 ms, hence the short interval there.

One process-wide setting for all the engines of a process (a count under a lock).
"""

from __future__ import annotations

import sys
import threading
from typing import Protocol

#: while a request waits for its first token (seconds)
FIRST_TOKEN_S = 0.0002
#: while every running request decodes (seconds)
DECODING_S = 0.002


class Waiter(Protocol):
    """A request as counted here: ``awaiting_first`` until its first token reached the loop."""

    awaiting_first: bool


class SwitchInterval:
    """Counts the requests waiting for their first token and sets the interval to match."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting = 0
        self._current: float | None = None

    def engine_started(self) -> None:
        """An engine runs in this process: from now on the interval follows the requests."""
        self._change(0)

    def wait_first(self, request: Waiter) -> None:
        """``request`` was submitted: it waits for its first token."""
        request.awaiting_first = True
        self._change(1)

    def first_done(self, request: Waiter) -> None:
        """``request`` got its first token, or ended without one (once; from any thread)."""
        if request.awaiting_first:
            self._change(-1, request)

    @property
    def waiting(self) -> int:
        return self._waiting

    def _change(self, delta: int, done: Waiter | None = None) -> None:
        with self._lock:
            if done is not None:
                if not done.awaiting_first:
                    return  # another thread counted it
                done.awaiting_first = False
            self._waiting += delta
            wanted = FIRST_TOKEN_S if self._waiting > 0 else DECODING_S
            if wanted != self._current:
                self._current = wanted
                sys.setswitchinterval(wanted)


#: the process's one
SWITCH = SwitchInterval()
