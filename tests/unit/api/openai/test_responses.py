"""Streamed chat chunks: role first, content per delta, reasoning split out when the model has a splitter."""

from __future__ import annotations

from ovserve.api.openai.responses import Completion
from ovserve.genai.types import ChoiceDelta, TokenLogprob, ToolCall


class Parser:
    """Text after "?" is reasoning; "call" ends the choice with a tool call."""

    def feed(self, text: str) -> tuple[str, str]:
        return ("", text[1:]) if text.startswith("?") else (text, "")

    def finish(self) -> tuple[str, tuple[ToolCall, ...]]:
        return "", (ToolCall("f", "{}"),)


def test_chunks_carry_role_once_and_split_reasoning() -> None:
    answer = Completion("m", True, 3, Parser)
    first = answer.chunk([[ChoiceDelta(0, "?think", 1)]], False)["choices"][0]
    second = answer.chunk([[ChoiceDelta(0, "Hi", 1, "stop")]], False)["choices"][0]
    assert first["delta"] == {"role": "assistant", "content": "", "reasoning_content": "think"}
    assert second["delta"]["content"] == "Hi" and second["finish_reason"] == "tool_calls"
    assert second["delta"]["tool_calls"][0]["function"] == {"name": "f", "arguments": "{}"}
    assert second["delta"]["tool_calls"][0]["index"] == 0
    assert answer.usage_chunk()["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    plain = Completion("m", True, 1)
    assert plain.chunk([[ChoiceDelta(0, "?x", 1)]], False)["choices"][0]["delta"] == {
        "role": "assistant",
        "content": "?x",
    }


def test_steps_merged_into_one_chunk_go_through_the_parser_step_by_step() -> None:
    steps = [[ChoiceDelta(0, "?think", 1)], [ChoiceDelta(0, "?more", 1)], [ChoiceDelta(0, "Hi", 1, "stop")]]
    merged = Completion("m", True, 3, Parser).chunk(steps, False)["choices"]
    assert len(merged) == 1
    assert merged[0]["delta"]["role"] == "assistant"
    assert (merged[0]["delta"]["content"], merged[0]["delta"]["reasoning_content"]) == ("Hi", "thinkmore")
    assert merged[0]["finish_reason"] == "tool_calls"
    assert merged[0]["delta"]["tool_calls"][0]["function"] == {"name": "f", "arguments": "{}"}


def test_merged_chunk_joins_texts_logprobs_and_keeps_each_choice_apart() -> None:
    answer = Completion("m", False, 2)
    steps = [
        [ChoiceDelta(0, "a", 1, None, (TokenLogprob("a", -0.5),)), ChoiceDelta(1, "x", 1)],
        [ChoiceDelta(0, "bc", 2, None, (TokenLogprob("b", -0.25), TokenLogprob("c", 0.0)))],
        [ChoiceDelta(1, "y", 1, "stop"), ChoiceDelta(0, "", 1, "length")],
    ]
    choices = answer.chunk(steps, True)["choices"]
    assert [(c["index"], c["text"], c["finish_reason"]) for c in choices] == [
        (0, "abc", "length"),
        (1, "xy", "stop"),
    ]
    assert choices[0]["logprobs"]["tokens"] == ["a", "b", "c"]
    assert choices[0]["logprobs"]["token_logprobs"] == [-0.5, -0.25, 0.0]
    assert answer.usage()["completion_tokens"] == 6
    chat = Completion("m", True, 2).chunk(steps[:2], True)["choices"]
    assert [t["token"] for t in chat[0]["logprobs"]["content"]] == ["a", "b", "c"]
    assert chat[0]["delta"] == {"role": "assistant", "content": "abc"}
