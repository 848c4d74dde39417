"""GenerativeSource: which models it serves itself, as version 1, and why it cannot serve others."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from genai_models import write_ovms_graph

from ovserve.config.file import parse_config
from ovserve.config.genai import GenerativeConfig
from ovserve.config.types import ModelConfig
from ovserve.core.manager import AspiredStream
from ovserve.genai.source import GenerativeSource
from ovserve.pipelines.mediapipe.source import GraphSource


class Inner:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def aspired(self, configs: Iterable[ModelConfig]) -> dict[str, AspiredStream]:
        names = [c.name for c in configs]
        self.asked += names
        return {name: AspiredStream() for name in names}


def exported(directory: Path, architectures: list[str]) -> Path:
    directory.mkdir()
    for name in ("openvino_model.xml", "openvino_tokenizer.xml"):
        (directory / name).write_text("")
    (directory / "config.json").write_text(json.dumps({"architectures": architectures}))
    return directory


def test_routes_generative_models_and_builds_version_1(tmp_path: Path) -> None:
    loads: list[tuple[str, GenerativeConfig | None, Path]] = []
    inner = Inner()
    source = GenerativeSource(
        inner, lambda config, path: loads.append((config.name, config.generative, path))
    )  # type: ignore[arg-type,func-returns-value]
    llm = exported(tmp_path / "llm", ["LlamaForCausalLM"])
    graph_dir = exported(tmp_path / "g", ["BertModel"])
    write_ovms_graph(graph_dir, "rerank")
    configs = [
        ModelConfig("classic", str(tmp_path / "classic")),
        ModelConfig("tasked", str(llm), generative=GenerativeConfig(task="text_generation", max_num_seqs=4)),
        ModelConfig("inferred", str(llm)),
        ModelConfig("graph", str(graph_dir)),
    ]
    streams = source.aspired(configs)
    assert inner.asked == ["classic"]
    assert [v.version for v in streams["tasked"].versions] == [1]
    assert {name: config.task for name, config, _ in loads if config} == {
        "tasked": "text_generation",
        "inferred": "text_generation",
        "graph": "rerank",
    }
    assert streams["tasked"].versions[0].fingerprint != streams["inferred"].versions[0].fingerprint


def test_unservable_directories_say_why(tmp_path: Path) -> None:
    source = GenerativeSource(Inner(), lambda config, path: None)  # type: ignore[arg-type,return-value]
    whisper = exported(tmp_path / "w", ["WhisperForConditionalGeneration"])
    empty = tmp_path / "empty"
    empty.mkdir()
    streams = source.aspired(
        [
            ModelConfig("speech", str(whisper)),
            ModelConfig("nothing", str(empty), generative=GenerativeConfig(task="embeddings")),
            ModelConfig("gone", str(tmp_path / "gone"), generative=GenerativeConfig(task="rerank")),
        ]
    )
    assert "speech2text is not supported yet" in str(streams["speech"].error)
    assert "openvino_model.xml, openvino_tokenizer.xml not found" in str(streams["nothing"].error)
    assert "base path is invalid" in str(streams["gone"].error)


def test_a_graph_is_parsed_again_only_when_its_content_changes(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import ovserve.genai.source as source_module

    parsed: list[Path] = []
    parse = source_module.parse_graph
    monkeypatch.setattr(
        source_module,
        "parse_graph",
        lambda data, path, base=None: parsed.append(path) or parse(data, path, base),
    )
    dirs: list[Path] = []
    source = GenerativeSource(Inner(), lambda config, path: dirs.append(path))  # type: ignore[arg-type,func-returns-value]
    models = exported(tmp_path / "m", ["BertModel"])
    graph = write_ovms_graph(models, "rerank")
    config = [ModelConfig("g", str(models))]
    first = source.aspired(config)["g"].versions[0].fingerprint
    assert source.aspired(config)["g"].versions[0].fingerprint == first
    assert parsed == [graph]  # the second poll read and hashed the graph, and did not parse it
    graph.write_text(graph.read_text() + "\n# edited\n")
    assert source.aspired(config)["g"].versions[0].fingerprint != first
    assert parsed == [graph, graph]
    assert dirs == [models.resolve()] * 3  # the model directory is resolved on every poll


def test_a_generative_graph_given_by_graph_path_is_served(tmp_path: Path) -> None:
    # OVMS's mediapipe_config_list (and model_config_list) entries may name any graph file;
    # models_path is relative to the graph's base path, as OVMS resolves it
    loads: list[tuple[str, GenerativeConfig | None, Path]] = []
    graphs = GraphSource(
        GenerativeSource(Inner(), lambda config, path: loads.append((config.name, config.generative, path))),  # type: ignore[arg-type,func-returns-value]
        lambda name, version: None,  # type: ignore[arg-type,return-value]
        lambda spec: None,  # type: ignore[arg-type,return-value]
    )
    base = tmp_path / "base"
    base.mkdir()
    models = exported(base / "model", ["BertModel"])
    (base / "graphs").mkdir()
    graph = write_ovms_graph(base / "graphs", "embeddings", models_path="model")
    graph.rename(base / "graphs" / "embed.pbtxt")
    doc = {
        "model_config_list": [
            {"config": {"name": "listed_model", "base_path": "base", "graph_path": "graphs/embed.pbtxt"}}
        ],
        "mediapipe_config_list": [
            {"name": "listed", "base_path": "base", "graph_path": "graphs/embed.pbtxt"}
        ],
    }
    configs = parse_config(doc, str(tmp_path)).models
    streams = graphs.aspired(configs)
    assert {name: [v.version for v in s.versions] for name, s in streams.items()} == {
        "listed_model": [1],
        "listed": [1],
    }
    assert all(s.error is None for s in streams.values())
    assert [(name, config.task, path) for name, config, path in loads if config] == [
        ("listed_model", "embeddings", models.resolve()),
        ("listed", "embeddings", models.resolve()),
    ]


def test_a_generative_graph_that_cannot_be_read_says_why(tmp_path: Path) -> None:
    source = GenerativeSource(Inner(), lambda config, path: None)  # type: ignore[arg-type,return-value]
    (tmp_path / "g").mkdir()
    missing = tmp_path / "g" / "nowhere.pbtxt"
    streams = source.aspired([ModelConfig("g", str(tmp_path / "g"), graph_path=str(missing))])
    assert not streams["g"].versions and f"{missing}: cannot read the graph" in str(streams["g"].error)
