"""OpenAI response documents for chat and completions: whole answers and streamed chunks (SSE)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from ovserve.genai.types import ChoiceDelta, ParsedMessage, StreamParser, TokenLogprob, ToolCall

DONE = b"data: [DONE]\n\n"


def sse(document: Any) -> bytes:
    """One server-sent event carrying ``document`` as JSON."""
    return b"data: " + orjson.dumps(document) + b"\n\n"


@dataclass
class _Choice:
    parts: list[str] = field(default_factory=list)  # the text's pieces (joined once, at the end)
    finish_reason: str | None = None
    logprobs: list[TokenLogprob] = field(default_factory=list)
    started: bool = False
    parser: StreamParser | None = None
    parser_made: bool = False


class Completion:
    """One request's answer as it builds up: choices (by the order they first appear) and usage."""

    def __init__(
        self,
        model: str,
        chat: bool,
        prompt_tokens: int,
        parsers: Callable[[], StreamParser | None] | None = None,
    ) -> None:
        self.model = model
        self._parsers = parsers  # makes one stream parser per streamed chat choice
        self.chat = chat
        self.id = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex
        self.created = int(time.time())
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = 0
        self._numbers: dict[int, int] = {}
        self.choices: list[_Choice] = []
        self._chunk_head: bytes | None = None

    def number(self, delta: ChoiceDelta) -> int:
        if delta.index not in self._numbers:
            self._numbers[delta.index] = len(self.choices)
            self.choices.append(_Choice())
        return self._numbers[delta.index]

    def add(self, delta: ChoiceDelta) -> int:
        number = self.number(delta)
        choice = self.choices[number]
        choice.parts.append(delta.text)
        choice.logprobs.extend(delta.logprobs)
        choice.finish_reason = delta.finish_reason or choice.finish_reason
        self.completion_tokens += delta.tokens
        return number

    def usage(self) -> dict[str, int]:
        total = self.prompt_tokens + self.completion_tokens
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": total,
        }

    def _head(self, obj: str) -> dict[str, Any]:
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model}

    def document(
        self, with_logprobs: bool, parse: Callable[[str], ParsedMessage] | None = None
    ) -> dict[str, Any]:
        """The whole (non-streamed) answer; ``parse`` runs a chat answer through the model's parsers."""
        choices = []
        for number, choice in enumerate(self.choices):
            logprobs = _logprobs(choice.logprobs, self.chat) if with_logprobs else None
            item: dict[str, Any] = {
                "index": number,
                "logprobs": logprobs,
                "finish_reason": choice.finish_reason,
            }
            text = "".join(choice.parts)
            if self.chat:
                parsed = parse(text) if parse is not None else ParsedMessage(text)
                item["message"] = _message(parsed)
                if parsed.tool_calls:
                    item["finish_reason"] = "tool_calls"
            else:
                item["text"] = text
            choices.append(item)
        obj = "chat.completion" if self.chat else "text_completion"
        return {**self._head(obj), "choices": choices, "usage": self.usage()}

    def chunk(self, steps: list[list[ChoiceDelta]], with_logprobs: bool) -> dict[str, Any]:
        """One streamed chunk with the new output of ``steps`` (see :meth:`chunk_event`)."""
        obj = "chat.completion.chunk" if self.chat else "text_completion"
        return {**self._head(obj), "choices": self._chunk_choices(steps, with_logprobs)}

    def chunk_event(self, steps: list[list[ChoiceDelta]], with_logprobs: bool) -> bytes:
        """:meth:`chunk` as one server-sent event: the same JSON, its fixed head encoded once.

        ``steps`` are one or more engine steps' deltas (several when the reader fell behind): each
        choice's appear merged, as one delta of their texts (through the model's parsers step by
        step), their tokens' log probs in order and the finish reason of the last."""
        if self._chunk_head is None:
            obj = "chat.completion.chunk" if self.chat else "text_completion"
            self._chunk_head = b"data: " + orjson.dumps(self._head(obj))[:-1] + b',"choices":'
        return self._chunk_head + orjson.dumps(self._chunk_choices(steps, with_logprobs)) + b"}\n\n"

    def _chunk_choices(self, steps: list[list[ChoiceDelta]], with_logprobs: bool) -> list[dict[str, Any]]:
        by_index: dict[int, list[ChoiceDelta]] = {}  # in the order the choices first appear
        for step in steps:
            for delta in step:
                found = by_index.get(delta.index)
                if found is None:
                    by_index[delta.index] = [delta]
                else:
                    found.append(delta)
        return [self._chunk_choice(deltas, with_logprobs) for deltas in by_index.values()]

    def _chunk_choice(self, deltas: list[ChoiceDelta], with_logprobs: bool) -> dict[str, Any]:
        """One choice's entry in a chunk: its ``deltas`` (of consecutive steps) merged."""
        number = self.number(deltas[0])
        for delta in deltas:
            self.add(delta)
        last = deltas[-1]  # a choice's finish reason comes with its last delta
        if with_logprobs:
            items = list(last.logprobs) if len(deltas) == 1 else [t for d in deltas for t in d.logprobs]
            logprobs: dict[str, Any] | None = _logprobs(items, self.chat)
        else:
            logprobs = None
        item: dict[str, Any] = {"index": number, "logprobs": logprobs, "finish_reason": last.finish_reason}
        choice = self.choices[number]
        if self.chat:
            content, calls = self._delta(number, deltas)
            if not choice.started:
                content = {"role": "assistant", **content}
            item["delta"] = content
            if calls:
                item["finish_reason"] = "tool_calls"
        else:
            item["text"] = last.text if len(deltas) == 1 else "".join(d.text for d in deltas)
        choice.started = True
        return item

    def _delta(self, number: int, deltas: list[ChoiceDelta]) -> tuple[dict[str, Any], tuple[ToolCall, ...]]:
        """A chat delta's fields through the model's parsers (content, reasoning, tool calls); the
        parsers see each step's text as it came, their outputs are joined."""
        choice = self.choices[number]
        if not choice.parser_made:
            choice.parser, choice.parser_made = (self._parsers() if self._parsers else None), True
        parser = choice.parser
        if parser is None:
            return {"content": deltas[0].text if len(deltas) == 1 else "".join(d.text for d in deltas)}, ()
        contents, reasonings = [], []
        for delta in deltas:
            content, reasoning = parser.feed(delta.text)
            contents.append(content)
            reasonings.append(reasoning)
        calls: tuple[ToolCall, ...] = ()
        if deltas[-1].finish_reason is not None:
            rest, calls = parser.finish()
            contents.append(rest)
        fields: dict[str, Any] = {"content": "".join(contents)}
        reasoning = "".join(reasonings)
        if reasoning:
            fields["reasoning_content"] = reasoning
        if calls:
            fields["tool_calls"] = [{"index": i, **_tool_call(call)} for i, call in enumerate(calls)]
        return fields, calls

    def usage_chunk(self) -> dict[str, Any]:
        obj = "chat.completion.chunk" if self.chat else "text_completion"
        return {**self._head(obj), "choices": [], "usage": self.usage()}


def _message(parsed: ParsedMessage) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": parsed.content}
    if parsed.reasoning is not None:
        message["reasoning_content"] = parsed.reasoning
    if parsed.tool_calls:
        message["content"] = None
        message["tool_calls"] = [_tool_call(call) for call in parsed.tool_calls]
    return message


def _tool_call(call: ToolCall) -> dict[str, Any]:
    return {
        "id": "call_" + uuid.uuid4().hex[:24],
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }


def _logprobs(items: list[TokenLogprob], chat: bool) -> dict[str, Any]:
    if chat:
        return {
            "content": [
                {"token": t.token, "logprob": t.logprob, "bytes": list(t.token.encode()), "top_logprobs": []}
                for t in items
            ]
        }
    offsets, offset = [], 0
    for item in items:
        offsets.append(offset)
        offset += len(item.token)
    return {
        "tokens": [t.token for t in items],
        "token_logprobs": [t.logprob for t in items],
        "top_logprobs": [{t.token: t.logprob} for t in items],
        "text_offset": offsets,
    }
