"""The model's reasoning and tool parsers on a streamed chat choice.

Reasoning (``qwen3``): GenAI's incremental ``<think>`` parser splits each delta into content
and reasoning. Tool calls (``llama3``, ``hermes3``, only when the request gave tools): the
content is sent as it comes until a call begins (``llama3``: the answer starts with ``{`` or
``<|python_tag|>``; ``hermes3``: ``<tool_call>`` appears, a possible partial tag is held back),
then held; at the end the held text is parsed into tool calls, or sent as content if it is none.
"""

from __future__ import annotations

from typing import Any

import openvino_genai as ov_genai

from ovserve.genai.tool_parsers import parse_hermes3
from ovserve.genai.types import ToolCall

_HERMES_TAG = "<tool_call>"
_PYTHON_TAG = "<|python_tag|>"


class ChoiceParser:
    """One choice's stream through ``reasoning`` and ``tools`` (parser names; "" for none)."""

    def __init__(self, reasoning: str, tools: str, llama3: Any) -> None:
        self._reasoning = (
            ov_genai.ReasoningIncrementalParser(expect_open_tag=True, keep_original_content=False)
            if reasoning == "qwen3"
            else None
        )
        self._tools = tools
        self._llama3 = llama3  # callable: whole text -> tool calls (GenAI's parser)
        self._held = ""
        self._holding = False

    def feed(self, text: str) -> tuple[str, str]:
        reasoning = ""
        if self._reasoning is not None:
            message: dict[str, Any] = {}
            text = str(self._reasoning.parse(message, text) or message.get("content") or "")
            reasoning = str(message.get("reasoning_content") or "")
        return self._content(text), reasoning

    def _content(self, text: str) -> str:
        if not self._tools:
            return text
        self._held += text
        if self._holding:
            return ""
        if self._tools == "llama3":
            start = self._held.lstrip()
            if not start:
                return ""
            if start.startswith("{") or start.startswith(_PYTHON_TAG) or _PYTHON_TAG.startswith(start):
                self._holding = start.startswith(("{", _PYTHON_TAG))
                return ""
            self._tools = ""  # plain text: no call can start any more
            out, self._held = self._held, ""
            return out
        at = self._held.find(_HERMES_TAG)
        if at >= 0:
            self._holding = True
            out, self._held = self._held[:at], self._held[at:]
            return out
        keep = _partial_tag(self._held)
        out, self._held = self._held[: len(self._held) - keep], self._held[len(self._held) - keep :]
        return out

    def finish(self) -> tuple[str, tuple[ToolCall, ...]]:
        held, self._held = self._held, ""
        if not self._holding:
            return held, ()
        if self._tools == "hermes3":
            content, calls = parse_hermes3(held)
            return (content, calls) if calls else (held, ())
        calls = self._llama3(held)
        return ("", calls) if calls else (held, ())


def _partial_tag(text: str) -> int:
    """How many trailing characters of ``text`` could start ``<tool_call>``."""
    for size in range(min(len(text), len(_HERMES_TAG) - 1), 0, -1):
        if _HERMES_TAG.startswith(text[-size:]):
            return size
    return 0
