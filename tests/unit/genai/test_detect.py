"""The task of an exported directory without --task, inferred by OVMS's rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ovserve.genai.detect import detect_task, is_genai_export


def directory(
    tmp_path: Path, architectures: list[str] | None = None, modules: list[str] | None = None
) -> Path:
    if architectures is not None:
        (tmp_path / "config.json").write_text(json.dumps({"architectures": architectures}))
    if modules is not None:
        (tmp_path / "modules.json").write_text(json.dumps([{"type": t} for t in modules]))
    return tmp_path


@pytest.mark.parametrize(
    ("architectures", "modules", "name", "task"),
    [
        (["LlamaForCausalLM"], None, "m", "text_generation"),
        (["BertModel"], None, "m", "embeddings"),
        (["Qwen3ForCausalLM"], ["sentence_transformers.models.Pooling"], "m", "embeddings"),
        (["XLMRobertaForSequenceClassification"], None, "m", "rerank"),
        (["Qwen3ForCausalLM"], None, "qwen3-reranker", "rerank"),
        (["Qwen3ForCausalLM"], None, "qwen3-embedding", "embeddings"),
        (["Qwen3ForCausalLM"], None, "qwen3", "text_generation"),
        (["WhisperForConditionalGeneration"], None, "m", "speech2text"),
        (["CLIPTextModel"], None, "m", "image_generation"),
        ([], None, "m", None),
        (None, None, "m", None),
    ],
)
def test_ovms_rules(
    tmp_path: Path, architectures: list[str] | None, modules: list[str] | None, name: str, task: str | None
) -> None:
    assert detect_task(directory(tmp_path, architectures, modules), name) == task


def test_only_genai_exports_are_considered(tmp_path: Path) -> None:
    assert not is_genai_export(tmp_path)
    (tmp_path / "openvino_model.xml").write_text("")
    assert not is_genai_export(tmp_path)
    (tmp_path / "openvino_tokenizer.xml").write_text("")
    assert is_genai_export(tmp_path)
