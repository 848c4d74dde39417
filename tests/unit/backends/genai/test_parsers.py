"""A whole chat answer through GenAI's parsers, as the model's tool_parser / reasoning_parser ask."""

from __future__ import annotations

import json
from types import SimpleNamespace

from ovserve.backends.genai.llm import GenAITextServable
from ovserve.genai.types import ParsedMessage, ToolCall


def parse(text: str, *, tools: bool, tool_parser: str = "", reasoning_parser: str = "") -> ParsedMessage:
    servable = SimpleNamespace(_tool_parser=tool_parser, _reasoning_parser=reasoning_parser)
    return GenAITextServable.parse_message(servable, text, tools)  # type: ignore[arg-type]


def test_qwen3_reasoning_is_split_from_the_content() -> None:
    parsed = parse("<think>\nthe user greets\n</think>\n\nHello!", tools=False, reasoning_parser="qwen3")
    assert parsed == ParsedMessage("Hello!", "the user greets")
    assert parse("Hello!", tools=False, reasoning_parser="qwen3") == ParsedMessage("Hello!")


def test_llama3_tool_calls_only_when_the_request_has_tools() -> None:
    text = '{"name": "get_weather", "parameters": {"city": "Paris"}}'
    parsed = parse(text, tools=True, tool_parser="llama3")
    assert parsed.content == ""
    assert parsed.tool_calls == (ToolCall("get_weather", json.dumps({"city": "Paris"})),)
    assert parse(text, tools=False, tool_parser="llama3") == ParsedMessage(text)
    assert parse(text, tools=True) == ParsedMessage(text)  # no parser configured


def test_qwen3_reasoning_is_split_from_streamed_deltas() -> None:
    servable = SimpleNamespace(_reasoning_parser="qwen3")
    split = GenAITextServable.reasoning_splitter(servable)  # type: ignore[arg-type]
    assert split is not None
    pieces = [split(text) for text in ["<th", "ink>", "the user ", "greets", "</thi", "nk>", "Hel", "lo"]]
    assert "".join(c for c, _ in pieces) == "Hello"
    assert "".join(r for _, r in pieces) == "the user greets"
    assert GenAITextServable.reasoning_splitter(SimpleNamespace(_reasoning_parser="")) is None  # type: ignore[arg-type]


def test_hermes3_tool_call_blocks() -> None:
    text = (
        "Let me check.\n<tool_call>\n"
        '{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n<tool_call>\n'
        '{"name": "get_time", "arguments": {}}\n</tool_call>'
    )
    parsed = parse(text, tools=True, tool_parser="hermes3")
    assert parsed.content == "Let me check."
    assert parsed.tool_calls == (
        ToolCall("get_weather", json.dumps({"city": "Paris"})),
        ToolCall("get_time", "{}"),
    )
    broken = "<tool_call>{not json}</tool_call>"
    assert parse(broken, tools=True, tool_parser="hermes3") == ParsedMessage(broken)
    assert parse(text, tools=False, tool_parser="hermes3") == ParsedMessage(text)
