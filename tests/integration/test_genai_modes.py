"""All three LLM modes served from OVMS's command line (``--task text_generation``), same answers.

Continuous batching (the default, ``LM_CB``), LLMPipeline with paged attention
(``--pipeline_type LM``) and LLMPipeline on the stateful model as exported (``LM`` with
``ATTENTION_BACKEND: SDPA``). The fixture model leans on GenAI's pattern matching, so an
upgrade that breaks one of the modes fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import genai_models
import openai
import pytest
from serverproc import ServerProcess

MODES = {
    "continuous-batching": [],
    "paged": ["--pipeline_type", "LM"],
    "stateful": ["--pipeline_type", "LM", "--plugin_config", '{"ATTENTION_BACKEND": "SDPA"}'],
}


@pytest.fixture(scope="module")
def llm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return genai_models.build_llm(tmp_path_factory.mktemp("genai") / "llm")


@pytest.fixture(scope="module", params=list(MODES))
def served(
    request: pytest.FixtureRequest, llm_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    args = [
        "--model_name",
        "tiny",
        "--model_path",
        str(llm_dir),
        "--task",
        "text_generation",
        "--tool_parser",
        "mistral",
        *MODES[request.param],
    ]
    proc = ServerProcess(args, tmp_path_factory.mktemp("log") / "ovserve.log")
    proc.start()
    yield proc
    assert proc.stop() == 0, proc.log()


def test_every_mode_answers_the_same(served: ServerProcess) -> None:
    api = openai.OpenAI(base_url=served.rest_url + "/v3", api_key="unused", max_retries=0)
    chat = api.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}])
    assert (chat.choices[0].message.content, chat.choices[0].finish_reason) == (genai_models.ALPHABET, "stop")
    assert chat.usage is not None and chat.usage.completion_tokens == 27  # 26 letters and EOS
    short = api.completions.create(model="tiny", prompt="abc", max_tokens=5)
    assert (short.choices[0].text, short.choices[0].finish_reason) == ("defgh", "length")
    stopped = api.completions.create(model="tiny", prompt="abc", stop="ghi")
    assert (stopped.choices[0].text, stopped.choices[0].finish_reason) == ("def", "stop")
    chunks = [
        c.choices[0].text for c in api.completions.create(model="tiny", prompt="t", stream=True) if c.choices
    ]
    assert chunks[0].startswith("u")  # a chunk per step, or the steps that came while the last was sent
    assert "".join(chunks) == "uvwxyz"


def test_every_mode_keeps_special_tokens_for_the_parser_but_not_eos(served: ServerProcess) -> None:
    """The mistral tool parser reads special tokens: with tools, the answer is detokenized with
    their text; the EOS that ends it makes none (it counts in usage)."""
    api = openai.OpenAI(base_url=served.rest_url + "/v3", api_key="unused", max_retries=0)
    fields = {
        "model": "tiny",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    }
    chat = api.chat.completions.create(**fields)  # type: ignore[call-overload]
    assert (chat.choices[0].message.content, chat.choices[0].finish_reason) == (genai_models.ALPHABET, "stop")
    assert chat.usage is not None and chat.usage.completion_tokens == 27
    chunks = list(api.chat.completions.create(stream=True, **fields))  # type: ignore[call-overload]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == genai_models.ALPHABET
