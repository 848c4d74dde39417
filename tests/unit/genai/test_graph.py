"""OVMS's graph.pbtxt files (as its export tooling writes them) read into generative model configs."""

from __future__ import annotations

from pathlib import Path

import pytest
from genai_models import write_ovms_graph

from ovserve.config.genai import GenerativeConfig
from ovserve.errors import LoadError
from ovserve.genai.graph import read_graph


def test_llm_graph(tmp_path: Path) -> None:
    model = read_graph(
        write_ovms_graph(tmp_path, "text_generation", extra="\n      max_num_batched_tokens: 64,")
    )
    assert model.models_path == tmp_path.resolve()
    assert model.target_device == "CPU"
    assert model.plugin_config == {"KV_CACHE_PRECISION": "u8"}
    assert model.generative == GenerativeConfig(
        task="text_generation",
        max_num_seqs=16,
        enable_prefix_caching=True,
        cache_size=1,
        max_num_batched_tokens=64,
    )


def test_embeddings_and_rerank_graphs(tmp_path: Path) -> None:
    (tmp_path / "e").mkdir()
    embeddings = read_graph(
        write_ovms_graph(
            tmp_path / "e", "embeddings", "/models/e", "\n      truncate: true,\n      pooling: MEAN,"
        )
    )
    assert embeddings.models_path == Path("/models/e")
    assert embeddings.generative == GenerativeConfig(task="embeddings", truncate=True, pooling="MEAN")
    (tmp_path / "r").mkdir()
    rerank = read_graph(
        write_ovms_graph(
            tmp_path / "r",
            "rerank",
            "../m",
            "\n      max_allowed_chunks: 7,\n      max_position_embeddings: 128,",
        )
    )
    assert rerank.models_path == (tmp_path / "m").resolve()
    assert rerank.generative == GenerativeConfig(
        task="rerank", max_allowed_chunks=7, max_position_embeddings=128
    )


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ('\n      draft_models_path: "draft",', "draft_models_path"),
        ('\n      tool_parser: "gemma4",', "tool_parser"),
        ("\n      pipeline_type: VLM_CB,", "pipeline_type VLM_CB"),
        (
            "\n      cache_eviction_config: { start_size: 32, recent_size: 128, max_cache_size: 672 },",
            "cache_eviction_config",
        ),
        ("\n      no_such_option: 1,", "no_such_option"),
    ],
)
def test_unsupported_or_unknown_options_are_named(tmp_path: Path, extra: str, fragment: str) -> None:
    with pytest.raises(LoadError, match=fragment):
        read_graph(write_ovms_graph(tmp_path, "text_generation", extra=extra))


def test_graphs_ovserve_cannot_serve(tmp_path: Path) -> None:
    path = tmp_path / "graph.pbtxt"
    path.write_text('node { calculator: "OpenVINOInferenceCalculator" }')
    with pytest.raises(LoadError, match="OpenVINOInferenceCalculator"):
        read_graph(path)
    path.write_text("node {")
    with pytest.raises(LoadError, match="not a MediaPipe graph"):
        read_graph(path)
