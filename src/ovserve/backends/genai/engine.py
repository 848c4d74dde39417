"""Continuous batching: one ContinuousBatchingPipeline driven by one stepping thread.

Every call into the pipeline (``add_request``, ``step``, reading and cancelling handles)
happens on the engine's own thread, so the pipeline never sees two threads; the event
loop only posts commands (:meth:`GenerationEngine.submit`, :meth:`GenerationEngine.cancel`)
and receives outputs through an :class:`Outbox` (one ``loop.call_soon_threadsafe`` for all that
was posted until the loop runs it). Many requests share each step: that is the batching. A
cancelled request is cancelled before the next step and its KV blocks are freed by the
pipeline at that step. The prompts that came together are tokenized in one call.

GenAI's ``step()`` holds the GIL (its binding does not release it): the loop is frozen while a
step runs, and the loop's work between steps is taken from them. So the engine leaves the steps'
outputs in GenAI's handles and reads and hands them over paced (:class:`Pace`): after it stepped
long enough that this costs a small share of the stepping, or at once for a first token or an
end; it then lets the loop take them before it runs the next step (else they would wait for
that step).

Text is made incrementally on the engine thread (:mod:`.detokenize`): a token whose text does
not depend on its neighbours takes its cached text; the others a short window of tokens per
choice, every such choice of a read in one detokenizer call. The outputs of a read reach the
loop in one hand-over. The per-token work here is kept small (no enum names, a request's status read
only when it may have ended): on a small model it is what bounds the tokens per second. A
failing step fails the requests it held; the thread goes on serving the next ones.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ovserve.backends.genai.detokenize import Decodings, IncrementalText, Pieces, decode_all, text_ids
from ovserve.backends.genai.events import Event
from ovserve.backends.genai.handover import Outbox, Pace, encode_prompts
from ovserve.backends.genai.switching import SWITCH
from ovserve.errors import BackendError
from ovserve.genai.types import ChoiceDelta, GenerationAborted, PromptTooLong, TokenLogprob

log = logging.getLogger(__name__)

#: GenAI's ``step()`` holds the GIL, so the event loop cannot run while a step runs; the engine
#: thread goes straight on to the next step unless the loop is already waiting for the GIL, so
#: what a step posted would go out only after the next step. So the engine hands its outputs
#: over itself and waits (up to :data:`HAND_OVER_WAIT_S`) until the loop took them. It does so
#: paced (:class:`Pace`): after :data:`HAND_OVER_STEP_S` of stepping at least, more while its
#: waits would cost over :data:`HAND_OVER_SHARE` of the stepping time (on a small model, one
#: chunk per stream and step costs more than the step; the steps held meanwhile go out as one
#: chunk), at most :data:`HAND_OVER_MOST_S`; a first token or an end at once.
HAND_OVER_STEP_S = 0.001
HAND_OVER_WAIT_S = 0.005
HAND_OVER_SHARE = 0.025
HAND_OVER_MOST_S = 0.05

#: at most this many rounds of adding requests and answering them before a step: a burst of
#: requests reaches the engine over a few hand-overs (the loop parses them while the engine waits
#: for it); the bound keeps a steady stream of arrivals from holding the steps back
ACCEPT_ROUNDS = 4

#: GenAI's GenerationStatus values that the engine tells apart (``int()`` of the enum)
_RUNNING, _IGNORED = 0, 2


class _Output:
    """What one choice produced since the last read."""

    __slots__ = ("ids", "logprobs", "reason")

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.logprobs: list[float] = []
        self.reason: str | None = None


#: GenAI's GenerationFinishReason by its value (``int()`` of the enum; its ``.name`` costs ~5 µs)
_FINISH_BY_VALUE = {1: "stop", 2: "length", 3: "tool_calls"}


def _collect(handle: Any, logprobs: bool) -> dict[int, _Output]:
    """Everything the handle has to read, merged per choice (its log probs when ``logprobs``)."""
    found: dict[int, _Output] = {}
    while handle.can_read():
        for index, output in handle.read().items():
            out = found.get(index)
            if out is None:
                out = found[index] = _Output()
            out.ids += output.generated_ids
            if logprobs:
                out.logprobs.extend(float(v) for v in output.generated_log_probs)
            reason = _FINISH_BY_VALUE.get(int(output.finish_reason))
            if reason is not None:
                out.reason = reason
    return found


@dataclass
class EngineRequest:
    """One request's state; fields other than ``events`` belong to the engine thread."""

    prompt: str
    special_tokens: bool  # add the tokenizer's special tokens (completions) or not (chat templates have them)
    config: Any  # openvino_genai.GenerationConfig
    logprobs: bool
    loop: asyncio.AbstractEventLoop
    accepted: asyncio.Future[int]  # resolved with the prompt's token count
    events: asyncio.Queue[Event]
    #: None: special tokens have no text (GenAI's default); else they keep it, but for these ids
    #: (the stop tokens: EOS ends the answer, it is not part of it)
    keep_special: frozenset[int] | None = None
    id: int = 0
    handle: Any = None
    choices: dict[int, IncrementalText] = field(default_factory=dict)
    done: bool = False
    awaiting_first: bool = False  # counted in SWITCH until its first output reached the loop (or its end)
    #: on the loop: takes the request's events of one hand-over (its stream's ``offer``, once made)
    sink: Callable[[list[Event]], None] | None = None

    def deliver(self, events: list[Event]) -> None:
        """On the loop: hand ``events`` to the stream (queued until the stream is made)."""
        if self.sink is not None:
            self.sink(events)
        else:
            for event in events:
                self.events.put_nowait(event)
        if self.awaiting_first:
            SWITCH.first_done(self)


class GenerationEngine:
    """The stepping thread of one pipeline; see the module docstring for the threading contract."""

    def __init__(self, pipeline: Any, max_context: int | None, name: str) -> None:
        self._pipeline = pipeline
        self._tokenizer = pipeline.get_tokenizer()
        self._decodings = Decodings(self._tokenizer)
        self.max_context = max_context
        self._commands: queue.SimpleQueue[tuple[str, EngineRequest] | None] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._ids = itertools.count(1)
        self._active: dict[int, EngineRequest] = {}
        self._stopped = False
        self._cache_usage = 0.0
        self._settle = 0  # steps still to run with no request (to free blocks and refresh the gauge)
        self._outbox = Outbox()
        self._held: list[tuple[EngineRequest, Event]] = []  # outputs not handed over yet, in order
        self._pace = Pace(HAND_OVER_SHARE, HAND_OVER_STEP_S, HAND_OVER_MOST_S)
        SWITCH.engine_started()  # the GIL switch interval follows the requests (.switching)
        self._thread = threading.Thread(target=self._run, name=f"ovserve-genai-{name}", daemon=True)
        self._thread.start()

    # -- the event loop's side -------------------------------------------------------------------
    def submit(
        self,
        prompt: str,
        special_tokens: bool,
        config: Any,
        logprobs: bool,
        keep_special: frozenset[int] | None = None,
    ) -> EngineRequest:
        """Queue a generation; await ``request.accepted`` for the prompt size (or the refusal).
        ``keep_special``: see :class:`EngineRequest`."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        request = EngineRequest(
            prompt, special_tokens, config, logprobs, loop, future, asyncio.Queue(), keep_special
        )
        SWITCH.wait_first(request)
        self._send("add", request)
        return request

    def cancel(self, request: EngineRequest) -> None:
        """Stop a generation (idempotent); its KV blocks are freed at the next step."""
        if not request.done:
            self._send("cancel", request)

    @property
    def cache_usage(self) -> float:
        """KV cache use in percent after the last step (read from any thread)."""
        return self._cache_usage

    def close(self) -> None:
        """Cancel everything and end the thread (after its current step)."""
        self._stopped = True
        self._commands.put(None)
        self._wake.set()
        self._outbox.stop_waiting()  # the loop may be the thread that joins
        self._thread.join()

    def _send(self, kind: str, request: EngineRequest) -> None:
        self._commands.put((kind, request))
        self._wake.set()

    # -- the engine thread --------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stopped:
            try:
                busy = self._cycle()
            except Exception as exc:  # the pipeline failed: fail every request it held, keep serving
                log.exception("generation step failed")
                for request in list(self._active.values()):
                    self._finish(request, BackendError(f"Generation failed: {exc}"))
                continue
            if not busy:
                self._wake.wait()
                self._wake.clear()
        unloaded = GenerationAborted("The model was unloaded during generation")
        for request in list(self._active.values()):
            self._finish(request, unloaded)
        self._refuse_queued(unloaded)

    def _refuse_queued(self, error: BaseException) -> None:
        """Refuse the requests still queued when the thread ends (submitted during the close)."""
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            if command is not None and command[0] == "add" and not command[1].done:
                _refuse(command[1], error)

    def _cycle(self) -> bool:
        """Apply the queued commands and run one step; False when there is nothing to step."""
        rounds = 0
        while rounds < ACCEPT_ROUNDS and self._apply_commands():
            # the loop answers the new requests (headers, streams ready) now, not during the step:
            # a loop waiting for the GIL through a step (which holds it) slows the step and, once
            # it runs, delays the first tokens (what is held goes along). Meanwhile it reads the
            # requests that came with them: those join the same first step
            rounds += 1
            self._hand_over()
        if not self._active and not self._settle:
            self._send_held()
            return False
        # a step frees the blocks of cancelled and finished requests; the next one reports it
        self._settle = max(0, self._settle - 1)
        started = time.perf_counter()
        self._pipeline.step()
        took = time.perf_counter() - started
        metrics = self._pipeline.get_metrics()  # ~1 µs
        self._cache_usage = float(metrics.cache_usage)
        # the requests the pipeline holds, counted one step behind: fewer than the engine's, so
        # one ended (or was dropped) that the engine has not read yet
        ended = metrics.requests < len(self._active)
        # GenAI queues each request's outputs until they are read: the engine reads them when
        # they are due (see HAND_OVER_STEP_S) and when a request ended or the pipeline has nothing
        # left to run (ends at once). While a request waits for its first token (counted in
        # SWITCH until the loop has it), every step is due: that token goes out at once, and
        # requests come in bursts, the loop reading the next ones (it holds the GIL only between
        # steps) while the engine waits for its hand-overs
        due = self._pace.stepped(took) or SWITCH.waiting > 0
        if due or ended or not self._pipeline.has_non_finished_requests():
            started = time.perf_counter()
            ends = self._read()
            if self._held and (due or ends):
                self._hand_over(started)
        return True

    def _hand_over(self, started: float | None = None) -> None:
        """Send what is held and wait until the loop took it (and answered what was accepted);
        with ``started`` (when the engine began reading every request's outputs), the time since
        paces the next hand-overs, counted from now."""
        self._send_held()
        self._outbox.wait_delivered(HAND_OVER_WAIT_S)
        if started is not None:
            self._pace.handed_over(time.perf_counter() - started)

    def _send_held(self) -> None:
        held, self._held = self._held, []
        if held:  # one wake-up of the event loop for all of it, not one per request
            self._outbox.send(held)

    def _apply_commands(self) -> bool:
        """Add and cancel what the loop asked for; True when a request was added."""
        commands: list[tuple[str, EngineRequest]] = []
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                break
            if command is None:
                break
            commands.append(command)
        prompts = encode_prompts(self._tokenizer, [request for kind, request in commands if kind == "add"])
        added = False
        for kind, request in commands:
            if kind == "add":
                added = self._add(request, prompts[id(request)]) or added
            elif not request.done:
                request.handle.cancel()
                self._finish(request, None)
        return added

    def _add(self, request: EngineRequest, prompt: Any) -> bool:
        """Add ``request`` with its prompt's token ids (or refuse it with the error encoding gave);
        whether it was added."""
        try:
            if isinstance(prompt, Exception):
                raise prompt
            prompt_tokens = int(prompt.get_shape()[1])
            fit_context(request.config, prompt_tokens, self.max_context)
            request.id = next(self._ids)
            request.handle = self._pipeline.add_request(request.id, prompt, request.config)
        except Exception as exc:
            _refuse(request, exc)
            return False
        self._active[request.id] = request
        self._outbox.call(request.loop, functools.partial(_accept, request.accepted, prompt_tokens))
        return True

    def _read(self) -> bool:
        """Read every request's new tokens, turn them into text, hold them for the next hand-over,
        finish the ended ones; whether one ended (its end is due at once).

        A request's status is read only when one of its choices ended or it gave nothing (GenAI's
        status call and its enum's names cost microseconds per request)."""
        outputs = [(r, _collect(r.handle, r.logprobs)) for r in list(self._active.values())]
        deltas = self._deltas(outputs)
        held = self._held
        ends = False
        for request, by_index in outputs:
            found = deltas.get(request.id)
            if found:
                held.append((request, found))
            if by_index and all(out.reason is None for out in by_index.values()):
                continue
            status = int(request.handle.get_status())
            if status == _IGNORED:
                error = GenerationAborted("The request was dropped: the KV cache is full")
                held.append((request, self._finish(request, error, post=False)))
                ends = True
            elif status != _RUNNING:
                held.append((request, self._finish(request, None, post=False)))
                ends = True
        return ends

    def _deltas(
        self, outputs: list[tuple[EngineRequest, dict[int, _Output]]]
    ) -> dict[int, list[ChoiceDelta]]:
        """Each request's deltas of this step: plain tokens' text from :class:`Pieces`, the other
        choices' windows decoded in one detokenizer call (two when some requests keep special
        tokens' text: :class:`KeepSpecial`)."""
        # each decoding (GenAI's, or one keeping special tokens' text) learns its tokens in one call
        learnt: dict[Pieces, list[int]] = {}
        plan: list[tuple[EngineRequest, int, _Output, list[int], Pieces]] = []
        for request, by_index in outputs:
            pieces = self._decodings.of(request.keep_special)
            learn = learnt.setdefault(pieces, [])
            for index, out in by_index.items():
                ids = text_ids(out.ids, request.keep_special)
                learn += ids
                plan.append((request, index, out, ids, pieces))
        for pieces, ids in learnt.items():
            pieces.learn(ids)
        items: list[tuple[EngineRequest, int, _Output, IncrementalText, str | None]] = []
        slow: dict[Pieces, list[IncrementalText]] = {}  # by decoding: the choices that take the windows
        for request, index, out, ids, pieces in plan:
            text = request.choices.get(index)
            if text is None:
                text = request.choices[index] = IncrementalText()
            taken = text.take(ids, pieces)
            if taken is None:
                text.ids += ids
                slow.setdefault(pieces, []).append(text)
            items.append((request, index, out, text, taken))
        decoded: dict[int, list[str]] = {}  # by choice text
        for pieces, texts in slow.items():
            windows = decode_all(pieces.tokenizer, [text.windows() for text in texts])
            decoded.update((id(text), found) for text, found in zip(texts, windows, strict=True))
        deltas: dict[int, list[ChoiceDelta]] = {}
        for request, index, out, text, taken in items:
            if taken is None:
                taken = text.advance(decoded[id(text)], out.reason is not None)
            if not out.ids and not taken and out.reason is None:
                continue
            logprobs = self._logprobs(out) if request.logprobs else ()
            delta = ChoiceDelta(index, taken, len(out.ids), out.reason, logprobs)
            deltas.setdefault(request.id, []).append(delta)
        return deltas

    def _logprobs(self, out: _Output) -> tuple[TokenLogprob, ...]:
        """Each token's text and log prob: a plain token's cached text (:class:`Pieces`, learnt for
        this step's tokens), the others decoded alone, in one detokenizer call."""
        texts = [self._decodings.plain.known(token) for token in out.ids]
        missing = [[token] for token, text in zip(out.ids, texts, strict=True) if text is None]
        if missing:
            decoded = iter(self._tokenizer.decode(missing))
            texts = [text if text is not None else str(next(decoded)) for text in texts]
        return tuple(TokenLogprob(str(t), v) for t, v in zip(texts, out.logprobs, strict=False))

    def _finish(self, request: EngineRequest, error: BaseException | None, *, post: bool = True) -> Event:
        """End ``request``: drop its handle and post ``error`` (None: the end) unless ``post`` is false."""
        request.done = True
        SWITCH.first_done(request)
        self._settle = 2
        request.handle = None  # dropping the handle drops the request in GenAI
        self._active.pop(request.id, None)
        if post:  # after what is held for it
            self._held.append((request, error))
            self._send_held()
        return error


def fit_context(config: Any, prompt_tokens: int, max_context: int | None) -> None:
    """Refuse a prompt that fills the context; cap the new tokens at the room left (finish: length)."""
    if max_context is None:
        return
    if prompt_tokens >= max_context:
        raise PromptTooLong(
            f"The prompt has {prompt_tokens} tokens; the model's context is {max_context} tokens"
        )
    room = max_context - prompt_tokens
    if config.max_new_tokens > room:
        config.max_new_tokens = room


def _accept(future: asyncio.Future[int], tokens: int) -> None:
    if not future.done():
        future.set_result(tokens)


def _refuse(request: EngineRequest, error: BaseException) -> None:
    """End ``request`` before it was accepted (from the engine thread): its ``accepted`` raises ``error``."""
    request.done = True
    SWITCH.first_done(request)
    request.loop.call_soon_threadsafe(_reject, request.accepted, error)


def _reject(future: asyncio.Future[int], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
