"""Tool-call parsers written here for formats OpenVINO GenAI has no parser for.

``hermes3`` (Hermes 3, Qwen 2.5 and Qwen 3 chat templates): each call is a JSON object
``{"name": ..., "arguments": {...}}`` between ``<tool_call>`` and ``</tool_call>``; the text
before the first call is the message's content. A block that is not such JSON stays text.
"""

from __future__ import annotations

import json
import re

from ovserve.genai.types import ToolCall

_HERMES3 = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)


def parse_hermes3(text: str) -> tuple[str, tuple[ToolCall, ...]]:
    """(content, calls) of a whole answer; no calls: the text unchanged."""
    calls = []
    for block in _HERMES3.findall(text):
        try:
            value = json.loads(block)
        except ValueError:
            return text, ()
        if not isinstance(value, dict) or not isinstance(value.get("name"), str):
            return text, ()
        arguments = value.get("arguments", {})
        calls.append(
            ToolCall(value["name"], arguments if isinstance(arguments, str) else json.dumps(arguments))
        )
    if not calls:
        return text, ()
    return text[: text.index("<tool_call>")].strip(), tuple(calls)
