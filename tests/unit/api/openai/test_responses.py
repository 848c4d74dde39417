"""Streamed chat chunks: role first, content per delta, reasoning split out when the model has a splitter."""

from __future__ import annotations

from ovserve.api.openai.responses import Completion
from ovserve.genai.types import ChoiceDelta, ToolCall


class Parser:
    """Text after "?" is reasoning; "call" ends the choice with a tool call."""

    def feed(self, text: str) -> tuple[str, str]:
        return ("", text[1:]) if text.startswith("?") else (text, "")

    def finish(self) -> tuple[str, tuple[ToolCall, ...]]:
        return "", (ToolCall("f", "{}"),)


def test_chunks_carry_role_once_and_split_reasoning() -> None:
    answer = Completion("m", True, 3, Parser)
    first = answer.chunk([ChoiceDelta(0, "?think", 1)], False)["choices"][0]
    second = answer.chunk([ChoiceDelta(0, "Hi", 1, "stop")], False)["choices"][0]
    assert first["delta"] == {"role": "assistant", "content": "", "reasoning_content": "think"}
    assert second["delta"]["content"] == "Hi" and second["finish_reason"] == "tool_calls"
    assert second["delta"]["tool_calls"][0]["function"] == {"name": "f", "arguments": "{}"}
    assert second["delta"]["tool_calls"][0]["index"] == 0
    assert answer.usage_chunk()["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    plain = Completion("m", True, 1)
    assert plain.chunk([ChoiceDelta(0, "?x", 1)], False)["choices"][0]["delta"] == {
        "role": "assistant",
        "content": "?x",
    }
