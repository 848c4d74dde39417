"""An OVMS model repository for generative models, unchanged: graph.pbtxt next to each model.

config.json lists plain ``{"name", "base_path"}`` entries as OVMS's export tooling writes
them; ovserve reads each graph.pbtxt and serves the model it describes beside a classic
model, with the usual lifecycle (status, reload on change, unload).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import genai_models
import openai
import pytest
import requests
from models import identity, save
from serverproc import ServerProcess, wait_for


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ovms_repo")
    genai_models.write_ovms_graph(genai_models.build_llm(root / "llm"), "text_generation")
    genai_models.write_ovms_graph(genai_models.build_embeddings(root / "emb"), "embeddings")
    genai_models.write_ovms_graph(genai_models.build_reranker(root / "rr"), "rerank")
    # an LLM whose graph asks for something ovserve does not serve
    (root / "tools").mkdir()
    genai_models.write_ovms_graph(
        root / "tools", "text_generation", "../llm", '\n      tool_parser: "gemma4",'
    )
    save(identity(), root / "classic")
    # a graph file named by graph_path, for a base path without graph.pbtxt: its models_path
    # "../emb" is relative to the base path (listed/), as OVMS resolves it, not to the graph
    # file's directory (graphs/deep/, where ../emb is nothing)
    (root / "listed").mkdir()
    (root / "graphs" / "deep").mkdir(parents=True)
    graph = genai_models.write_ovms_graph(root / "graphs" / "deep", "embeddings", models_path="../emb")
    graph.rename(root / "graphs" / "deep" / "emb_graph.pbtxt")
    return root


def write_config(root: Path, names: list[str]) -> Path:
    entries = [{"config": {"name": name, "base_path": name}} for name in names]
    path = root / "config.json"
    path.write_text(json.dumps({"model_config_list": entries}))
    return path


@pytest.fixture(scope="module")
def server(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    config = write_config(repository, ["llm", "emb", "rr", "tools", "classic"])
    doc = json.loads(config.read_text())
    doc["mediapipe_config_list"] = [
        {"name": "emb_listed", "base_path": "listed", "graph_path": "../graphs/deep/emb_graph.pbtxt"}
    ]
    config.write_text(json.dumps(doc))
    proc = ServerProcess(["--config_path", str(config)], tmp_path_factory.mktemp("log") / "ovserve.log")
    proc.start()
    yield proc
    assert proc.stop() == 0, proc.log()


def test_graph_models_serve_the_openai_endpoints(server: ServerProcess) -> None:
    api = openai.OpenAI(base_url=server.rest_url + "/v3", api_key="unused", max_retries=0)
    chat = api.chat.completions.create(model="llm", messages=[{"role": "user", "content": "hi"}])
    assert chat.choices[0].message.content == genai_models.ALPHABET
    assert len(api.embeddings.create(model="emb", input="hello").data[0].embedding) == 16
    rerank = requests.post(
        f"{server.rest_url}/v3/rerank",
        json={"model": "rr", "query": "a", "documents": ["b", "c"]},
        timeout=30,
    )
    assert rerank.status_code == 200 and len(rerank.json()["results"]) == 2
    ready = requests.get(f"{server.rest_url}/v2/models/llm/ready", timeout=10)
    assert ready.status_code == 200


def test_a_generative_graph_named_by_graph_path_is_served(server: ServerProcess) -> None:
    api = openai.OpenAI(base_url=server.rest_url + "/v3", api_key="unused", max_retries=0)
    listed = api.embeddings.create(model="emb_listed", input="hello").data[0].embedding
    assert listed == api.embeddings.create(model="emb", input="hello").data[0].embedding  # the same model


def test_unsupported_graph_options_are_named_in_the_status(server: ServerProcess) -> None:
    index = requests.post(f"{server.rest_url}/v2/repository/index", json={}, timeout=10).json()
    tools = next(entry for entry in index if entry["name"] == "tools")
    assert "tool_parser" in tools["reason"], tools
    answer = requests.post(
        f"{server.rest_url}/v3/chat/completions",
        json={"model": "tools", "messages": [{"role": "user", "content": "x"}]},
        timeout=30,
    )
    assert answer.status_code == 404 and "tool_parser" in answer.json()["error"]["message"]


def test_reload_on_graph_change_and_unload(server: ServerProcess, repository: Path) -> None:
    api = openai.OpenAI(base_url=server.rest_url + "/v3", api_key="unused", max_retries=0)
    graph = repository / "llm" / "graph.pbtxt"
    graph.write_text(graph.read_text().replace("max_num_seqs:16", "max_num_seqs:8"))
    log_size = len(server.log())
    wait_for(lambda: "model llm version 1: AVAILABLE" in server.log()[log_size:], "llm served")
    assert api.completions.create(model="llm", prompt="x").choices[0].text == "yz"
    write_config(repository, ["llm", "rr", "tools", "classic"])
    wait_for(
        lambda: requests.get(f"{server.rest_url}/v3/models/emb", timeout=10).status_code == 404, "emb gone"
    )
    with pytest.raises(openai.NotFoundError):
        api.embeddings.create(model="emb", input="hello")
    assert requests.get(f"{server.rest_url}/v1/models/classic", timeout=10).status_code == 200


def test_single_model_command_line_reads_the_graph(repository: Path, tmp_path: Path) -> None:
    proc = ServerProcess(
        ["--model_name", "g", "--model_path", str(repository / "rr")], tmp_path / "ovserve.log"
    )
    proc.start()
    try:
        answer = requests.post(
            f"{proc.rest_url}/v3/rerank", json={"model": "g", "query": "a", "documents": ["b"]}, timeout=30
        )
        assert answer.status_code == 200, answer.text
    finally:
        assert proc.stop() == 0, proc.log()


def test_exported_directories_without_task_are_served_as_ovms_infers(tmp_path: Path) -> None:
    """No --task and no graph.pbtxt: the task comes from config.json's architectures (OVMS's rules)."""
    llm = genai_models.build_llm(tmp_path / "llm")
    emb = genai_models.build_embeddings(tmp_path / "emb")
    entries = [{"config": {"name": n, "base_path": str(p)}} for n, p in (("chat", llm), ("vectors", emb))]
    (tmp_path / "config.json").write_text(json.dumps({"model_config_list": entries}))
    proc = ServerProcess(["--config_path", str(tmp_path / "config.json")], tmp_path / "ovserve.log")
    proc.start()
    try:
        api = openai.OpenAI(base_url=proc.rest_url + "/v3", api_key="unused", max_retries=0)
        answer = api.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
        assert answer.choices[0].message.content == genai_models.ALPHABET
        assert len(api.embeddings.create(model="vectors", input="hello").data[0].embedding) == 16
    finally:
        assert proc.stop() == 0, proc.log()
