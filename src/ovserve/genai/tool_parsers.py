"""Tool-call parsers for the formats OpenVINO GenAI has no parser for, by OVMS's ``tool_parser`` names.

Each parser takes a whole answer and the request's tools and gives ``(content, calls)``; an answer
with no well-formed call gives ``(text, ())``: the text stays the content. :data:`FORMATS` says
where a call can begin, for a streamed answer (held from there, parsed at its end):

- ``hermes3`` (Hermes 3, Qwen 2.5 / Qwen 3): ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``
  blocks; the text before the first is the content.
- ``mistral``: ``[TOOL_CALLS]`` and a JSON array of ``{"name", "arguments"}``; an answer that *is*
  such an array is one too (OVMS takes that form as well); a trailing ``</s>`` is ignored.
- ``devstral``: ``[TOOL_CALLS]NAME[ARGS]{...}``, once per call; the text before the first is the
  content; a call without ``[ARGS]`` makes the answer plain text.
- ``phi4`` (Phi-4-mini): ``functools[...]``, the same JSON array after the word ``functools``;
  the text before it is the content; an answer with two ``functools`` has no calls.
- ``qwen3coder`` (Qwen3-Coder): ``<tool_call><function=NAME><parameter=KEY>VALUE</parameter>...
  </function></tool_call>`` (the ``<tool_call>`` tag may be missing); a value loses one newline
  at each end and takes its type from the tool's JSON schema (``string`` stays text, ``number``,
  ``integer``, ``boolean``, ``array``, ``object`` are read as JSON, as is a parameter the schema
  does not type; a value that does not read stays text). The content is the text around the calls.

Formats whose markers are special tokens (``[TOOL_CALLS]``, ``[ARGS]``) say so
(:attr:`ToolFormat.special_tokens`): their answers are decoded with the special tokens' text,
which GenAI's detokenizer otherwise drops. ``llama3`` is GenAI's own parser; the backend adds it
to these (it needs ``openvino_genai``). ``gptoss`` (Harmony) is :mod:`ovserve.genai.harmony`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ovserve.genai.types import ToolCall

#: the request's tools (OpenAI's function definitions), or None
Tools = Sequence[Mapping[str, object]] | None
#: a whole answer and the request's tools -> (content, calls)
Parse = Callable[[str, Tools], tuple[str, tuple[ToolCall, ...]]]


@dataclass(frozen=True)
class ToolFormat:
    """A tool-call format: its parser, and where a call begins in a streamed answer: at any of
    ``markers``, or (``leading``) only when the answer starts with one of them."""

    parse: Parse
    markers: tuple[str, ...] = ()
    leading: tuple[str, ...] = ()
    #: its markers are special tokens: the answer must be decoded with their text
    special_tokens: bool = False


def partial_marker(text: str, markers: tuple[str, ...]) -> int:
    """How many trailing characters of ``text`` could start one of ``markers`` (a streamed text
    holds them back until the next delta tells)."""
    for size in range(min(len(text), max((len(m) for m in markers), default=1) - 1), 0, -1):
        if any(marker.startswith(text[-size:]) for marker in markers):
            return size
    return 0


#: what :func:`_loads` gives for text that is not JSON
_INVALID = object()


def _loads(text: str) -> object:
    """``text`` read as JSON, or :data:`_INVALID` (not JSON, or nested too deep to read)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return _INVALID


def tool_call(value: object) -> ToolCall | None:
    """``{"name": str, "arguments" (or "parameters"): object or JSON text}`` as a call, else None."""
    if not isinstance(value, Mapping) or not isinstance(value.get("name"), str):
        return None
    arguments = value.get("arguments", value.get("parameters", {}))
    return ToolCall(value["name"], arguments if isinstance(arguments, str) else json.dumps(arguments))


def _json_calls(text: str) -> tuple[ToolCall, ...] | None:
    """The calls of a JSON array of call objects; None when it is not one."""
    value = _loads(text)
    if not isinstance(value, list) or not value:
        return None
    calls = [tool_call(item) for item in value]
    return None if None in calls else tuple(call for call in calls if call is not None)


_HERMES3 = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)


def parse_hermes3(text: str, tools: Tools = None) -> tuple[str, tuple[ToolCall, ...]]:
    """``<tool_call>`` blocks of JSON calls; the text before the first is the content."""
    calls = []
    for block in _HERMES3.findall(text):
        call = tool_call(_loads(block))
        if call is None:
            return text, ()
        calls.append(call)
    if not calls:
        return text, ()
    return text[: text.index("<tool_call>")].strip(), tuple(calls)


_MISTRAL_TAG = "[TOOL_CALLS]"


def parse_mistral(text: str, tools: Tools = None) -> tuple[str, tuple[ToolCall, ...]]:
    """``[TOOL_CALLS]`` and a JSON array of calls, or an answer that is such an array."""
    at = text.find(_MISTRAL_TAG)
    if at >= 0:
        content, body = text[:at], text[at + len(_MISTRAL_TAG) :]
    elif text.lstrip().startswith("["):
        content, body = "", text
    else:
        return text, ()
    calls = _json_calls(body.strip().removesuffix("</s>"))
    return (content.strip(), calls) if calls else (text, ())


_DEVSTRAL_ARGS = "[ARGS]"


def parse_devstral(text: str, tools: Tools = None) -> tuple[str, tuple[ToolCall, ...]]:
    """``[TOOL_CALLS]NAME[ARGS]{...}`` calls; the text before the first is the content."""
    at = text.find(_MISTRAL_TAG)
    if at < 0:
        return text, ()
    calls = []
    for part in text[at + len(_MISTRAL_TAG) :].split(_MISTRAL_TAG):
        name, found, arguments = part.partition(_DEVSTRAL_ARGS)
        value = _loads(arguments.strip().removesuffix("</s>").strip() or "{}")
        if not found or not name.strip() or not isinstance(value, dict):
            return text, ()
        calls.append(ToolCall(name.strip(), json.dumps(value)))
    return text[:at].strip(), tuple(calls)


_PHI4_TAG = "functools"


def parse_phi4(text: str, tools: Tools = None) -> tuple[str, tuple[ToolCall, ...]]:
    """``functools`` and a JSON array of calls; the text before it is the content."""
    if text.count(_PHI4_TAG) != 1:
        return text, ()
    at = text.index(_PHI4_TAG)
    calls = _json_calls(text[at + len(_PHI4_TAG) :].strip())
    return (text[:at].strip(), calls) if calls else (text, ())


_QWEN3CODER_CALL = re.compile(
    r"(?:<tool_call>\s*)?<function=([^>\n]+)>(.*?)</function>(?:\s*</tool_call>)?", re.DOTALL
)
_QWEN3CODER_PARAMETER = re.compile(r"<parameter=([^>\n]+)>(.*?)</parameter>", re.DOTALL)


def parse_qwen3coder(text: str, tools: Tools = None) -> tuple[str, tuple[ToolCall, ...]]:
    """``<function=NAME>`` blocks of ``<parameter=KEY>`` values, typed by the tools' schemas."""
    types = _parameter_types(tools)
    calls, content, end = [], [], 0
    for match in _QWEN3CODER_CALL.finditer(text):
        name = match.group(1).strip()
        arguments = {
            key.strip(): _typed(_trim_newline(value), types.get(name, {}).get(key.strip()))
            for key, value in _QWEN3CODER_PARAMETER.findall(match.group(2))
        }
        calls.append(ToolCall(name, json.dumps(arguments)))
        content.append(text[end : match.start()])
        end = match.end()
    if not calls:
        return text, ()
    return ("".join(content) + text[end:]).strip(), tuple(calls)


def _trim_newline(value: str) -> str:
    value = value[:-1] if value.endswith("\n") else value
    return value[1:] if value.startswith("\n") else value


def _parameter_types(tools: Tools) -> dict[str, dict[str, str]]:
    """Each tool's parameters' JSON schema types, by tool name (untyped ones left out)."""
    found: dict[str, dict[str, str]] = {}
    for tool in tools or ():
        function = tool.get("function")
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            continue
        parameters = function.get("parameters")
        properties = parameters.get("properties") if isinstance(parameters, Mapping) else None
        if isinstance(properties, Mapping):
            found[function["name"]] = {
                key: schema["type"]
                for key, schema in properties.items()
                if isinstance(schema, Mapping) and isinstance(schema.get("type"), str)
            }
    return found


def _typed(value: str, kind: str | None) -> object:
    """``value`` as its schema type says: text for ``string``, else read as JSON (booleans in any
    case); what does not read stays text."""
    if kind == "string":
        return value
    if kind == "boolean" and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    read = _loads(value)
    return value if read is _INVALID else read


#: the formats by OVMS's ``tool_parser`` name (``llama3``: the backend's, GenAI's parser)
FORMATS: dict[str, ToolFormat] = {
    "hermes3": ToolFormat(parse_hermes3, markers=("<tool_call>",)),
    "mistral": ToolFormat(parse_mistral, markers=(_MISTRAL_TAG,), leading=("[",), special_tokens=True),
    "devstral": ToolFormat(parse_devstral, markers=(_MISTRAL_TAG,), special_tokens=True),
    "phi4": ToolFormat(parse_phi4, markers=(_PHI4_TAG + "[",)),
    "qwen3coder": ToolFormat(parse_qwen3coder, markers=("<tool_call>", "<function=")),
}
