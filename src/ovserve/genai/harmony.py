"""gpt-oss's Harmony answers (OVMS's ``gptoss`` reasoning and tool parsers).

A Harmony answer is a run of messages, each a header and a body::

    <|channel|>analysis<|message|>the reasoning<|end|>
    <|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city": "Paris"}<|call|>
    <|start|>assistant<|channel|>final<|message|>the answer<|return|>

The ``analysis`` channel is the reasoning, a message addressed ``to=functions.NAME`` (in its header,
before or after the channel) is a tool call with its body as the arguments, and the ``final`` and
``commentary`` channels are the content. Harmony's markers are special tokens: the answer is
decoded with their text. An answer with no ``<|message|>`` is plain content.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ovserve.genai.tool_parsers import partial_marker
from ovserve.genai.types import ToolCall

_MESSAGE = "<|message|>"
#: what ends a message's body (``<|start|>`` begins the next message's header)
_ENDS = ("<|end|>", "<|call|>", "<|return|>", "<|start|>")
_CHANNEL = re.compile(r"<\|channel\|>\s*(\w+)")
_RECIPIENT = re.compile(r"to=functions\.([^\s<]+)")


@dataclass
class HarmonyMessage:
    """An answer's parts: content, reasoning and tool calls."""

    content: str = ""
    reasoning: str = ""
    calls: list[ToolCall] = field(default_factory=list)


def _kind(header: str) -> tuple[str, str]:
    """A header's part: ("call", NAME), ("reasoning", "") or ("content", "")."""
    recipient = _RECIPIENT.search(header)
    if recipient is not None:
        return "call", recipient.group(1)
    channel = _CHANNEL.search(header)
    return ("reasoning", "") if channel is not None and channel.group(1) == "analysis" else ("content", "")


def parse_harmony(text: str) -> HarmonyMessage:
    """A whole answer's parts."""
    stream = HarmonyStream()
    content, reasoning = stream.feed(text)
    rest, calls = stream.finish()
    return HarmonyMessage(content + rest, reasoning, list(calls))


class HarmonyStream:
    """One streamed Harmony choice: each delta's content and reasoning as they come, the tool
    calls held until their message ends (a :class:`~ovserve.genai.types.StreamParser`)."""

    def __init__(self, *, with_calls: bool = True) -> None:
        self._with_calls = with_calls  # the request gave tools: else a call is dropped
        self._buffer = ""
        self._in_body = False
        self._kind = ("content", "")
        self._arguments = ""
        self._calls: list[ToolCall] = []
        self._harmony = False  # a header was seen: text before one is not plain content

    def feed(self, text: str) -> tuple[str, str]:
        self._buffer += text
        content: list[str] = []
        reasoning: list[str] = []
        while True:
            if not self._in_body:
                at = self._buffer.find(_MESSAGE)
                if at < 0:
                    break
                self._kind = _kind(self._buffer[:at])
                self._buffer = self._buffer[at + len(_MESSAGE) :]
                self._in_body, self._harmony = True, True
                continue
            end, marker = min(
                ((self._buffer.find(m), m) for m in _ENDS if m in self._buffer), default=(-1, "")
            )
            body = self._buffer if end < 0 else self._buffer[:end]
            if end < 0:  # keep what could be the start of an end marker
                body = body[: len(body) - partial_marker(body, _ENDS)]
            self._take(body, content, reasoning)
            if end < 0:
                self._buffer = self._buffer[len(body) :]
                break
            self._end_message()
            self._buffer = self._buffer[end + (0 if marker == "<|start|>" else len(marker)) :]
        return "".join(content), "".join(reasoning)

    def _take(self, body: str, content: list[str], reasoning: list[str]) -> None:
        kind = self._kind[0]
        if kind == "call":
            self._arguments += body
        elif kind == "reasoning":
            reasoning.append(body)
        else:
            content.append(body)

    def _end_message(self) -> None:
        if self._kind[0] == "call" and self._with_calls:
            self._calls.append(ToolCall(self._kind[1], self._arguments.strip() or "{}"))
        self._in_body, self._arguments, self._kind = False, "", ("content", "")

    def finish(self) -> tuple[str, tuple[ToolCall, ...]]:
        """The content still held (a body cut short, or a plain answer) and the tool calls."""
        rest, self._buffer = self._buffer, ""
        content = ""
        if self._in_body:
            kind = self._kind[0]
            if kind == "call":
                self._arguments += rest
            elif kind == "content":
                content = rest
            self._end_message()
        elif not self._harmony:
            content = rest  # no Harmony header at all: a plain answer
        return content, tuple(self._calls)
