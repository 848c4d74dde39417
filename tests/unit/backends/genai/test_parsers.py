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


def stream(
    pieces: list[str], *, tools: bool, tool_parser: str = "", reasoning_parser: str = ""
) -> tuple[str, str, tuple[ToolCall, ...]]:
    """(content, reasoning, calls) of a streamed choice fed ``pieces``."""
    servable = SimpleNamespace(_tool_parser=tool_parser, _reasoning_parser=reasoning_parser)
    parser = GenAITextServable.stream_parser(servable, tools)  # type: ignore[arg-type]
    assert parser is not None
    fed = [parser.feed(piece) for piece in pieces]
    rest, calls = parser.finish()
    return "".join(c for c, _ in fed) + rest, "".join(r for _, r in fed), calls


def test_qwen3_reasoning_is_split_from_streamed_deltas() -> None:
    pieces = ["<th", "ink>", "the user ", "greets", "</thi", "nk>", "Hel", "lo"]
    assert stream(pieces, tools=False, reasoning_parser="qwen3") == ("Hello", "the user greets", ())
    no_parsers = SimpleNamespace(_tool_parser="", _reasoning_parser="")
    assert GenAITextServable.stream_parser(no_parsers, True) is None  # type: ignore[arg-type]


def test_streamed_tool_calls_are_held_and_parsed_at_the_end() -> None:
    call = '{"name": "get_weather", "parameters": {"city": "Paris"}}'
    pieces = [call[i : i + 5] for i in range(0, len(call), 5)]
    expected = (ToolCall("get_weather", json.dumps({"city": "Paris"})),)
    assert stream(pieces, tools=True, tool_parser="llama3") == ("", "", expected)
    assert stream(["Hi", " there"], tools=True, tool_parser="llama3") == ("Hi there", "", ())
    hermes = ["Sure.<tool", '_call>{"name": "f", ', '"arguments": {}}</tool_call>']
    assert stream(hermes, tools=True, tool_parser="hermes3") == ("Sure.", "", (ToolCall("f", "{}"),))
    assert stream(["a <tool", "box>"], tools=True, tool_parser="hermes3") == ("a <toolbox>", "", ())


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
