"""The model's reasoning and tool parsers on a streamed chat choice.

Reasoning (``qwen3``): GenAI's incremental ``<think>`` parser splits each delta into content
and reasoning. Tool calls (only when the request gave tools): the content is sent as it comes
until a call begins, where the format says one does (:class:`~ovserve.genai.tool_parsers.ToolFormat`:
a marker anywhere, such as ``<tool_call>``, with a possible partial marker held back; or a
leading one, such as ``llama3``'s ``{``, only at the answer's start), then held; at the end the
held text is parsed into tool calls, or sent as content if it holds none.
"""

from __future__ import annotations

from typing import Any

import openvino_genai as ov_genai

from ovserve.genai.tool_parsers import ToolFormat, Tools, partial_marker
from ovserve.genai.types import ToolCall


class ChoiceParser:
    """One choice's stream through ``reasoning`` (a parser name, "" for none) and ``tool_format``
    (None: no tool parser, or the request gave no tools)."""

    def __init__(self, reasoning: str, tool_format: ToolFormat | None, tools: Tools) -> None:
        self._reasoning = (
            ov_genai.ReasoningIncrementalParser(expect_open_tag=True, keep_original_content=False)
            if reasoning == "qwen3"
            else None
        )
        self._format = tool_format
        self._tools = tools
        self._held = ""
        self._holding = False
        self._at_start = bool(tool_format is not None and tool_format.leading)

    def feed(self, text: str) -> tuple[str, str]:
        reasoning = ""
        if self._reasoning is not None:
            message: dict[str, Any] = {}
            text = str(self._reasoning.parse(message, text) or message.get("content") or "")
            reasoning = str(message.get("reasoning_content") or "")
        return self._content(text), reasoning

    def _content(self, text: str) -> str:
        found = self._format
        if found is None:
            return text
        self._held += text
        if self._holding:
            return ""
        if self._at_start:
            start = self._held.lstrip()
            if start.startswith(found.leading):
                self._holding = True
                return ""
            if not start or any(lead.startswith(start) for lead in found.leading):
                return ""  # it may still become a leading marker
            self._at_start = False
        at = min((i for i in (self._held.find(m) for m in found.markers) if i >= 0), default=-1)
        if at >= 0:
            self._holding = True
            out, self._held = self._held[:at], self._held[at:]
            return out
        keep = partial_marker(self._held, found.markers)
        out, self._held = self._held[: len(self._held) - keep], self._held[len(self._held) - keep :]
        return out

    def finish(self) -> tuple[str, tuple[ToolCall, ...]]:
        held, self._held = self._held, ""
        if not self._holding or self._format is None:
            return held, ()
        content, calls = self._format.parse(held, self._tools)
        return (content, calls) if calls else (held, ())
