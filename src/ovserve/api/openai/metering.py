"""Counting one V3 request into its model's generative series (nothing when metrics are off)."""

from __future__ import annotations

import time

from ovserve.api.context import ServingContext
from ovserve.metrics.generative import GenerativeMetrics, Method


class Meter:
    """One request's metrics: accepted or rejected, responses, tokens and their timing, the outcome."""

    __slots__ = ("_ended", "_index", "_last", "_series", "_start", "_started")

    def __init__(self, ctx: ServingContext, name: str, method: Method) -> None:
        self._series: GenerativeMetrics | None = (
            ctx.metrics.generative(name) if ctx.metrics is not None else None
        )
        self._index = GenerativeMetrics.index(method)
        self._start = time.monotonic_ns()
        self._last = 0
        self._started = False
        self._ended = False

    def rejected(self) -> None:
        series = self._series
        if series is not None:
            series.rejected[self._index] += 1
            series.fail[self._index] += 1

    def accepted(self, prompt_tokens: int) -> None:
        self._started = True
        series = self._series
        if series is not None:
            series.accepted[self._index] += 1
            series.current += 1
            series.prompt_tokens += prompt_tokens

    def tokens(self, count: int) -> None:
        """``count`` new tokens arrived now."""
        series = self._series
        if series is None or count <= 0:
            return
        now = time.monotonic_ns()
        if self._last == 0:
            series.time_to_first_token.observe((now - self._start) // 1000)
        else:
            # tokens that came together (steps handed over at once): each the mean of their time
            series.time_per_output_token.observe((now - self._last) // 1000 // count, count)
        self._last = now
        series.generated_tokens += count

    def response(self) -> None:
        """One answer (a chunk) sent."""
        if self._series is not None:
            self._series.responses[self._index] += 1

    def ended(self, ok: bool) -> None:
        series = self._series
        if series is None or self._ended or not self._started:
            return
        self._ended = True
        series.current -= 1
        if ok:
            series.success[self._index] += 1
        else:
            series.fail[self._index] += 1
