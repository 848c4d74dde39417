"""The engine thread's hand-overs: its outputs to the event loop (:class:`Outbox`), how often
(:class:`Pace`), and the prompts that came together tokenized in one call (:func:`encode_prompts`)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import openvino as ov

from ovserve.backends.genai.events import Event

log = logging.getLogger(__name__)


class Receiver(Protocol):
    """What the outbox hands events to: a request, on its event loop."""

    loop: asyncio.AbstractEventLoop

    def deliver(self, events: list[Event]) -> None: ...


class Prompted(Protocol):
    """A request to encode: its prompt and whether the tokenizer adds its special tokens."""

    prompt: str
    special_tokens: bool


class Outbox:
    """Events from the engine thread to the event loop: one wake-up of the loop carries everything
    posted until the loop runs it, each request's events handed over together, in order (so a
    loop that fell behind sends a stream's steps as one chunk)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[asyncio.AbstractEventLoop, list[tuple[Receiver, Event]]] = {}
        self._calls: dict[asyncio.AbstractEventLoop, list[Callable[[], None]]] = {}
        self._delivered = threading.Event()  # nothing waits for a loop
        self._delivered.set()
        self._stopped = False

    def wait_delivered(self, timeout: float) -> None:
        """From the engine thread: wait (up to ``timeout`` s) until the loops took what was sent and
        ran what that woke (the tasks that write it)."""
        if not self._delivered.is_set() and not self._stopped:
            self._delivered.wait(timeout)

    def stop_waiting(self) -> None:
        """From any thread: :meth:`wait_delivered` returns at once from now on (the engine stops)."""
        self._stopped = True
        self._delivered.set()

    def call(self, loop: asyncio.AbstractEventLoop, function: Callable[[], None]) -> None:
        """From the engine thread: run ``function`` on ``loop`` with the next delivery (before its
        events: a request's acceptance comes before its first tokens)."""
        with self._lock:
            self._calls.setdefault(loop, []).append(function)
        self._wake(loop, [])

    def send(self, items: Sequence[tuple[Receiver, Event]]) -> None:
        """From the engine thread: queue ``items``; wake their loop unless a wake-up is on its way."""
        self._wake(items[0][0].loop, items)

    def _wake(self, loop: asyncio.AbstractEventLoop, items: Sequence[tuple[Receiver, Event]]) -> None:
        with self._lock:
            found = self._waiting.get(loop)
            if found is not None:
                found.extend(items)
                return
            self._waiting[loop] = list(items)
            self._delivered.clear()
        try:
            loop.call_soon_threadsafe(self._flush, loop)
        except RuntimeError:  # the loop is closed: nobody is left to read them
            with self._lock:
                self._waiting.pop(loop, None)
                self._calls.pop(loop, None)
                if not self._waiting:
                    self._delivered.set()
            raise

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            items = self._waiting.pop(loop)
            calls = self._calls.pop(loop, ())
        try:
            for function in calls:
                try:
                    function()
                except Exception:  # one acceptance must not keep the others' events back
                    log.exception("a generation hand-over call failed")
            self._deliver(items)
        finally:
            # "delivered" once the loop also ran what the delivery woke (a stream's task writing
            # its chunk, the request's first answer): callbacks scheduled now run after those
            loop.call_soon(self._mark_delivered)

    def _mark_delivered(self) -> None:
        with self._lock:
            if not self._waiting:
                self._delivered.set()

    @staticmethod
    def _deliver(items: list[tuple[Receiver, Event]]) -> None:
        if not items:
            return
        if len(items) == 1:
            request, event = items[0]
            request.deliver([event])
            return
        by_request: dict[int, tuple[Receiver, list[Event]]] = {}
        for request, event in items:
            found = by_request.get(id(request))
            if found is None:
                by_request[id(request)] = (request, [event])
            else:
                found[1].append(event)
        for request, events in by_request.values():
            request.deliver(events)


class Pace:
    """How long the engine steps between two hand-overs of running streams' output.

    A hand-over costs the engine reading every request's outputs and its wait for the loop
    (GenAI's ``step()`` holds the GIL, so the loop works between steps, not beside them): taking
    the outputs and writing each stream's chunk, about the same for one step's tokens as for
    several. The engine leaves its outputs until it has stepped :attr:`interval` seconds: the
    measured cost (a moving average) ÷ ``share``, so that it stays about that share of the
    stepping time, but at least ``least`` (a step that long is handed over on its own) and at
    most ``most`` (the longest a running stream waits for its next chunk). First tokens and ends
    do not wait for it (the engine's rule)."""

    __slots__ = ("_cost", "_least", "_most", "_share", "_stepped", "interval")

    #: weight of the newest cost in the moving average
    SMOOTHING = 0.25

    def __init__(self, share: float, least: float, most: float) -> None:
        self._share, self._least, self._most = share, least, most
        self._stepped = 0.0
        self._cost = 0.0
        self.interval = least

    def stepped(self, seconds: float) -> bool:
        """A step of ``seconds`` ran; whether the held outputs are due."""
        self._stepped += seconds
        return self._stepped >= self.interval

    def handed_over(self, cost: float) -> None:
        """Every request's outputs were read and handed over, which cost the engine ``cost``
        seconds (reading them and waiting for the loop to take them)."""
        self._stepped = 0.0
        self._cost += (cost - self._cost) * self.SMOOTHING
        self.interval = min(self._most, max(self._least, self._cost / self._share))


def encode_prompts(tokenizer: Any, requests: Sequence[Prompted]) -> dict[int, Any]:
    """Each request's prompt token ids ([1, n] tensor) by ``id(request)``, or the error encoding it
    gave. The prompts that came together are encoded in one tokenizer call per kind (with or
    without special tokens): a call costs about the same for one prompt or 32, and the engine
    steps no request while it encodes. A batch that fails is encoded one prompt at a time, so that
    each request gets its own error."""
    found: dict[int, Any] = {}
    for special in (True, False):
        group = [request for request in requests if request.special_tokens is special]
        if len(group) > 1:
            try:
                encoded = tokenizer.encode([request.prompt for request in group], add_special_tokens=special)
                ids, mask = encoded.input_ids.data, encoded.attention_mask.data
                for row, request in enumerate(group):
                    found[id(request)] = ov.Tensor(np.ascontiguousarray(ids[row][mask[row] == 1][None, :]))
            except Exception:
                log.debug("encoding %d prompts together failed; one at a time", len(group), exc_info=True)
        for request in (request for request in group if id(request) not in found):
            try:
                found[id(request)] = tokenizer.encode(request.prompt, add_special_tokens=special).input_ids
            except Exception as exc:
                found[id(request)] = exc
    return found
