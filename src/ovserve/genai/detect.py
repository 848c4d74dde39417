"""Which task an exported model directory serves, when ``--task`` does not say (OVMS's rules).

OVMS 2026.3 infers the task from the model's metadata when ``--task`` is not given: the
``architectures`` of ``config.json`` and the module types of sentence-transformers'
``modules.json``, checked in the order speech2text, text2speech, rerank, image_generation,
embeddings, text_generation (docs/parameters.md, "Automatic task detection"). ovserve applies
the same rules to a directory exported for OpenVINO GenAI (``openvino_model.xml`` and
``openvino_tokenizer.xml`` at its top) that has neither a task nor a graph.pbtxt.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: architectures whose task only the model's name tells (OVMS's list)
_AMBIGUOUS = {"Qwen3ForCausalLM"}
_NOT_EMBEDDINGS = {"CLIPTextModel", "InternVLChatModel", "UNet2DConditionModel"}
_EMBEDDINGS = {
    "BertModel",
    "JinaBertModel",
    "MPNetModel",
    "Qwen2Model",
    "RobertaModel",
    "T5EncoderModel",
    "XLMRobertaModel",
}


def is_genai_export(directory: Path) -> bool:
    """A directory written by OpenVINO's export tools for GenAI (not a versioned model repository)."""
    return (directory / "openvino_model.xml").is_file() and (directory / "openvino_tokenizer.xml").is_file()


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def detect_task(directory: Path, name: str) -> str | None:
    """The task OVMS would infer for ``directory`` (served as ``name``), or None."""
    config = _read(directory / "config.json")
    modules = _read(directory / "modules.json")
    archs = [a for a in (config or {}).get("architectures") or [] if isinstance(a, str)]
    types = [m.get("type", "") for m in modules if isinstance(m, dict)] if isinstance(modules, list) else []
    lowered = name.lower()
    if any(a == "WhisperForConditionalGeneration" or a.startswith("SeamlessM4T") for a in archs):
        return "speech2text"
    if any(a.endswith("ForTextToSpeech") for a in archs):
        return "text2speech"
    if any("LogitScore" in t or "CrossEncoder" in t for t in types) or any(
        a.endswith("ForSequenceClassification") for a in archs
    ):
        return "rerank"
    if modules is None and "rerank" in lowered and any(a in _AMBIGUOUS for a in archs):
        return "rerank"
    if any(
        a in ("CLIPTextModel", "UNet2DConditionModel", "AutoencoderKL") or a.endswith("Transformer2DModel")
        for a in archs
    ):
        return "image_generation"
    if any("Pooling" in t for t in types) or any(_embedding_architecture(a) for a in archs):
        return "embeddings"
    if modules is None and "embed" in lowered and any(a in _AMBIGUOUS for a in archs):
        return "embeddings"
    if any(
        a == "InternVLChatModel" or a.endswith(("ForCausalLM", "ForConditionalGeneration")) for a in archs
    ):
        return "text_generation"
    return None


def _embedding_architecture(arch: str) -> bool:
    if arch in _EMBEDDINGS:
        return True
    if arch in _NOT_EMBEDDINGS or arch in _AMBIGUOUS or arch.endswith("Transformer2DModel"):
        return False
    return arch.endswith("Model")
