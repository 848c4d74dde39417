"""Streamed chat chunks: role first, content per delta, reasoning split out when the model has a splitter."""

from __future__ import annotations

from ovserve.api.openai.responses import Completion
from ovserve.genai.types import ChoiceDelta


def test_chunks_carry_role_once_and_split_reasoning() -> None:
    def splitter() -> object:
        return lambda text: (text, "") if not text.startswith("?") else ("", text[1:])

    answer = Completion("m", True, 3, splitter)  # type: ignore[arg-type]
    first = answer.chunk([ChoiceDelta(0, "?think", 1)], False)["choices"][0]
    second = answer.chunk([ChoiceDelta(0, "Hi", 1, "stop")], False)["choices"][0]
    assert first["delta"] == {"role": "assistant", "content": "", "reasoning_content": "think"}
    assert second["delta"] == {"content": "Hi"} and second["finish_reason"] == "stop"
    assert answer.usage_chunk()["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    plain = Completion("m", True, 1)
    assert plain.chunk([ChoiceDelta(0, "?x", 1)], False)["choices"][0]["delta"] == {
        "role": "assistant",
        "content": "?x",
    }
