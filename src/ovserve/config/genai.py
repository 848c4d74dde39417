"""Generative models (OVMS's ``--task``): which task, and its options, as OVMS names them.

A generative model is a directory exported for OpenVINO GenAI (``openvino_model.xml``, the
tokenizer and detokenizer IRs, config files), served under ``--task text_generation``,
``embeddings`` or ``rerank`` with OVMS's per-task options (docs/parameters.md of OVMS
2026.3). The same options come from the command line (``--max_num_seqs 8``) and from a
config.json model entry (ovserve's extension: ``"task"`` and the options as keys).

Pure functions: no I/O. Each parser raises :class:`ConfigError` naming the option.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Literal

from ovserve.errors import ConfigError

Task = Literal["text_generation", "embeddings", "rerank"]
TASKS: tuple[str, ...] = ("text_generation", "embeddings", "rerank")
#: OVMS tasks that ovserve does not serve (yet): refused with this text.
UNSERVED_TASKS = ("image_generation", "text2speech", "speech2text")

Kind = Literal["bool", "int", "str"]
#: the parsers ovserve serves, OVMS's (GenAI's llama3 and qwen3; the others written here:
#: ovserve.genai.tool_parsers and ovserve.genai.harmony)
TOOL_PARSERS: tuple[str, ...] = (
    "",
    "none",
    "llama3",
    "hermes3",
    "mistral",
    "devstral",
    "phi4",
    "qwen3coder",
    "gptoss",
)
REASONING_PARSERS: tuple[str, ...] = ("", "none", "qwen3", "gptoss")


@dataclass(frozen=True)
class GenerativeConfig:
    """One generative model's task and options (OVMS's names and defaults).

    ``None`` means "not set": the pipeline's own default applies.
    """

    task: Task
    # text_generation (OVMS: "Text generation" options)
    max_num_seqs: int = 256
    pipeline_type: str = "AUTO"
    enable_prefix_caching: bool = True
    max_num_batched_tokens: int | None = None
    cache_size: int = 0
    dynamic_split_fuse: bool = True
    kv_cache_precision: str = ""
    max_prompt_len: int | None = None
    model_distribution_policy: str = ""
    draft_source_model: str = ""
    reasoning_parser: str = ""
    tool_parser: str = ""
    enable_tool_guided_generation: bool = False
    cache_interval_multiplier: int | None = None
    max_tokens_limit: int | None = None
    best_of_limit: int = 20
    # embeddings and rerank
    num_streams: int = 1
    normalize: bool = True
    truncate: bool = False
    pooling: str = "CLS"
    max_allowed_chunks: int = 10000
    max_position_embeddings: int | None = None


#: option -> (value kind, the tasks it belongs to)
OPTIONS: dict[str, tuple[Kind, tuple[str, ...]]] = {
    "max_num_seqs": ("int", ("text_generation",)),
    "pipeline_type": ("str", ("text_generation",)),
    "enable_prefix_caching": ("bool", ("text_generation",)),
    "max_num_batched_tokens": ("int", ("text_generation",)),
    "cache_size": ("int", ("text_generation",)),
    "dynamic_split_fuse": ("bool", ("text_generation",)),
    "kv_cache_precision": ("str", ("text_generation",)),
    "max_prompt_len": ("int", ("text_generation",)),
    "model_distribution_policy": ("str", ("text_generation",)),
    "draft_source_model": ("str", ("text_generation",)),
    "reasoning_parser": ("str", ("text_generation",)),
    "tool_parser": ("str", ("text_generation",)),
    "enable_tool_guided_generation": ("bool", ("text_generation",)),
    "cache_interval_multiplier": ("int", ("text_generation",)),
    "max_tokens_limit": ("int", ("text_generation",)),
    "best_of_limit": ("int", ("text_generation",)),
    "num_streams": ("int", ("embeddings", "rerank")),
    "normalize": ("bool", ("embeddings",)),
    "truncate": ("bool", ("embeddings",)),
    "pooling": ("str", ("embeddings",)),
    "max_allowed_chunks": ("int", ("rerank",)),
    "max_position_embeddings": ("int", ("rerank",)),
}
assert set(OPTIONS) == {f.name for f in fields(GenerativeConfig)} - {"task"}

_CHOICES: dict[str, tuple[str, ...]] = {
    "pipeline_type": ("LM", "LM_CB", "VLM", "VLM_CB", "AUTO"),
    "kv_cache_precision": ("", "u8"),
    "pooling": ("CLS", "LAST", "MEAN"),
    "model_distribution_policy": ("", "TENSOR_PARALLEL", "PIPELINE_PARALLEL"),
}
#: option -> the values ovserve serves; any other value is refused with the reason.
_UNSUPPORTED: dict[str, tuple[tuple[object, ...], str]] = {
    "pipeline_type": (("AUTO", "LM", "LM_CB"), "visual language models (VLM) are not supported yet"),
    "draft_source_model": (("",), "speculative decoding (a draft model) is not supported yet"),
    "reasoning_parser": (REASONING_PARSERS, "the reasoning parsers served are qwen3, gptoss and none"),
    "tool_parser": (
        TOOL_PARSERS,
        "the tool parsers served are llama3, hermes3, mistral, devstral, phi4, qwen3coder, gptoss and none",
    ),
    "enable_tool_guided_generation": ((False,), "tool-guided generation is not supported yet"),
    "model_distribution_policy": (("",), "model distribution policies are not supported"),
}


def parse_task(value: object, key: str) -> Task:
    if not isinstance(value, str):
        raise ConfigError(key, f"expected a string, got {type(value).__name__}")
    if value in UNSERVED_TASKS:
        raise ConfigError(key, f"task {value} is not supported yet; ovserve serves {', '.join(TASKS)}")
    if value not in TASKS:
        raise ConfigError(key, f"unknown task {value!r}; expected one of {', '.join(TASKS)}")
    return value  # type: ignore[return-value]


def parse_task_settings(
    values: Mapping[str, object], key_prefix: str, task_key: str
) -> GenerativeConfig | None:
    """``task`` and its options among ``values`` (setting name -> raw value); None for a classic model.

    ``key_prefix`` names where they come from, as :func:`~ovserve.config.preprocessing.parse_preprocess`'s
    does: ``"--"`` for flags, ``"model_config_list[0].config."`` for config.json; ``task_key`` is how an
    option given without a task names the missing setting (``--task`` or ``task``).
    """
    given = {name: values[name] for name in OPTIONS if name in values}
    if "task" not in values:
        if given:
            raise ConfigError(
                f"{key_prefix}{next(iter(given))}", f"is an option of generative models: set {task_key} too"
            )
        return None
    task = parse_task(values["task"], f"{key_prefix}task")
    return parse_generative(task, given, {name: f"{key_prefix}{name}" for name in given})


def parse_generative(
    task: Task, options: Mapping[str, object], key_of: Mapping[str, str]
) -> GenerativeConfig:
    """Validate ``options`` (OVMS option name -> value) for ``task``.

    Values are command-line strings or config.json values; ``key_of`` names each option for
    messages (``--max_num_seqs`` or ``model_config_list[0].config.max_num_seqs``).
    """
    values: dict[str, object] = {}
    for name, raw in options.items():
        key = key_of.get(name, name)
        if name not in OPTIONS:
            raise ConfigError(key, f"unknown option of a generative model: {name}")
        kind, tasks = OPTIONS[name]
        if task not in tasks:
            raise ConfigError(key, f"{name} is an option of task {' or '.join(tasks)}, not of {task}")
        value = _convert(raw, kind, key)
        choices = _CHOICES.get(name)
        if choices is not None and value not in choices:
            raise ConfigError(key, f"{value!r} is not one of {', '.join(repr(c) for c in choices)}")
        served = _UNSUPPORTED.get(name)
        if served is not None and value not in served[0]:
            raise ConfigError(key, served[1])
        values[name] = value
    return GenerativeConfig(task=task, **values)  # type: ignore[arg-type]


def _convert(raw: object, kind: Kind, key: str) -> object:
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        raise ConfigError(key, f"expected true or false, got {raw!r}")
    if kind == "int":
        if isinstance(raw, bool):
            raise ConfigError(key, f"expected a non-negative integer, got {raw!r}")
        if isinstance(raw, int) and raw >= 0:
            return raw
        if isinstance(raw, str) and raw.isascii() and raw.isdigit():
            return int(raw)
        raise ConfigError(key, f"expected a non-negative integer, got {raw!r}")
    if not isinstance(raw, str):
        raise ConfigError(key, f"expected a string, got {raw!r}")
    return raw
