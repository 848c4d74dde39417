"""``/chat/completions`` and ``/completions``: one generation per request, whole or streamed.

The handler pins the model version (a manager handle) for the length of the answer; a
streamed answer releases it when the stream ends or the client goes away, and the
generation is cancelled then (its KV cache freed). A non-streamed answer runs under
the router's ``cancel_on_disconnect``: a client that leaves cancels it the same way.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import orjson

from ovserve.api.context import ServingContext
from ovserve.api.direct_body import BodyWriter
from ovserve.api.http import HttpResponse
from ovserve.api.openai.errors import error_object, error_response
from ovserve.api.openai.metering import Meter
from ovserve.api.openai.requests import ParsedRequest, parse_generation
from ovserve.api.openai.responses import DONE, Completion, sse
from ovserve.core.manager import Handle
from ovserve.genai.types import (
    ChoiceDelta,
    GenerationStream,
    NotGenerative,
    StreamParser,
    TextGenerationServable,
)

EVENT_STREAM = b"text/event-stream"


def text_generation(handle: Handle) -> TextGenerationServable:
    servable = handle.servable
    if not isinstance(servable, TextGenerationServable):
        task = getattr(servable, "task", "") or "classic inference (KServe / TF Serving)"
        raise NotGenerative(f"Model {servable.name} does not serve text generation; it serves {task}")
    return servable


async def generate(ctx: ServingContext, body: bytes, *, chat: bool) -> HttpResponse:
    """Answer one chat or completions request (errors as OpenAI error objects)."""
    try:
        parsed = parse_generation(body, chat=chat)
        handle = ctx.manager.acquire(parsed.model, None)
    except Exception as exc:
        return error_response(exc)
    streaming = False
    meter: Meter | None = None
    try:
        servable = text_generation(handle)
        meter = Meter(ctx, parsed.model, "Stream" if parsed.stream else "Unary")
        try:
            stream = await servable.generate(parsed.generation)
        except Exception:
            meter.rejected()
            raise
        meter.accepted(stream.prompt_tokens)
        if not parsed.stream:
            response = await _whole(parsed, stream, meter, servable)
            meter.response()
            meter.ended(True)
            return response
        streaming = True
        tools = parsed.generation.tools
        events = _Events(parsed, stream, handle, meter, lambda: servable.stream_parser(tools))
        return HttpResponse(200, content_type=EVENT_STREAM, stream=events)
    except Exception as exc:
        return error_response(exc)
    finally:
        if not streaming:
            handle.__exit__()
            if meter is not None:
                meter.ended(False)  # no-op once ended


async def _whole(
    parsed: ParsedRequest, stream: GenerationStream, meter: Meter, servable: TextGenerationServable
) -> HttpResponse:
    answer = Completion(parsed.model, parsed.chat, stream.prompt_tokens)
    try:
        async for deltas in stream:
            meter.tokens(sum(delta.tokens for delta in deltas))
            for delta in deltas:
                answer.add(delta)
    finally:
        stream.cancel()
    tools = parsed.generation.tools
    document = answer.document(
        parsed.generation.params.logprobs, lambda text: servable.parse_message(text, tools)
    )
    return HttpResponse(200, orjson.dumps(document))


class _Events:
    """The SSE body of a streamed answer; closing it cancels the generation and unpins the model.

    Iterated by the HTTP layer, it yields the chunks; given a direct writer (:meth:`push_to`), the
    steps that come while the iteration waits are encoded and written by the engine's hand-over
    itself (:meth:`GenerationStream.deliver_directly`), and the iteration sends the rest: the
    steps that came while writing was paused, errors, the usage chunk and ``[DONE]``."""

    def __init__(
        self,
        parsed: ParsedRequest,
        stream: GenerationStream,
        handle: Handle,
        meter: Meter,
        parsers: Callable[[], StreamParser | None],
    ) -> None:
        self._chunks = _Chunks(parsed, stream.prompt_tokens, meter, parsers)
        self._stream = stream
        self._frames = _frames(parsed, stream, self._chunks, meter)
        self._release: list[Callable[[], Any]] = [
            stream.cancel,
            handle.__exit__,
            lambda: meter.ended(False),
            lambda: stream.deliver_directly(None),
        ]

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await anext(self._frames)
        except BaseException:
            self._close()
            raise

    def push_to(self, body: BodyWriter) -> None:
        """Write the steps that come while the iteration waits straight to ``body``."""
        chunks = self._chunks

        def take(steps: list[list[ChoiceDelta]]) -> bool:
            if not body.ready():
                return False
            body.write(chunks.event(steps))
            return True

        self._stream.deliver_directly(take)

    async def aclose(self) -> None:
        try:
            await self._frames.aclose()
        finally:
            self._close()

    def _close(self) -> None:
        release, self._release = self._release, []
        for step in release:
            step()


class _Chunks:
    """Makes a streamed answer's chunks: each one SSE event for one or more steps, counted."""

    __slots__ = ("answer", "meter", "with_logprobs")

    def __init__(
        self,
        parsed: ParsedRequest,
        prompt_tokens: int,
        meter: Meter,
        parsers: Callable[[], StreamParser | None],
    ) -> None:
        self.answer = Completion(parsed.model, parsed.chat, prompt_tokens, parsers)
        self.meter = meter
        self.with_logprobs = parsed.generation.params.logprobs

    def event(self, steps: list[list[ChoiceDelta]]) -> bytes:
        """One chunk with ``steps`` (each step's tokens counted as it came)."""
        meter = self.meter
        for step in steps:  # the time per token of the later ones: ~0
            meter.tokens(sum(delta.tokens for delta in step))
        meter.response()
        return self.answer.chunk_event(steps, self.with_logprobs)


async def _frames(
    parsed: ParsedRequest, stream: GenerationStream, chunks: _Chunks, meter: Meter
) -> AsyncGenerator[bytes, None]:
    try:
        async for deltas in stream:
            # the steps that came while the last chunk was sent go out as one chunk with this one
            yield chunks.event([deltas, *stream.ready()])
    except Exception as exc:  # after the headers: the error travels as an event
        meter.ended(False)
        _status, document = error_object(exc)
        yield sse(document)
        return
    meter.ended(True)
    if parsed.include_usage:
        yield sse(chunks.answer.usage_chunk())
    yield DONE
