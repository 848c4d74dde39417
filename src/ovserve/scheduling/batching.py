"""Server-side dynamic batching: a servable that wraps a servable.

:class:`BatchingServable` queues the requests it is given (each with its own batch
on dimension 0), runs several of them as one batch on the wrapped servable, and gives
every caller its own rows of the outputs. The wrapped servable is never changed; the
wrapper only calls its :meth:`~ovserve.core.servable.Servable.run`.

How a batch forms
    Requests whose inputs have the same shape apart from dimension 0 queue together
    (a *group*); different shapes are never concatenated. At most ``max_in_flight``
    batches run at once (the wrapped servable's parallelism, e.g. its infer-request
    pool); while they all run, requests pile up. When one may start, the group whose
    oldest request is oldest among the ready groups leaves the queue as a batch, in
    arrival order, of up to

    - ``max_batch_size`` rows, when the group holds that many;
    - else the largest preferred batch size the group holds;
    - else, once it is due, whatever it holds: when its oldest request has waited
      ``max_queue_delay_microseconds``, or, with ``adaptive_queue_delay`` (the default),
      as soon as no further request is expected within that time
      (:mod:`ovserve.scheduling.queue_delay`).

    A request never splits across batches, except one larger than ``max_batch_size``:
    it queues as chunks of at most that size, and its answer is their answers joined.

What a caller sees
    :class:`~ovserve.errors.QueueFull` when ``max_queue_size`` requests already wait;
    :class:`~ovserve.errors.DeadlineExceeded` when its request waited
    ``timeout_microseconds`` without starting (a request that started is not timed
    out); a batch's failure is every member's failure. A caller that is cancelled
    (a cancelled gRPC call, a closed HTTP connection) takes its request out of the
    queue; once running, the batch completes and that caller's rows are dropped.

Time is the event loop's monotonic clock (``loop.time()``), timers its ``call_at``; a
test may pass its own :class:`~ovserve.scheduling.queue_delay.Clock`. Everything runs on
the event loop thread except :meth:`BatchingServable.close`, which the manager calls
from a worker thread after the last request let go.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass

import numpy as np

from ovserve.config.types import BatchingConfig
from ovserve.core.servable import DynamicBatching, Servable, WrapperServable
from ovserve.errors import DeadlineExceeded, QueueFull
from ovserve.scheduling import stacking
from ovserve.scheduling.queue_delay import HORIZON_DELAYS, ArrivalRate, Clock, Timer, send_at

log = logging.getLogger(__name__)

#: How long :meth:`BatchingServable.close` waits for batches still running.
CLOSE_WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class BatchingHooks:
    """Observers the composition root may connect (e.g. to metrics); called on the event loop.

    ``on_queue_length(n)``: the number of requests waiting changed to ``n``.
    ``on_batch(rows)``: a batch of ``rows`` rows left the queue to run.
    A hook should be cheap; an exception it raises is logged and ignored.
    """

    on_queue_length: Callable[[int], None] | None = None
    on_batch: Callable[[int], None] | None = None


class _Request:
    """One caller's request: the parts it queued as and how many of them still wait."""

    __slots__ = ("parts", "timer", "waiting")

    def __init__(self) -> None:
        self.parts: list[_Part] = []
        self.waiting = 0
        self.timer: Timer | None = None


class _Part:
    """A queue entry: a request, or one chunk of a request larger than the max batch."""

    __slots__ = ("enqueued", "future", "group", "inputs", "queued", "request", "rows")

    def __init__(
        self,
        request: _Request,
        inputs: dict[str, np.ndarray],
        rows: int,
        enqueued: float,
        future: asyncio.Future[dict[str, np.ndarray]],
        group: _Group,
    ) -> None:
        self.request = request
        self.inputs = inputs
        self.rows = rows
        self.enqueued = enqueued
        self.future = future
        self.group = group
        self.queued = True


class _Group:
    """The queued parts whose inputs share one shape apart from dimension 0, in arrival order."""

    __slots__ = ("key", "last", "parts", "rows")

    def __init__(self, key: Hashable) -> None:
        self.key = key
        self.parts: collections.deque[_Part] = collections.deque()
        self.rows = 0
        self.last = 0.0  # when its newest part arrived


class BatchingServable(WrapperServable):
    """Runs ``inner`` on batches of queued requests; see the module docstring for the contract.

    ``inner`` must take any batch of 1 to ``max_batch_size`` rows on dimension 0 of
    every input (:class:`~ovserve.errors.LoadError` otherwise). The wrapper's own input
    specs take any number of rows (larger requests run in chunks). The wrapper owns
    ``inner``: :meth:`close` closes it.
    """

    def __init__(
        self,
        inner: Servable,
        config: BatchingConfig,
        *,
        max_in_flight: int = 1,
        hooks: BatchingHooks | None = None,
        clock: Clock | None = None,
    ) -> None:
        inputs, outputs = stacking.batching_specs(inner, config.max_batch_size)
        super().__init__(inner, inputs, outputs)
        self.config = config
        self.max_in_flight = max(1, max_in_flight)
        self._hooks = hooks or BatchingHooks()
        self._max_batch = config.max_batch_size
        self._delay = config.max_queue_delay_microseconds / 1e6
        self._timeout = config.timeout_microseconds / 1e6
        self._preferred = sorted(config.preferred_batch_sizes, reverse=True)
        self._input_names = list(inner.inputs)
        self._groups: dict[Hashable, _Group] = {}
        self._waiting = 0  # requests with at least one part still queued
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._wakeup: Timer | None = None
        self._wake_at = math.inf
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clock = clock
        adaptive = config.adaptive_queue_delay and self._delay > 0
        self._arrivals = ArrivalRate(HORIZON_DELAYS * self._delay) if adaptive else None

    # -- observation -------------------------------------------------------------------
    @property
    def batching(self) -> DynamicBatching:
        return self.config

    @property
    def queue_length(self) -> int:
        """Requests waiting in the queue (a chunked request counts once)."""
        return self._waiting

    @property
    def in_flight(self) -> int:
        """Batches running on the wrapped servable."""
        return self._in_flight

    # -- the caller's side -------------------------------------------------------------
    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = stacking.batch_rows(inputs)
        if rows == 0:  # nothing to batch; the wrapped model takes empty batches or refuses them
            return await self.inner.run(inputs)
        limit = self.config.max_queue_size
        if limit and self._waiting >= limit:
            raise QueueFull(
                f"The batching queue of model {self.name} version {self.version} is full: {self._waiting} "
                f"requests are waiting (dynamic_batching.max_queue_size is {limit}); retry later"
            )
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        clock = self._clock
        if clock is None:
            clock = self._clock = loop
        key = tuple(inputs[name].shape[1:] for name in self._input_names)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(key)
        now = clock.time()
        group.last = now
        if self._arrivals is not None:
            self._arrivals.arrival(now)
        request = _Request()
        pieces = (
            [(dict(inputs), rows)]
            if rows <= self._max_batch
            else stacking.chunks(inputs, rows, self._max_batch)
        )
        for piece, size in pieces:
            part = _Part(request, piece, size, now, loop.create_future(), group)
            request.parts.append(part)
            group.parts.append(part)
            group.rows += size
        request.waiting = len(request.parts)
        self._set_waiting(self._waiting + 1)
        if self._timeout:
            request.timer = clock.call_at(now + self._timeout, self._expire, request)
        self._schedule()
        try:
            if len(request.parts) == 1:
                return await request.parts[0].future
            answers = [await part.future for part in request.parts]
            return stacking.join(answers)
        finally:
            self._withdraw(request)

    def _withdraw(self, request: _Request) -> None:
        """The caller is done (answered, failed or cancelled): drop what of its request still waits."""
        if request.timer is not None:
            request.timer.cancel()
            request.timer = None
        removed = False
        for part in request.parts:
            if part.queued:
                self._remove(part)
                removed = True
            future = part.future
            if not future.done():
                future.cancel()
            elif not future.cancelled():
                future.exception()  # retrieved: a chunk's error the caller did not await is not logged
        if removed and self._groups and self._in_flight < self.max_in_flight:
            self._schedule()  # a removed head may change which group is ready, or when
        self._check_idle()

    def _expire(self, request: _Request) -> None:
        """The request's timeout passed: fail it if a part of it has not started yet."""
        request.timer = None
        if request.waiting == 0:
            return
        error = DeadlineExceeded(
            f"Timeout: the request to model {self.name} version {self.version} waited "
            f"{self.config.timeout_microseconds} microseconds in the batching queue without starting "
            "(dynamic_batching.timeout_microseconds)"
        )
        for part in request.parts:
            if part.queued:
                self._remove(part)
                if not part.future.done():
                    part.future.set_exception(error)
        if self._groups and self._in_flight < self.max_in_flight:
            self._schedule()
        self._check_idle()

    def _remove(self, part: _Part) -> None:
        """Take a queued part out of its group before it ran."""
        self._unqueue(part)
        group = part.group
        group.parts.remove(part)
        if not group.parts and self._groups.get(group.key) is group:
            del self._groups[group.key]

    def _unqueue(self, part: _Part) -> None:
        part.queued = False
        part.group.rows -= part.rows
        request = part.request
        request.waiting -= 1
        if request.waiting == 0:
            self._set_waiting(self._waiting - 1)

    def _set_waiting(self, n: int) -> None:
        self._waiting = n
        hook = self._hooks.on_queue_length
        if hook is not None:
            _call_hook(hook, n)

    # -- the scheduler -------------------------------------------------------------------
    def _schedule(self, not_before: float = 0.0) -> None:
        """Start every batch that may start now; else wake up when the oldest wait ends.

        ``not_before`` is the time the wake-up timer was set for: timers may fire a
        little early (uvloop's resolution is a millisecond), and the wait it ends counts
        as over.
        """
        clock = self._clock
        if clock is None:
            return
        wake = math.inf
        while self._groups and self._in_flight < self.max_in_flight:
            now = max(clock.time(), not_before)
            best: _Group | None = None
            best_limit = 0
            for group in self._groups.values():
                limit = self._ready(group, now)
                if limit and (best is None or group.parts[0].enqueued < best.parts[0].enqueued):
                    best, best_limit = group, limit
            if best is None:
                wake = min(self._due(g) for g in self._groups.values())
                break
            self._start_batch(best, best_limit)
        timer = self._wakeup
        if timer is not None:
            if wake == self._wake_at:
                return
            timer.cancel()
            self._wakeup = None
        if wake != math.inf:
            self._wake_at = wake
            self._wakeup = clock.call_at(wake, self._on_wakeup)

    def _on_wakeup(self) -> None:
        self._wakeup = None
        self._schedule(self._wake_at)

    def _ready(self, group: _Group, now: float) -> int:
        """How many rows ``group`` should send now (0: keep waiting)."""
        if group.rows >= self._max_batch:
            return self._max_batch
        for size in self._preferred:
            if size <= group.rows:
                return size
        if now >= self._due(group):
            return self._max_batch
        return 0

    def _due(self, group: _Group) -> float:
        """When ``group``, not full, leaves the queue with what it holds."""
        oldest = group.parts[0].enqueued
        if self._arrivals is None:
            return oldest + self._delay
        return send_at(oldest, group.last, self._delay, self._arrivals.gap())

    def _check_idle(self) -> None:
        """If nothing waits or runs, the busy time the arrival rate counts ends."""
        if (
            self._arrivals is not None
            and self._clock is not None
            and not self._waiting
            and not self._in_flight
        ):
            self._arrivals.idle(self._clock.time())

    def _start_batch(self, group: _Group, limit: int) -> None:
        parts: list[_Part] = []
        rows = 0
        queue = group.parts
        while queue and (not parts or rows + queue[0].rows <= limit):
            part = queue.popleft()
            self._unqueue(part)
            if part.future.done():  # cancelled, its caller not yet resumed to withdraw it
                continue
            parts.append(part)
            rows += part.rows
        if not queue:
            del self._groups[group.key]
        if not parts:
            self._check_idle()
            return
        self._in_flight += 1
        assert self._loop is not None
        task = self._loop.create_task(self._run_batch(parts))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        hook = self._hooks.on_batch
        if hook is not None:
            _call_hook(hook, rows)

    async def _run_batch(self, parts: list[_Part]) -> None:
        try:
            live = [p for p in parts if not p.future.done()]
            if not live:
                return
            try:
                batch = stacking.concatenate([p.inputs for p in live], self._input_names)
                outputs = await self.inner.run(batch)
                answers = stacking.split(outputs, [p.rows for p in live], str(self.id))
            except asyncio.CancelledError:
                for part in live:
                    part.future.cancel()
                raise
            except Exception as exc:
                for part in live:
                    if not part.future.done():
                        part.future.set_exception(exc)
                return
            for part, answer in zip(live, answers, strict=True):
                if not part.future.done():
                    part.future.set_result(answer)
        finally:
            self._in_flight -= 1
            if self._groups:
                self._schedule()
            else:
                self._check_idle()

    # -- lifetime ---------------------------------------------------------------------
    def close(self) -> None:
        """Wait (briefly) for batches still running, then close the wrapped servable.

        Called from a worker thread by the manager once no request holds this servable;
        batches of callers that went away may still be running on the wrapped one.
        """
        loop = self._loop
        if loop is not None and self._tasks and not loop.is_closed() and not _on_loop(loop):
            drained = asyncio.run_coroutine_threadsafe(self._drain(), loop)
            with contextlib.suppress(Exception):
                drained.result(CLOSE_WAIT_SECONDS)
        self.inner.close()

    async def _drain(self) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks))


def _call_hook(hook: Callable[[int], None], value: int) -> None:
    try:
        hook(value)
    except Exception:
        log.exception("a batching hook failed")


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


__all__ = ["BatchingHooks", "BatchingServable"]
