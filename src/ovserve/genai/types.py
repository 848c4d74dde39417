"""The generative servable interfaces and the data that crosses them.

A generative model version is a :class:`~ovserve.core.servable.Servable` like any other
(the manager loads, swaps, retires and pins it), with no tensor inputs: the KServe and
TF Serving front ends answer that it serves a task through the OpenAI endpoints. The
OpenAI front end calls the task's method instead of ``infer``.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from ovserve.core.ids import ServableId
from ovserve.core.servable import Servable
from ovserve.errors import Code, ServingError

#: the version number a generative model is served under (OVMS shows 1 as well)
GENERATIVE_VERSION = 1


class NotGenerative(ServingError):
    """An OpenAI endpoint named a model that does not serve its task."""

    code = Code.INVALID_ARGUMENT


class GenerativeOnly(ServingError):
    """A tensor (KServe / TF Serving) request named a generative model: it is served through the
    OpenAI API only."""

    code = Code.FAILED_PRECONDITION


class GenerationAborted(ServingError):
    """A generation ended before its last token: the model was unloaded, or the engine dropped it."""

    code = Code.UNAVAILABLE


class PromptTooLong(ServingError):
    """The prompt (or an input text) does not fit the model's context."""

    code = Code.INVALID_ARGUMENT


@dataclass(frozen=True)
class SamplingParams:
    """What one generation request asks for (OpenAI's fields, resolved); None: the model's default."""

    max_new_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    n: int = 1
    best_of: int | None = None
    stop: tuple[str, ...] = ()
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    repetition_penalty: float | None = None
    logprobs: bool = False
    ignore_eos: bool = False
    include_stop_str_in_output: bool = False
    #: a JSON schema (text) the output must follow (structured output), or None
    json_schema: str | None = None


@dataclass(frozen=True)
class GenerationRequest:
    """A completion (``prompt``, used as is) or a chat (``messages``, through the chat template).

    ``tools`` (OpenAI's function definitions) are given to the chat template, and ask for the
    model's tool parser on the answer.
    """

    params: SamplingParams
    prompt: str | None = None
    messages: Sequence[Mapping[str, object]] | None = None
    tools: Sequence[Mapping[str, object]] | None = None


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: str  # JSON text, as OpenAI sends it


@dataclass(frozen=True)
class ParsedMessage:
    """A whole chat answer after the model's reasoning and tool parsers."""

    content: str
    reasoning: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class TokenLogprob:
    token: str
    logprob: float


@dataclass(slots=True)
class ChoiceDelta:
    """New output of one choice since the last delta; read-only once made. Not frozen: one is
    made per token and choice, and a frozen dataclass costs several times as much to make."""

    index: int
    text: str
    tokens: int
    finish_reason: str | None = None  # "stop" | "length" | None while running
    logprobs: tuple[TokenLogprob, ...] = ()


class StreamParser(Protocol):
    """One streamed chat choice through the model's reasoning and tool parsers."""

    def feed(self, text: str) -> tuple[str, str]:
        """A text delta -> (the content, the reasoning) to send now; tool calls are held back."""

    def finish(self) -> tuple[str, tuple[ToolCall, ...]]:
        """At the choice's end: (content still held, the tool calls found)."""


class GenerationStream(abc.ABC):
    """One running generation: its prompt's size and the deltas of its choices as they come.

    Iterate it on the event loop; :meth:`cancel` (or leaving the iteration early and
    calling it) stops the generation at once and frees its cache. Safe to call twice.
    """

    prompt_tokens: int = 0

    @abc.abstractmethod
    def __aiter__(self) -> AsyncIterator[list[ChoiceDelta]]: ...

    def ready(self) -> list[list[ChoiceDelta]]:
        """The steps iteration would yield next without waiting, taken from the stream now (so a
        reader that fell behind sends them together); [] when none, or at the end or an error."""
        return []

    def deliver_directly(self, take: Callable[[list[list[ChoiceDelta]]], bool] | None) -> None:
        """From now on (None: no longer) offer ``take``, on the event loop, the steps that come
        while the iteration waits for them with nothing queued, without waking the iteration:
        ``take`` returns False when it cannot take them now (they then go to the iteration). A
        stream that cannot (this default) keeps handing every step to the iteration."""
        del take

    @abc.abstractmethod
    def cancel(self) -> None: ...


@dataclass(frozen=True)
class Embeddings:
    vectors: np.ndarray  # [N, D] float32
    prompt_tokens: int


@dataclass(frozen=True)
class RerankScores:
    scores: list[float] = field(default_factory=list)
    prompt_tokens: int = 0


class GenerativeServable(Servable):
    """A generative model version; ``task`` says which OpenAI endpoint serves it."""

    task: str = ""

    def __init__(self, servable_id: ServableId) -> None:
        super().__init__(servable_id, (), ())

    async def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise GenerativeOnly(
            f"Model {self.name} serves the {self.task} task; call it through the OpenAI API (/v3/...)"
        )

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return await self.infer(inputs)


class TextGenerationServable(GenerativeServable):
    task = "text_generation"
    #: the model's context length in tokens (prompt + generated), when known
    max_context: int | None = None
    #: test gates only: the ``stream-<model>`` gate file its streams are read through
    stream_gate: Path | None = None

    def stream_parser(self, tools: Sequence[Mapping[str, object]] | None) -> StreamParser | None:
        """For one streamed chat choice (``tools``: the request's, or None), the model's parsers;
        None when it has none."""
        return None

    def parse_message(self, text: str, tools: Sequence[Mapping[str, object]] | None) -> ParsedMessage:
        """A whole chat answer through the model's parsers (``tools``: the request's, or None)."""
        return ParsedMessage(text)

    @abc.abstractmethod
    async def generate(self, request: GenerationRequest) -> GenerationStream:
        """Start a generation: templated, tokenized, checked and queued before this returns.

        Raises :class:`PromptTooLong` or ``InvalidInput`` for a request the model cannot run.
        """


class EmbeddingsServable(GenerativeServable):
    task = "embeddings"

    @abc.abstractmethod
    async def embed(self, texts: Sequence[str]) -> Embeddings: ...


class RerankServable(GenerativeServable):
    task = "rerank"

    @abc.abstractmethod
    async def rerank(self, query: str, documents: Sequence[str]) -> RerankScores: ...
