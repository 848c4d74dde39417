"""A whole chat answer through GenAI's parsers, as the model's tool_parser / reasoning_parser ask."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from ovserve.backends.genai.llm import GenAITextServable, tool_format
from ovserve.genai.types import ParsedMessage, ToolCall

#: a request's tools (OpenAI's function definitions)
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "metric": {"type": "boolean"},
                "hours": {"type": "array"},
                "where": {"type": "object"},
            },
        },
    },
}


def servable(tool_parser: str, reasoning_parser: str) -> SimpleNamespace:
    """What the parser methods read of a text generation servable."""
    harmony = "gptoss" in (tool_parser, reasoning_parser)
    return SimpleNamespace(
        _reasoning_parser=reasoning_parser, _harmony=harmony, _tool_format=tool_format(tool_parser)
    )


def parse(text: str, *, tools: bool, tool_parser: str = "", reasoning_parser: str = "") -> ParsedMessage:
    """``text`` through the parsers; ``tools``: the request gave tools ([WEATHER]) or none."""
    return GenAITextServable.parse_message(
        servable(tool_parser, reasoning_parser), text, [WEATHER] if tools else None
    )  # type: ignore[arg-type]


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
    parser = GenAITextServable.stream_parser(
        servable(tool_parser, reasoning_parser), [WEATHER] if tools else None
    )  # type: ignore[arg-type]
    assert parser is not None
    fed = [parser.feed(piece) for piece in pieces]
    rest, calls = parser.finish()
    return "".join(c for c, _ in fed) + rest, "".join(r for _, r in fed), calls


def test_qwen3_reasoning_is_split_from_streamed_deltas() -> None:
    pieces = ["<th", "ink>", "the user ", "greets", "</thi", "nk>", "Hel", "lo"]
    assert stream(pieces, tools=False, reasoning_parser="qwen3") == ("Hello", "the user greets", ())
    assert GenAITextServable.stream_parser(servable("", ""), [WEATHER]) is None  # type: ignore[arg-type]


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


def test_mistral_tool_calls_with_or_without_their_special_token() -> None:
    call = '[{"name": "get_weather", "arguments": {"city": "Paris"}}]'
    expected = (ToolCall("get_weather", json.dumps({"city": "Paris"})),)
    assert parse("[TOOL_CALLS]" + call + "</s>", tools=True, tool_parser="mistral") == ParsedMessage(
        "", None, expected
    )
    # GenAI's detokenizer drops [TOOL_CALLS] (a special token): the array alone is a call too
    assert parse(call, tools=True, tool_parser="mistral") == ParsedMessage("", None, expected)
    assert parse("Sure. [TOOL_CALLS]" + call, tools=True, tool_parser="mistral").content == "Sure."
    for text in ("[1, 2]", "[not json", "[]", "Paris is [big]"):
        assert parse(text, tools=True, tool_parser="mistral") == ParsedMessage(text)
    pieces = [call[i : i + 4] for i in range(0, len(call), 4)]
    assert stream(pieces, tools=True, tool_parser="mistral") == ("", "", expected)
    assert stream(["Hi [x", "]"], tools=True, tool_parser="mistral") == ("Hi [x]", "", ())
    assert stream(["[lo", "ng]"], tools=True, tool_parser="mistral") == ("[long]", "", ())  # held, then text


def test_phi4_tool_calls_after_functools() -> None:
    text = 'Let me look.\nfunctools[{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "t", "arguments": {}}]'
    parsed = parse(text, tools=True, tool_parser="phi4")
    assert parsed.content == "Let me look."
    assert parsed.tool_calls == (ToolCall("get_weather", json.dumps({"city": "Paris"})), ToolCall("t", "{}"))
    twice = 'functools[{"name": "a", "arguments": {}}] and functools[{"name": "b", "arguments": {}}]'
    for kept in (twice, "import functools", "functools[oops]"):
        assert parse(kept, tools=True, tool_parser="phi4") == ParsedMessage(kept)
    pieces = ["Let me look.\nfunc", "tools", "[", text.split("functools[")[1]]
    assert stream(pieces, tools=True, tool_parser="phi4") == ("Let me look.\n", "", parsed.tool_calls)
    assert stream(["use func", "tools.partial"], tools=True, tool_parser="phi4") == (
        "use functools.partial",
        "",
        (),
    )


def test_qwen3coder_calls_take_their_types_from_the_tool_schema() -> None:
    text = (
        "I will check.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n"
        "<parameter=days>\n3\n</parameter>\n<parameter=metric>True</parameter>\n"
        '<parameter=hours>[1, 2]</parameter>\n<parameter=where>{"lat": 48.8}</parameter>\n'
        "<parameter=note>\nline one\nline two\n</parameter>\n</function>\n</tool_call>"
        "<function=get_time>\n<parameter=city>42</parameter>\n</function>"
    )
    parsed = parse(text, tools=True, tool_parser="qwen3coder")
    assert parsed.content == "I will check."
    weather, time = parsed.tool_calls
    assert weather.name == "get_weather"
    assert json.loads(weather.arguments) == {
        "city": "Paris",
        "days": 3,
        "metric": True,
        "hours": [1, 2],
        "where": {"lat": 48.8},
        "note": "line one\nline two",  # not in the schema: read as JSON, else text
    }
    assert (time.name, json.loads(time.arguments)) == ("get_time", {"city": 42})  # a tool with no schema
    typed_text = parse(
        "<function=get_weather><parameter=city>42</parameter></function>",
        tools=True,
        tool_parser="qwen3coder",
    )
    assert json.loads(typed_text.tool_calls[0].arguments) == {"city": "42"}  # string in the schema
    broken = "<tool_call><function=get_weather><parameter=city>Paris</parameter>"
    assert parse(broken, tools=True, tool_parser="qwen3coder") == ParsedMessage(broken)
    pieces = [
        "I will check.\n<tool",
        "_call>\n<function=get_weather>",
        "<parameter=city>Paris</parameter></function></tool_call>",
    ]
    content, reasoning, calls = stream(pieces, tools=True, tool_parser="qwen3coder")
    assert (content, reasoning, [c.name for c in calls]) == ("I will check.\n", "", ["get_weather"])
    assert stream(["a <func", "tion"], tools=True, tool_parser="qwen3coder") == ("a <function", "", ())


def test_qwen3_reasoning_before_a_hermes3_call() -> None:
    text = '<think>weather needed</think>\n<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
    parsed = parse(text, tools=True, tool_parser="hermes3", reasoning_parser="qwen3")
    assert parsed == ParsedMessage(
        "", "weather needed", (ToolCall("get_weather", json.dumps({"city": "Paris"})),)
    )


def test_devstral_calls_name_then_args() -> None:
    text = 'Let me check. [TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}[TOOL_CALLS]get_time[ARGS]</s>'
    parsed = parse(text, tools=True, tool_parser="devstral")
    assert parsed == ParsedMessage(
        "Let me check.",
        None,
        (ToolCall("get_weather", json.dumps({"city": "Paris"})), ToolCall("get_time", "{}")),
    )
    for kept in ('[ARGS]f[TOOL_CALLS]{"a": 1}', '[TOOL_CALLS]f{"a": 1}', "[TOOL_CALLS]f[ARGS]{bad", "plain"):
        assert parse(kept, tools=True, tool_parser="devstral") == ParsedMessage(kept)
    pieces = ["Let me check. [TOOL", "_CALLS]get_weather[AR", 'GS]{"city": ', '"Paris"}']
    assert stream(pieces, tools=True, tool_parser="devstral") == ("Let me check. ", "", parsed.tool_calls[:1])


HARMONY = (
    "<|channel|>analysis<|message|>The user wants the weather.<|end|>"
    "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>"
    '{"city": "Paris"}<|call|>'
    "<|start|>assistant to=functions.get_time<|channel|>commentary json<|message|>{}<|call|>"
    "<|start|>assistant<|channel|>final<|message|>Checking it now.<|return|>"
)
HARMONY_CALLS = (ToolCall("get_weather", '{"city": "Paris"}'), ToolCall("get_time", "{}"))


@pytest.mark.parametrize(
    ("tool_parser", "reasoning_parser"), [("gptoss", "gptoss"), ("gptoss", ""), ("", "gptoss")]
)
def test_gptoss_harmony_channels_make_reasoning_calls_and_content(
    tool_parser: str, reasoning_parser: str
) -> None:
    parsers = {"tool_parser": tool_parser, "reasoning_parser": reasoning_parser}
    assert parse(HARMONY, tools=True, **parsers) == ParsedMessage(
        "Checking it now.", "The user wants the weather.", HARMONY_CALLS
    )
    assert parse(HARMONY, tools=False, **parsers) == ParsedMessage(
        "Checking it now.", "The user wants the weather."
    )
    for size in (1, 3, 7, 1000):
        pieces = [HARMONY[i : i + size] for i in range(0, len(HARMONY), size)]
        assert stream(pieces, tools=True, **parsers) == (
            "Checking it now.",
            "The user wants the weather.",
            HARMONY_CALLS,
        )
    assert parse("no channels here", tools=True, **parsers) == ParsedMessage("no channels here")
    cut = "<|channel|>analysis<|message|>thinking<|end|><|start|>assistant<|channel|>final<|message|>Hel"
    assert stream([cut], tools=True, **parsers) == ("Hel", "thinking", ())


def test_the_answer_keeps_special_tokens_only_for_parsers_that_read_them() -> None:
    config = SimpleNamespace(eos_token_id=2, stop_token_ids={2, 7})
    keep = GenAITextServable.keep_special
    for name in ("mistral", "devstral"):
        assert keep(servable(name, ""), [WEATHER], config) == frozenset({2, 7})  # type: ignore[arg-type]
        assert keep(servable(name, ""), None, config) is None  # type: ignore[arg-type]
    for name in ("llama3", "hermes3", "phi4", "qwen3coder", ""):
        assert keep(servable(name, ""), [WEATHER], config) is None  # type: ignore[arg-type]
    assert keep(servable("", "gptoss"), None, config) == frozenset({2, 7})  # type: ignore[arg-type]


@pytest.mark.parametrize("tool_parser", ["llama3", "hermes3", "mistral", "devstral", "phi4", "qwen3coder"])
def test_json_nested_too_deep_to_read_stays_text(tool_parser: str) -> None:
    """A model that writes thousands of brackets gets its text back, not a failed request (nor,
    through GenAI's llama3 parser, a crashed server: it overflows its stack at ~85,000 levels)."""
    deep = "[" * 100_000
    text = {
        "llama3": '{"name": "f", "parameters": ' + deep + "]" * 100_000 + "}",
        "hermes3": f"<tool_call>{deep}</tool_call>",
        "mistral": deep,
        "devstral": f"[TOOL_CALLS]f[ARGS]{deep}",
        "phi4": f"functools{deep}",
        "qwen3coder": f"<function=get_weather><parameter=where>{deep}</parameter></function>",
    }[tool_parser]
    parsed = parse(text, tools=True, tool_parser=tool_parser)
    if tool_parser == "qwen3coder":  # a value that does not read stays text (the call stands)
        assert json.loads(parsed.tool_calls[0].arguments) == {"where": deep}
    else:
        assert parsed == ParsedMessage(text)
