"""Text generation on GenAI's LLMPipeline (OVMS's ``LM`` pipeline type), one request at a time.

LLMPipeline runs one generation at a time, so requests queue on one worker thread. The
attention backend is the pipeline's default (paged attention) unless the model's
plugin_config sets ``ATTENTION_BACKEND`` (``SDPA``: the stateful model as exported).
Tokens are streamed from GenAI's streamer (on the worker thread) to the event loop; a
cancelled request stops its generation at the next token. Only one choice (``n`` = 1)
and no logprobs: LLMPipeline streams one sequence and reports no per-token logprobs.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openvino_genai as ov_genai

from ovserve.backends.genai.detokenize import Decodings, IncrementalText, Pieces, text_ids
from ovserve.backends.genai.engine import fit_context
from ovserve.backends.genai.events import Event, EventStream
from ovserve.backends.genai.files import plugin_properties
from ovserve.backends.genai.llm import GenAITextServable
from ovserve.config.types import ModelConfig
from ovserve.core.ids import ServableId
from ovserve.errors import InvalidInput
from ovserve.genai.types import ChoiceDelta, GenerationRequest, GenerationStream
from ovserve.threads import started_pool


class _Streamer(ov_genai.StreamerBase):  # type: ignore[misc]
    """Receives token ids on the worker thread; posts the new text (of the ids not in ``stops``,
    decoded by ``pieces``' tokenizer); stops once cancelled."""

    def __init__(
        self,
        pieces: Pieces,
        post: Callable[[Event], None],
        cancelled: threading.Event,
        stops: frozenset[int] | None = None,
    ) -> None:
        super().__init__()
        self.pieces = pieces
        self.stops = stops
        self.text = IncrementalText()
        self.post = post
        self.cancelled = cancelled
        self.tokens = 0

    def write(self, token: Any) -> Any:
        ids = [int(token)] if isinstance(token, int) else [int(t) for t in token]
        made = len(ids)
        self.tokens += made
        ids = text_ids(ids, self.stops)
        text = self.text.take(ids, self.pieces)  # plain tokens: no detokenizer call
        if text is None:
            text = self.text.feed(self.pieces.tokenizer, ids)
        self.post([ChoiceDelta(0, text, made)])
        return ov_genai.StreamingStatus.STOP if self.cancelled.is_set() else ov_genai.StreamingStatus.RUNNING

    def end(self) -> None:
        pass


class LLMPipelineServable(GenAITextServable):
    """One LLM version on an LLMPipeline behind one worker thread."""

    def __init__(self, servable_id: ServableId, config: ModelConfig, directory: Path) -> None:
        pipeline = ov_genai.LLMPipeline(
            str(directory), config.target_device, **plugin_properties(config.plugin_config)
        )
        super().__init__(servable_id, config, directory, pipeline.get_tokenizer())
        self._pipeline = pipeline
        self._decodings = Decodings(self._tokenizer)  # used on the worker thread only
        self._worker = started_pool(1, f"ovserve-llm-{servable_id.name}")  # its thread exists from load on

    async def generate(self, request: GenerationRequest) -> GenerationStream:
        params = request.params
        if params.n > 1 or (params.best_of or 1) > 1 or params.logprobs:
            raise InvalidInput("n > 1, best_of and logprobs need pipeline_type LM_CB (continuous batching)")
        prompt, special_tokens = self.prompt(request)
        config = self.generation_config(params)
        encoded = self._tokenizer.encode(prompt, add_special_tokens=special_tokens)
        prompt_tokens = int(encoded.input_ids.get_shape()[1])
        fit_context(config, prompt_tokens, self.max_context)
        loop = asyncio.get_running_loop()
        cancelled = threading.Event()
        stream = EventStream(asyncio.Queue(), cancelled.set, prompt_tokens)

        def post(event: Event) -> None:
            loop.call_soon_threadsafe(stream.offer, [event])

        keep_special = self.keep_special(request.tools, config)
        self._worker.submit(self._run, encoded, config, post, cancelled, keep_special)
        return stream

    def _run(
        self,
        encoded: Any,
        config: Any,
        post: Callable[[Event], None],
        cancelled: threading.Event,
        keep_special: frozenset[int] | None,
    ) -> None:
        if cancelled.is_set():
            post(None)
            return
        streamer = _Streamer(self._decodings.of(keep_special), post, cancelled, keep_special)
        try:
            result = self._pipeline.generate(encoded, config, streamer)
        except Exception as exc:
            post(exc)
            return
        generated = int(result.perf_metrics.get_num_generated_tokens())
        reason = "length" if generated >= config.max_new_tokens else "stop"
        tail = streamer.text.feed(streamer.pieces.tokenizer, [], final=True)
        post([ChoiceDelta(0, tail, max(0, generated - streamer.tokens), reason)])
        post(None)

    def close(self) -> None:
        self._worker.shutdown(wait=True, cancel_futures=True)
        del self._pipeline
