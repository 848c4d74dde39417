"""OpenAI chat and completions request bodies -> :class:`GenerationRequest` (fields checked as OVMS does)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from ovserve.api.openai.fields import Body, InvalidField
from ovserve.genai.types import GenerationRequest, SamplingParams

MAX_STOP_STRINGS = 4  # OpenAI's limit


@dataclass(frozen=True)
class ParsedRequest:
    model: str
    generation: GenerationRequest
    stream: bool
    include_usage: bool
    chat: bool


def parse_generation(raw: bytes, *, chat: bool, max_tokens_limit: int | None = None) -> ParsedRequest:
    """Decode a ``/chat/completions`` (``chat``) or ``/completions`` body; raises InvalidField."""
    body = Body(raw)
    model = body.string("model", required=True)
    assert model is not None
    tools = None
    if chat:
        messages: list[dict[str, Any]] | None = _messages(body)
        prompt = None
        tools = _tools(body)
    else:
        messages, prompt = None, _prompt(body)
    stream = bool(body.boolean("stream"))
    options = body.obj("stream_options")
    if options is not None and not stream:
        raise InvalidField(
            "stream_options", "The field 'stream_options' is allowed only when 'stream' is true"
        )
    include_usage = False
    if options is not None:
        value = options.get("include_usage", False)
        if not isinstance(value, bool):
            raise InvalidField("stream_options", "stream_options.include_usage must be a boolean")
        include_usage = value
    params = _params(body, chat)
    if max_tokens_limit is not None and (params.max_new_tokens or 0) > max_tokens_limit:
        raise InvalidField("max_tokens", f"max_tokens exceeds the limit of {max_tokens_limit}")
    generation = GenerationRequest(params, prompt, messages, tools)
    return ParsedRequest(model, generation, stream, include_usage, chat)


def _tools(body: Body) -> list[dict[str, Any]] | None:
    """OpenAI's ``tools``: function definitions, given to the chat template as they are
    (``tool_choice: "none"``: as if there were none)."""
    raw = body.raw("tools")
    choice = body.raw("tool_choice")
    if choice is not None and choice not in ("none", "auto"):
        raise InvalidField(
            "tool_choice", "tool_choice takes 'auto' or 'none' (forced tool calls are not supported)"
        )
    if raw is None or choice == "none":
        return None
    if not isinstance(raw, list) or not all(
        isinstance(tool, dict) and isinstance(tool.get("function"), dict) for tool in raw
    ):
        raise InvalidField(
            "tools", "The field 'tools' must be an array of {'type': 'function', 'function': {...}}"
        )
    return raw or None


def _messages(body: Body) -> list[dict[str, Any]]:
    raw = body.raw("messages")
    if raw is None:
        raise InvalidField("messages", "The field 'messages' is required")
    if not isinstance(raw, list) or not raw:
        raise InvalidField("messages", "The field 'messages' must be a non-empty array")
    messages = []
    for index, message in enumerate(raw):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise InvalidField("messages", f"{where} must be an object")
        role = message.get("role")
        if not isinstance(role, str):
            raise InvalidField("messages", f"{where}.role must be a string")
        messages.append({**message, "role": role, "content": _content(message.get("content"), where)})
    return messages


def _content(content: object, where: str) -> str:
    """A message's text: a string, null, or an array of text parts (joined)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if (
                not isinstance(part, dict)
                or part.get("type") != "text"
                or not isinstance(part.get("text"), str)
            ):
                raise InvalidField(
                    "messages",
                    f"{where}.content: only text parts ({{'type': 'text', 'text': ...}}) are supported",
                )
            texts.append(part["text"])
        return "".join(texts)
    raise InvalidField("messages", f"{where}.content must be a string or an array of text parts")


def _prompt(body: Body) -> str:
    raw = body.raw("prompt")
    if raw is None:
        raise InvalidField("prompt", "The field 'prompt' is required")
    if isinstance(raw, list) and len(raw) == 1:
        raw = raw[0]
    if not isinstance(raw, str):
        raise InvalidField("prompt", "The field 'prompt' must be a string (or an array of one string)")
    return raw


def _params(body: Body, chat: bool) -> SamplingParams:
    max_tokens = body.integer("max_tokens", minimum=1)
    if chat and body.has("max_completion_tokens"):
        max_tokens = body.integer("max_completion_tokens", minimum=1)
    n = body.integer("n", minimum=1) or 1
    best_of = None if chat else body.integer("best_of", minimum=1)
    if best_of is not None and best_of < n:
        raise InvalidField("best_of", "best_of must be greater than or equal to n")
    if best_of is not None and body.boolean("stream"):
        raise InvalidField("best_of", "best_of cannot be used with streaming")
    return SamplingParams(
        max_new_tokens=max_tokens,
        temperature=body.number("temperature", minimum=0.0, maximum=2.0),
        top_p=body.number("top_p", minimum=0.0, maximum=1.0),
        top_k=body.integer("top_k", minimum=0),
        seed=body.integer("seed", minimum=0),
        n=n,
        best_of=best_of,
        stop=_stop(body),
        presence_penalty=body.number("presence_penalty", minimum=-2.0, maximum=2.0),
        frequency_penalty=body.number("frequency_penalty", minimum=-2.0, maximum=2.0),
        repetition_penalty=body.number("repetition_penalty", minimum=0.0),
        logprobs=_logprobs(body, chat),
        ignore_eos=bool(body.boolean("ignore_eos")),
        include_stop_str_in_output=bool(body.boolean("include_stop_str_in_output")),
        json_schema=_json_schema(body),
    )


def _stop(body: Body) -> tuple[str, ...]:
    raw = body.raw("stop")
    if raw is None:
        return ()
    if isinstance(raw, str):
        return (raw,)
    if isinstance(raw, list) and all(isinstance(s, str) for s in raw):
        if len(raw) > MAX_STOP_STRINGS:
            raise InvalidField("stop", f"The field 'stop' takes at most {MAX_STOP_STRINGS} strings")
        return tuple(raw)
    raise InvalidField("stop", "The field 'stop' must be a string or an array of strings")


def _logprobs(body: Body, chat: bool) -> bool:
    if chat:
        wanted = bool(body.boolean("logprobs"))
        top = body.integer("top_logprobs", minimum=0)
        if top:
            raise InvalidField(
                "top_logprobs", "top_logprobs above 0 is not supported; only the chosen token's"
            )
        return wanted
    count = body.integer("logprobs", minimum=0)
    if count is not None and count > 1:
        raise InvalidField("logprobs", "logprobs above 1 is not supported; only the chosen token's")
    return bool(count)


#: the deepest JSON schema (objects and arrays nested) a request may give: GenAI compiles it into a
#: grammar in the generation's first step, on the model's one stepping thread, in a time that
#: grows steeply with the depth (measured: 256 levels ~1 s, 400 ~4 s, 1,000 ~58 s), and every
#: request of the model waits. OpenAI's structured outputs allow 10 levels of nesting.
SCHEMA_MOST_DEPTH = 64


def _nesting(value: object) -> int:
    """How deep objects and arrays nest in ``value`` (a scalar: 0), without recursion."""
    most, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        most = max(most, depth)
        stack.extend((child, depth + 1) for child in children)
    return most


def _json_schema(body: Body) -> str | None:
    """``response_format``: text (none), json_object (any JSON object) or json_schema (its schema)."""
    response_format = body.obj("response_format")
    if response_format is None:
        return None
    kind = response_format.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return '{"type": "object"}'
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise InvalidField("response_format", "response_format.json_schema.schema must be an object")
        depth = _nesting(schema)
        if depth > SCHEMA_MOST_DEPTH:
            raise InvalidField(
                "response_format",
                f"response_format.json_schema.schema nests {depth} levels of objects and arrays; "
                f"at most {SCHEMA_MOST_DEPTH}",
            )
        return orjson.dumps(schema).decode()
    raise InvalidField("response_format", "response_format.type must be text, json_object or json_schema")
