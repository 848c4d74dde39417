"""Text generation on OpenVINO GenAI's ContinuousBatchingPipeline (OVMS's ``LM_CB`` servable)."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import Any

import openvino_genai as ov_genai

from ovserve.backends.genai.engine import GenerationEngine
from ovserve.backends.genai.events import EventStream
from ovserve.backends.genai.files import context_length, plugin_properties, read_json
from ovserve.backends.genai.stream_parse import ChoiceParser
from ovserve.config.genai import GenerativeConfig
from ovserve.config.types import ModelConfig
from ovserve.core.ids import ServableId
from ovserve.errors import InvalidInput
from ovserve.genai.harmony import HarmonyStream, parse_harmony
from ovserve.genai.tool_parsers import FORMATS, ToolFormat, Tools, tool_call
from ovserve.genai.types import (
    GenerationRequest,
    GenerationStream,
    ParsedMessage,
    SamplingParams,
    StreamParser,
    TextGenerationServable,
    ToolCall,
)

#: generation_config.json keys taken as the model's defaults (OVMS: request > file > built-in)
_DEFAULT_KEYS = (
    "eos_token_id",
    "temperature",
    "top_p",
    "top_k",
    "repetition_penalty",
    "do_sample",
    "max_new_tokens",
    "min_new_tokens",
)


def scheduler_config(options: GenerativeConfig) -> Any:
    """OVMS's text-generation options as GenAI's SchedulerConfig."""
    config = ov_genai.SchedulerConfig()
    config.max_num_seqs = options.max_num_seqs
    config.cache_size = options.cache_size
    config.enable_prefix_caching = options.enable_prefix_caching
    config.dynamic_split_fuse = options.dynamic_split_fuse
    if options.max_num_batched_tokens is not None:
        config.max_num_batched_tokens = options.max_num_batched_tokens
    if options.cache_interval_multiplier is not None:
        config.cache_interval_multiplier = options.cache_interval_multiplier
    return config


class GenAITextServable(TextGenerationServable):
    """What every text generation servable shares: tokenizer, chat template, the model's defaults."""

    def __init__(self, servable_id: ServableId, config: ModelConfig, directory: Path, tokenizer: Any) -> None:
        super().__init__(servable_id)
        assert config.generative is not None
        self.max_context = context_length(directory)
        self.max_tokens_limit = config.generative.max_tokens_limit
        self.best_of_limit = config.generative.best_of_limit
        tool_parser = config.generative.tool_parser
        self._reasoning_parser = config.generative.reasoning_parser
        # gpt-oss's Harmony answers (``gptoss`` reasoning or tool parser): both are read from them
        self._harmony = HARMONY in (self._reasoning_parser, tool_parser)
        self._tool_format = tool_format(tool_parser)
        self._tokenizer = tokenizer
        self._defaults = _defaults(directory)
        if "eos_token_id" not in self._defaults and tokenizer.get_eos_token_id() >= 0:
            self._defaults["eos_token_id"] = tokenizer.get_eos_token_id()

    def prompt(self, request: GenerationRequest) -> tuple[str, bool]:
        """The prompt text and whether the tokenizer adds its special tokens (as OVMS: completions only)."""
        if request.messages is None:
            return request.prompt or "", True
        if not self._tokenizer.chat_template:
            raise InvalidInput(f"Model {self.name} has no chat template: use /v3/completions")
        tools = [dict(tool) for tool in request.tools] if request.tools else None
        try:
            text = self._tokenizer.apply_chat_template(list(request.messages), True, tools=tools)
        except Exception as exc:
            raise InvalidInput(f"The chat template could not be applied to the messages: {exc}") from None
        return str(text), False

    def keep_special(self, tools: Tools, config: Any) -> frozenset[int] | None:
        """For the engine: the stop token ids when the answer must keep special tokens' text (its
        parser's markers are special tokens), else None."""
        found = self._tool_format if tools else None
        if not self._harmony and (found is None or not found.special_tokens):
            return None
        stops = {int(token) for token in config.stop_token_ids}
        return frozenset(stops | {int(config.eos_token_id)})

    def stream_parser(self, tools: Tools) -> StreamParser | None:
        """The model's reasoning parser, and its tool parser when the request gave tools."""
        if self._harmony:
            return HarmonyStream(with_calls=bool(tools))
        found = self._tool_format if tools else None
        if self._reasoning_parser != "qwen3" and found is None:
            return None
        return ChoiceParser(self._reasoning_parser, found, tools)

    def parse_message(self, text: str, tools: Tools) -> ParsedMessage:
        """The answer through the model's parsers: ``qwen3`` reasoning (``<think>``, GenAI's parser),
        then, when the request gave tools, the tool parser (``llama3``: GenAI's; the others:
        :mod:`ovserve.genai.tool_parsers`); or gpt-oss's Harmony channels."""
        if self._harmony:
            parts = parse_harmony(text)
            made = tuple(parts.calls) if tools else ()
            return ParsedMessage(parts.content.strip(), parts.reasoning.strip() or None, made)
        message: dict[str, Any] = {"content": text}
        if self._reasoning_parser == "qwen3":
            ov_genai.ReasoningParser(expect_open_tag=True, keep_original_content=False).parse(message)
        calls: tuple[ToolCall, ...] = ()
        content = str(message.get("content", "")).lstrip("\n")
        found = self._tool_format if tools else None
        if found is not None:
            content, calls = found.parse(content, tools)
        reasoning = str(message.get("reasoning_content") or "").strip()
        return ParsedMessage(content, reasoning or None, calls)

    def generation_config(self, params: SamplingParams) -> Any:
        best_of = params.best_of or params.n
        if best_of > self.best_of_limit:
            raise InvalidInput(
                f"best_of (or n) {best_of} exceeds the model's best_of_limit {self.best_of_limit}"
            )
        config = ov_genai.GenerationConfig()
        config.update_generation_config(**self._defaults)
        _apply_params(config, params)
        limit = self.max_tokens_limit
        if limit is not None and config.max_new_tokens > limit:
            if params.max_new_tokens is not None:
                raise InvalidInput(
                    f"max_tokens {params.max_new_tokens} exceeds the model's max_tokens_limit {limit}"
                )
            config.max_new_tokens = limit
        try:
            config.validate()
        except Exception as exc:
            raise InvalidInput(f"Invalid generation parameters: {exc}") from None
        return config


class ContinuousBatchingServable(GenAITextServable):
    """One LLM version on a ContinuousBatchingPipeline and its stepping thread (OVMS's LM_CB)."""

    def __init__(self, servable_id: ServableId, config: ModelConfig, directory: Path) -> None:
        assert config.generative is not None
        options = config.generative
        properties = plugin_properties(config.plugin_config)
        if options.kv_cache_precision:
            properties["KV_CACHE_PRECISION"] = options.kv_cache_precision
        pipeline = ov_genai.ContinuousBatchingPipeline(
            str(directory), scheduler_config(options), config.target_device, properties
        )
        super().__init__(servable_id, config, directory, pipeline.get_tokenizer())
        self.engine = GenerationEngine(pipeline, self.max_context, servable_id.name)

    async def generate(self, request: GenerationRequest) -> GenerationStream:
        prompt, special_tokens = self.prompt(request)
        config = self.generation_config(request.params)
        keep_special = self.keep_special(request.tools, config)
        submitted = self.engine.submit(prompt, special_tokens, config, request.params.logprobs, keep_special)
        try:
            prompt_tokens = await submitted.accepted
        except asyncio.CancelledError:
            self.engine.cancel(submitted)
            raise
        cancel = functools.partial(self.engine.cancel, submitted)
        stream = EventStream(submitted.events, cancel, prompt_tokens, self.stream_gate)
        submitted.sink = stream.offer
        return stream

    def kv_cache_usage(self) -> float:
        """The KV cache in use, in percent (for metrics)."""
        return self.engine.cache_usage

    def close(self) -> None:
        self.engine.close()


def _apply_params(config: Any, params: SamplingParams) -> None:
    """Request fields over the model's defaults, as OVMS maps OpenAI's fields onto GenAI's."""
    if params.max_new_tokens is not None:
        config.max_new_tokens = params.max_new_tokens
    if params.temperature is not None:
        config.temperature = params.temperature
        config.do_sample = params.temperature > 0
    if params.top_p is not None:
        config.top_p = params.top_p
    if params.top_k is not None:
        config.top_k = params.top_k
    if params.seed is not None:
        config.rng_seed = params.seed
    if params.stop:
        config.stop_strings = set(params.stop)
        config.include_stop_str_in_output = params.include_stop_str_in_output
    for name in ("presence_penalty", "frequency_penalty", "repetition_penalty"):
        value = getattr(params, name)
        if value is not None:
            setattr(config, name, value)
    if params.logprobs:
        config.logprobs = 1
    if params.ignore_eos:
        config.ignore_eos = True
    n = params.n
    best_of = params.best_of or n
    if best_of > 1:
        config.num_return_sequences = n
        if not config.do_sample:  # greedy choices differ only by beam search (OVMS does the same)
            config.num_beams = best_of
    if params.json_schema is not None:
        structured = ov_genai.StructuredOutputConfig()
        structured.json_schema = params.json_schema
        config.structured_output_config = structured


#: JSON nested deeper than this is not handed to GenAI's llama3 parser: it recurses, and its result
#: comes back through Python's json (RecursionError past ~1,000 levels; past ~85,000 the parser
#: itself overflows the stack and the process dies)
LLAMA3_MOST_DEPTH = 512


def _parse_llama3(text: str, tools: Tools = None) -> tuple[str, tuple[ToolCall, ...]]:
    """The tool calls GenAI's llama3 JSON parser finds in a whole answer (then no content); JSON
    nested too deep for it stays text."""
    if _bracket_depth(text) > LLAMA3_MOST_DEPTH:
        return text, ()
    message: dict[str, Any] = {"content": text}
    try:
        ov_genai.Llama3JsonToolParser().parse(message)
    except (RecursionError, ValueError):
        return text, ()
    found = [tool_call(call) for call in message.get("tool_calls") or ()]
    calls = tuple(call for call in found if call is not None)
    return ("", calls) if calls else (text, ())


def _bracket_depth(text: str) -> int:
    """The deepest nesting of JSON brackets in ``text`` (brackets inside strings count too)."""
    depth = most = 0
    for char in text:
        if char in "[{":
            depth += 1
            most = max(most, depth)
        elif char in "]}":
            depth -= 1
    return most


#: the parser name (reasoning and tools) of gpt-oss's Harmony answers
HARMONY = "gptoss"

#: ``llama3``: a call is the whole answer, a JSON object or ``<|python_tag|>`` and JSON
LLAMA3 = ToolFormat(_parse_llama3, leading=("{", "<|python_tag|>"))


def tool_format(name: str) -> ToolFormat | None:
    """The tool-call format of a ``tool_parser`` name (None: none, or "none")."""
    return LLAMA3 if name == "llama3" else FORMATS.get(name)


def _defaults(directory: Path) -> dict[str, Any]:
    """generation_config.json's defaults ({} when it is missing or unreadable: GenAI's apply)."""
    raw = read_json(directory / "generation_config.json")
    defaults = {k: raw[k] for k in _DEFAULT_KEYS if k in raw and raw[k] is not None}
    eos = defaults.get("eos_token_id")
    if isinstance(eos, list):  # several EOS ids: the first is the EOS, all stop
        defaults["eos_token_id"] = eos[0]
        defaults["stop_token_ids"] = set(eos)
    return defaults
