"""Generative models through the official ``openai`` client and raw HTTP (tiny models built here).

One server serves, from one config.json, the predictable LLM (tests/genai_models.py), an
embedding encoder, a reranker and a classic model side by side. Texts, usage and scores are
compared with the same GenAI / OpenVINO computation done in this process.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import genai_models
import numpy as np
import openai
import openvino as ov
import openvino_genai as ov_genai
import pytest
import requests
from gates import Gates
from models import identity, save
from serverproc import ServerProcess

ALPHABET = genai_models.ALPHABET
USER = [{"role": "user", "content": "x"}]


@pytest.fixture(scope="module")
def genai_repo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("genai")
    return {
        "llm": genai_models.build_llm(root / "llm"),
        "emb": genai_models.build_embeddings(root / "emb"),
        "rr": genai_models.build_reranker(root / "rr"),
        "classic": save(identity(), root / "classic"),
    }


@pytest.fixture(scope="module")
def server(
    genai_repo: dict[str, Path], gates: Gates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    tasks = {
        "llm": {"task": "text_generation", "max_num_seqs": 64, "tool_parser": "llama3"},
        "emb": {"task": "embeddings"},
    }
    tasks["rr"] = {"task": "rerank"}
    entries = [
        {"config": {"name": name, "base_path": str(path), **tasks.get(name, {})}}
        for name, path in genai_repo.items()
    ]
    # the same LLM with another tool parser
    mistral = {"task": "text_generation", "tool_parser": "mistral"}
    entries.append({"config": {"name": "llm-mistral", "base_path": str(genai_repo["llm"]), **mistral}})
    config = tmp_path_factory.mktemp("config") / "config.json"
    config.write_text(json.dumps({"model_config_list": entries}))
    proc = ServerProcess(
        ["--config_path", str(config), "--metrics_enable"],
        tmp_path_factory.mktemp("log") / "ovserve.log",
        env=gates.env,
    )
    proc.start()
    yield proc
    assert proc.stop() == 0, proc.log()


@pytest.fixture(scope="module")
def pipeline(genai_repo: dict[str, Path]) -> ov_genai.ContinuousBatchingPipeline:
    """The same model in this process, for reference answers."""
    return ov_genai.ContinuousBatchingPipeline(str(genai_repo["llm"]), ov_genai.SchedulerConfig(), "CPU")


def client(server: ServerProcess, prefix: str = "/v3") -> openai.OpenAI:
    return openai.OpenAI(base_url=server.rest_url + prefix, api_key="unused", max_retries=0)


def reference(
    pipe: ov_genai.ContinuousBatchingPipeline, prompt: str, **fields: object
) -> tuple[str, int, int]:
    """(text, prompt tokens, generated tokens) of the in-process pipeline, greedy."""
    config = pipe.get_config()
    config.apply_chat_template = False
    for name, value in fields.items():
        setattr(config, name, value)
    result = pipe.generate([prompt], [config])[0]
    metrics = result.perf_metrics
    return result.m_generation_ids[0], metrics.get_num_input_tokens(), metrics.get_num_generated_tokens()


def chat_prompt(pipe: ov_genai.ContinuousBatchingPipeline, messages: list[dict[str, str]]) -> str:
    return str(pipe.get_tokenizer().apply_chat_template(messages, add_generation_prompt=True))


# --- chat and completions -------------------------------------------------------------------------


def test_chat_through_the_openai_client_matches_the_pipeline(server: ServerProcess, pipeline: object) -> None:
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "say the alphabet"}]
    answer = client(server).chat.completions.create(model="llm", messages=messages)  # type: ignore[arg-type]
    text, prompt_tokens, generated = reference(pipeline, chat_prompt(pipeline, messages))  # type: ignore[arg-type]
    assert text == ALPHABET
    choice = answer.choices[0]
    assert (choice.message.role, choice.message.content, choice.finish_reason) == ("assistant", text, "stop")
    assert answer.object == "chat.completion" and answer.model == "llm"
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (prompt_tokens, generated)
    assert answer.usage.total_tokens == prompt_tokens + generated


def test_completions_length_stop_and_logprobs(server: ServerProcess, pipeline: object) -> None:
    api = client(server, "/v1")
    short = api.completions.create(model="llm", prompt="abc", max_tokens=5)
    assert (short.choices[0].text, short.choices[0].finish_reason) == ("defgh", "length")
    assert short.choices[0].text == reference(pipeline, "abc", max_new_tokens=5)[0]  # type: ignore[arg-type]
    assert short.usage is not None and short.usage.completion_tokens == 5
    stopped = api.completions.create(model="llm", prompt="abc", stop=["hij"], logprobs=1)
    assert (stopped.choices[0].text, stopped.choices[0].finish_reason) == ("defg", "stop")
    expected = reference(pipeline, "abc", stop_strings={"hij"})[0]  # type: ignore[arg-type]
    assert stopped.choices[0].text == expected
    logprobs = stopped.choices[0].logprobs
    assert logprobs is not None and logprobs.tokens is not None and logprobs.token_logprobs is not None
    assert "".join(logprobs.tokens).startswith("defg")
    assert all(lp <= 0 for lp in logprobs.token_logprobs)


def test_several_choices_and_structured_output(server: ServerProcess) -> None:
    api = client(server)
    beams = api.completions.create(model="llm", prompt="abc", max_tokens=5, n=2)  # greedy: beam search
    assert [c.index for c in beams.choices] == [0, 1]
    assert beams.choices[0].text == "defgh"
    assert beams.usage is not None and beams.usage.completion_tokens == 10
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    shaped = api.chat.completions.create(
        model="llm",
        messages=[{"role": "user", "content": "x"}],
        max_tokens=12,
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
    )
    # the model alone answers the alphabet; GenAI's structured output makes it start the object
    assert (shaped.choices[0].message.content or "").startswith('{"a":')


def call_schema(arguments: str) -> dict[str, object]:
    """The JSON schema of one call of get_weather(city="Paris"), its arguments under ``arguments``."""
    return {
        "type": "object",
        "properties": {
            "name": {"const": "get_weather"},
            arguments: {
                "type": "object",
                "properties": {"city": {"const": "Paris"}},
                "required": ["city"],
                "additionalProperties": False,
            },
        },
        "required": ["name", arguments],
        "additionalProperties": False,
    }


WEATHER_TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


@pytest.mark.parametrize(
    ("model", "schema", "plain"),
    [
        # llama3: the answer is the call object
        ("llm", call_schema("parameters"), {"name": "get_weather", "parameters": {"city": "Paris"}}),
        # mistral: a list of calls (after [TOOL_CALLS], a special token GenAI's detokenizer drops)
        (
            "llm-mistral",
            {"type": "array", "items": call_schema("arguments"), "minItems": 1, "maxItems": 1},
            [{"name": "get_weather", "arguments": {"city": "Paris"}}],
        ),
    ],
    ids=["llama3", "mistral"],
)
def test_tool_calls_through_the_tool_parser(
    server: ServerProcess, model: str, schema: object, plain: object
) -> None:
    """Structured output makes the tiny model write a call as the model's tool parser reads it;
    the parser turns it into tool_calls, whole and streamed; without tools it stays the content."""
    fields = {
        "model": model,
        "messages": [{"role": "user", "content": "weather in Paris?"}],
        "max_tokens": 100,
        "response_format": {"type": "json_schema", "json_schema": {"name": "call", "schema": schema}},
    }
    answer = client(server).chat.completions.create(tools=[WEATHER_TOOL], **fields)  # type: ignore[call-overload]
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None and choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert (call.type, call.function.name, json.loads(call.function.arguments)) == (
        "function",
        "get_weather",
        {"city": "Paris"},
    )
    streamed = client(server).chat.completions.create(tools=[WEATHER_TOOL], stream=True, **fields)  # type: ignore[call-overload]
    chunks = list(streamed)
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(d.content or "" for d in deltas) == ""  # the call is held back, then parsed
    calls = [call for d in deltas for call in d.tool_calls or []]
    assert [(c.index, c.function.name, json.loads(c.function.arguments or "")) for c in calls] == [
        (0, "get_weather", {"city": "Paris"})
    ]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    without = client(server).chat.completions.create(**fields)  # no tools: the JSON stays the content
    assert json.loads(without.choices[0].message.content or "") == plain
    assert without.choices[0].finish_reason == "stop"


def test_streamed_chat_has_its_text_and_usage(server: ServerProcess, pipeline: object) -> None:
    messages = [{"role": "user", "content": "go"}]
    stream = client(server).chat.completions.create(
        model="llm",
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},  # type: ignore[arg-type]
    )
    chunks = list(stream)
    content = [c.choices[0].delta.content for c in chunks if c.choices]
    assert "".join(c or "" for c in content) == ALPHABET
    assert (content[0] or "").startswith("a")  # a chunk per step, or the steps that came while one was sent
    assert chunks[0].choices[0].delta.role == "assistant"
    finals = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finals == ["stop"]
    usage = chunks[-1].usage
    _text, prompt_tokens, generated = reference(pipeline, chat_prompt(pipeline, messages))  # type: ignore[arg-type]
    assert usage is not None and chunks[-1].choices == []
    assert (usage.prompt_tokens, usage.completion_tokens) == (prompt_tokens, generated)


@pytest.mark.parametrize("chat", [False, True])
def test_steps_that_piled_up_go_out_as_one_chunk(
    server: ServerProcess, gates: Gates, pipeline: object, chat: bool
) -> None:
    """The ``stream-llm`` gate holds the server's reader until the generation ended, so every step
    waits for it at once: one chunk carries them all, with the same text, logprobs, usage and
    finish reason as the answer in one piece."""
    api = client(server)
    fields: dict[str, Any] = {"model": "llm", "max_tokens": 20, "logprobs": True}
    if chat:
        fields["messages"] = USER
        whole_chat = api.chat.completions.create(**fields)
        text, reason, usage = (
            whole_chat.choices[0].message.content,
            whole_chat.choices[0].finish_reason,
            whole_chat.usage,
        )
    else:
        fields.update(prompt="abc", logprobs=1)
        whole = api.completions.create(**fields)
        text, reason, usage = whole.choices[0].text, whole.choices[0].finish_reason, whole.usage
    gates.close("stream", "llm")
    try:
        create = api.chat.completions.create if chat else api.completions.create
        chunks = list(create(stream=True, stream_options={"include_usage": True}, **fields))
    finally:
        gates.open("stream", "llm")
    assert gates.held("stream", "llm") == 1
    assert [len(c.choices) for c in chunks] == [1, 0]  # all of the answer, then the usage
    choice = chunks[0].choices[0]
    streamed = choice.delta.content if chat else choice.text  # type: ignore[union-attr]
    assert (streamed, choice.finish_reason, chunks[1].usage) == (text, reason, usage)
    assert text and len(text) > 1
    assert choice.logprobs is not None
    tokens = [t.token for t in choice.logprobs.content or []] if chat else choice.logprobs.tokens  # type: ignore[union-attr]
    assert tokens is not None and "".join(tokens) == text
    assert usage is not None and len(tokens) == usage.completion_tokens == 20


def test_raw_sse_frames_end_with_done(server: ServerProcess) -> None:
    body = {"model": "llm", "prompt": "w", "stream": True}
    with requests.post(f"{server.rest_url}/v3/completions", json=body, stream=True, timeout=60) as answer:
        assert answer.headers["content-type"] == "text/event-stream"
        frames = [line for line in answer.iter_lines() if line]
    assert frames[-1] == b"data: [DONE]"
    texts = [json.loads(f[len(b"data: ") :])["choices"][0]["text"] for f in frames[:-1]]
    assert "".join(texts) == "xyz"


def test_concurrent_async_streams_with_cancellations(server: ServerProcess) -> None:
    """32 streams share the pipeline; every other one is closed after its third chunk."""

    async def one(api: openai.AsyncOpenAI, index: int) -> str:
        stream = await api.completions.create(
            model="llm", prompt="x", max_tokens=120, stream=True, extra_body={"ignore_eos": True}
        )
        text = ""
        async for chunk in stream:
            text += chunk.choices[0].text
            if index % 2 and len(text) >= 3:
                await stream.close()
                break
        return text

    async def main() -> list[str]:
        async with openai.AsyncOpenAI(
            base_url=server.rest_url + "/v3", api_key="unused", max_retries=0
        ) as api:
            return await asyncio.gather(*(one(api, i) for i in range(32)))

    texts = asyncio.run(main())
    # ignore_eos: after z comes EOS (a token without text), then the model starts over at a
    tokens = (["y", "z", ""] + [*ALPHABET, ""] * 5)[:120]
    full = "".join(tokens)
    for index, text in enumerate(texts):
        assert text == (full[: len(text)] if index % 2 else full)
    # every generation ended (finished or cancelled) and its KV blocks were freed
    samples = wait_for_metrics(
        server,
        lambda m: (
            m['ovms_current_graphs{name="llm"}'] == 0 and m['ovserve_kv_cache_usage_percent{name="llm"}'] == 0
        ),
    )
    assert samples['ovms_requests_accepted{api="V3",interface="REST",method="Stream",name="llm"}'] >= 32
    answer = client(server).completions.create(model="llm", prompt="uvw")
    assert answer.choices[0].text == "xyz"


def metrics(server: ServerProcess) -> dict[str, float]:
    text = requests.get(f"{server.rest_url}/metrics", timeout=10).text
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def wait_for_metrics(server: ServerProcess, done: Callable[[dict[str, float]], bool]) -> dict[str, float]:
    """Scrape until ``done`` holds (the server settles asynchronously after clients leave); bounded."""
    deadline = time.monotonic() + 30
    while True:
        samples = metrics(server)
        if done(samples) or time.monotonic() > deadline:
            assert done(samples), samples
            return samples
        time.sleep(0.05)


def test_v3_metrics_count_requests_tokens_and_latency(server: ServerProcess, pipeline: object) -> None:
    before = metrics(server)
    client(server).completions.create(model="llm", prompt="abc", max_tokens=4)
    streamed = list(client(server).completions.create(model="llm", prompt="abc", max_tokens=3, stream=True))
    after = metrics(server)

    def grew(key: str) -> float:
        return after[key] - before.get(key, 0)

    unary = 'api="V3",interface="REST",method="Unary",name="llm"'
    stream = 'api="V3",interface="REST",method="Stream",name="llm"'
    assert grew(f"ovms_requests_success{{{unary}}}") == 1
    assert grew(f"ovms_requests_success{{{stream}}}") == 1
    assert grew(f"ovms_responses{{{unary}}}") == 1
    assert grew(f"ovms_responses{{{stream}}}") == len(streamed)  # one per chunk (a step, or several queued)
    assert grew('ovserve_prompt_tokens{name="llm"}') == 6
    assert grew('ovserve_generated_tokens{name="llm"}') == 7
    assert grew('ovserve_time_to_first_token_us_count{name="llm"}') == 2
    assert grew('ovserve_time_per_output_token_us_count{name="llm"}') == 5
    requests.post(f"{server.rest_url}/v3/embeddings", json={"model": "emb", "input": "a b"}, timeout=30)
    assert metrics(server)['ovms_requests_success{api="V3",interface="REST",method="Unary",name="emb"}'] >= 1


# --- errors -------------------------------------------------------------------------------------------


def deep_schema(levels: int) -> dict[str, object]:
    """A response_format whose schema nests ``levels`` arrays (200: its grammar would take seconds)."""
    schema: dict[str, object] = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "array", "items": schema}
    return {"type": "json_schema", "json_schema": {"name": "deep", "schema": schema}}


@pytest.mark.parametrize(
    ("path", "body", "status", "param", "fragment"),
    [
        ("chat/completions", {"model": "nope", "messages": USER}, 404, None, "nope"),
        ("chat/completions", {"model": "classic", "messages": USER}, 400, None, "does not serve text generation"),
        ("chat/completions", {"model": "emb", "messages": USER}, 400, None, "serves embeddings"),
        ("chat/completions", {"model": "llm"}, 400, "messages", "required"),
        ("chat/completions", {"messages": []}, 400, "model", "required"),
        ("chat/completions", {"model": "llm", "messages": []}, 400, "messages", "non-empty"),
        ("chat/completions", {"model": "llm", "messages": [{"role": "user", "content": 5}]}, 400, "messages", "content"),
        ("completions", {"model": "llm", "prompt": "x", "temperature": "hot"}, 400, "temperature", "number"),
        ("completions", {"model": "llm", "prompt": "x", "temperature": 3}, 400, "temperature", "at most 2"),
        ("completions", {"model": "llm", "prompt": "x", "max_tokens": 0}, 400, "max_tokens", "at least 1"),
        ("completions", {"model": "llm", "prompt": "x", "stop": [1]}, 400, "stop", "strings"),
        ("completions", {"model": "llm", "prompt": "x", "stream_options": {}}, 400, "stream_options", "stream"),
        ("completions", {"model": "llm", "prompt": ["a", "b"]}, 400, "prompt", "string"),
        ("completions", {"model": "llm", "prompt": "a " * 1500}, 400, None, "context"),
        ("embeddings", {"model": "emb", "input": [1, 2]}, 400, "input", "strings"),
        ("embeddings", {"model": "emb", "input": ["ok", "hello " * 1100]}, 400, None, "context"),
        ("embeddings", {"model": "llm", "input": "x"}, 400, None, "does not serve embeddings"),
        ("embeddings", {"model": "emb", "input": "x", "encoding_format": "hex"}, 400, "encoding_format", "base64"),
        ("rerank", {"model": "rr", "documents": ["a"]}, 400, "query", "required"),
        ("rerank", {"model": "rr", "query": "q", "documents": "a"}, 400, "documents", "array"),
        ("rerank", {"model": "emb", "query": "q", "documents": ["a"]}, 400, None, "does not serve rerank"),
        ("completions", {"model": "llm", "prompt": "x", "n": 30}, 400, None, "best_of_limit"),
        ("chat/completions", {"model": "llm", "messages": USER, "tools": [{"type": "function"}]}, 400, "tools", "function"),
        ("chat/completions", {"model": "llm", "messages": USER, "tool_choice": "required"}, 400, "tool_choice", "auto"),
        ("completions", {"model": "llm", "prompt": "x", "response_format": deep_schema(200)}, 400, "response_format", "most 64"),
    ],
)  # fmt: skip
def test_bad_requests_get_openai_error_objects(
    server: ServerProcess, path: str, body: dict[str, object], status: int, param: str | None, fragment: str
) -> None:
    answer = requests.post(f"{server.rest_url}/v3/{path}", json=body, timeout=30)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert fragment in error["message"]
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"


def test_not_json_and_client_exceptions(server: ServerProcess) -> None:
    answer = requests.post(f"{server.rest_url}/v3/chat/completions", data=b"{not json", timeout=30)
    assert answer.status_code == 400 and "not valid JSON" in answer.json()["error"]["message"]
    with pytest.raises(openai.NotFoundError):
        client(server).chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError, match="context"):
        client(server).completions.create(model="llm", prompt="b " * 1500)
    infer = requests.post(f"{server.rest_url}/v2/models/llm/infer", json={"inputs": []}, timeout=30)
    assert infer.status_code == 412 and "OpenAI API" in infer.json()["error"]
    predict = requests.post(f"{server.rest_url}/v1/models/llm:predict", json={"instances": [[1]]}, timeout=30)
    assert predict.status_code == 400 and "0 inputs" in predict.json()["error"], predict.text
    assert server.alive()


# --- embeddings, rerank, models ---------------------------------------------------------------------


def test_embeddings_match_the_pipeline(server: ServerProcess, genai_repo: dict[str, Path]) -> None:
    texts = ["hello world", "the quick brown fox jumps over the lazy dog"]
    answer = client(server).embeddings.create(model="emb", input=texts)  # base64 on the wire
    expected = np.asarray(
        ov_genai.TextEmbeddingPipeline(str(genai_repo["emb"]), "CPU").embed_documents(texts)
    )
    got = np.array([item.embedding for item in answer.data], np.float32)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    tokenizer = ov_genai.Tokenizer(str(genai_repo["emb"]))
    assert answer.usage.prompt_tokens == int(tokenizer.encode(texts).attention_mask.data.sum())
    floats = requests.post(
        f"{server.rest_url}/v3/embeddings",
        json={"model": "emb", "input": texts[0], "encoding_format": "float"},
        timeout=30,
    ).json()
    np.testing.assert_allclose(floats["data"][0]["embedding"], expected[0], rtol=1e-5, atol=1e-6)


def ovms_rerank_scores(directory: Path, query: str, documents: list[str]) -> list[float]:
    """OVMS's rows for short documents: BOS query EOS SEP document EOS, PAD after; sigmoid of the logit."""
    config = json.loads((directory / "config.json").read_text())
    bos, eos, sep = config["bos_token_id"], config["eos_token_id"], config["sep_token_id"]
    tokenizer = ov_genai.Tokenizer(str(directory))
    q = list(tokenizer.encode(query, add_special_tokens=False).input_ids.data[0])
    docs = [list(tokenizer.encode(d, add_special_tokens=False).input_ids.data[0]) for d in documents]
    width = len(q) + 4 + max(len(d) for d in docs)
    ids = np.zeros((len(docs), width), np.int64)
    mask = np.zeros_like(ids)
    for row, doc in enumerate(docs):
        tokens = [bos, *q, eos, sep, *doc, eos]
        ids[row, : len(tokens)] = tokens
        mask[row, : len(tokens)] = 1
    compiled = ov.Core().compile_model(str(directory / "openvino_model.xml"), "CPU")
    logits = compiled({"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[
        "logits"
    ]
    return [float(1 / (1 + np.exp(-x))) for x in logits[:, 0]]


def test_rerank_scores_as_ovms_computes_them(server: ServerProcess, genai_repo: dict[str, Path]) -> None:
    query, documents = "quick fox", ["the lazy dog", "hello world how are you", "a quick brown fox"]
    answer = requests.post(
        f"{server.rest_url}/v3/rerank",
        json={"model": "rr", "query": query, "documents": documents, "top_n": 2, "return_documents": True},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    expected = ovms_rerank_scores(genai_repo["rr"], query, documents)
    order = sorted(range(3), key=lambda i: -expected[i])[:2]
    assert [r["index"] for r in results] == order
    for result in results:
        assert result["relevance_score"] == pytest.approx(expected[result["index"]], rel=1e-4)
        assert result["document"] == {"text": documents[result["index"]]}


def test_models_endpoints_and_the_tf_serving_overlap(server: ServerProcess) -> None:
    listed = client(server).models.list()
    assert sorted(m.id for m in listed.data) == ["classic", "emb", "llm", "llm-mistral", "rr"]
    assert client(server, "/v1").models.retrieve("llm").id == "llm"
    assert requests.get(f"{server.rest_url}/v3/v1/models", timeout=10).json()["object"] == "list"
    tfs = requests.get(f"{server.rest_url}/v1/models/classic", timeout=10).json()
    assert tfs["model_version_status"][0]["state"] == "AVAILABLE"
    assert requests.get(f"{server.rest_url}/v3/models/classic", timeout=10).json()["id"] == "classic"
    missing = requests.get(f"{server.rest_url}/v3/models/nope", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"
