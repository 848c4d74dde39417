"""The peers of bench/genai.py, each in a venv of its own under bench/.envs (built on first use).

- ``fastapi``: the obvious hand-written server, FastAPI + OpenVINO GenAI's LLMPipeline behind a
  lock (bench/peers/fastapi_llm.py), on the bench's model directory.
- ``llama``: llama-cpp-python's OpenAI server on the same tiny architecture written as GGUF
  (bench/peers/llama_gguf.py). PyPI has only the sdist of llama-cpp-python for this machine: the
  first run builds its wheel (llama.cpp, CPU only, no BLAS; ~25 minutes on 2 cores) into
  bench/.envs/wheels, which later venvs install from. ``BENCH_GENAI_LLAMA=0`` leaves it out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ENVS = ROOT / "bench" / ".envs"
sys.path.insert(0, str(ROOT / "tests"))

from serverproc import free_port  # noqa: E402

GENAI_PINS = ("openvino==2026.4.1", "openvino-genai==2026.4.1.0", "openvino-tokenizers==2026.4.1.0")
LLAMA_VERSION = "0.3.36"
#: llama.cpp as small as it builds: CPU backend only, no BLAS, none of its tools, tests or servers
LLAMA_CMAKE_ARGS = (
    "-DGGML_BLAS=OFF -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF "
    "-DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DGGML_OPENMP=OFF"
)


@dataclass
class Peer:
    """A peer server: its name in the report, the path it streams completions on, extra fields."""

    name: str
    path: str
    body: dict[str, Any] = field(default_factory=dict)
    #: it sends the usage chunk (``stream_options.include_usage``); else tokens are counted as chunks
    usage: bool = True
    process: subprocess.Popen[bytes] | None = None
    port: int = 0

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(30)


def _venv(name: str, *requirements: str, find_links: Path | None = None) -> Path:
    """bench/.envs/NAME with ``requirements`` (made once; a marker file says it is complete)."""
    env = ENVS / name
    python = env / "bin" / "python"
    if not (env / ".installed").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(env)], check=True)
        links = ["--find-links", str(find_links)] if find_links is not None else []
        subprocess.run([str(python), "-m", "pip", "install", "-q", *links, *requirements], check=True)
        (env / ".installed").touch()
    return python


def llama_wheel() -> Path:
    """bench/.envs/wheels, holding llama-cpp-python's wheel (built from its sdist when missing)."""
    wheels = ENVS / "wheels"
    if not list(wheels.glob(f"llama_cpp_python-{LLAMA_VERSION}-*.whl")):
        print(f"building llama-cpp-python {LLAMA_VERSION} from source (~25 minutes on 2 cores)", flush=True)
        env = dict(os.environ, CMAKE_ARGS=LLAMA_CMAKE_ARGS)
        command = [
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "-w",
            str(wheels),
            f"llama-cpp-python=={LLAMA_VERSION}",
        ]
        subprocess.run([sys.executable, *command], check=True, env=env)
    return wheels


def _wait(peer: Peer, url: str, log: Path) -> Peer:
    deadline = time.monotonic() + 120
    assert peer.process is not None
    while time.monotonic() < deadline and peer.process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return peer
        except urllib.error.HTTPError:
            return peer  # it answers
        except OSError:
            time.sleep(0.2)
    peer.process.kill()
    raise RuntimeError(f"the {peer.name} peer did not start:\n{log.read_text()}")


def start_fastapi(model: Path, log: Path) -> Peer:
    """The hand-written FastAPI + LLMPipeline server on a free port, once it answers."""
    python = _venv("fastapi-genai", "fastapi", "uvicorn", *GENAI_PINS)
    peer = Peer("FastAPI + LLMPipeline", "/v3/completions", port=free_port())
    script = ROOT / "bench" / "peers" / "fastapi_llm.py"
    peer.process = subprocess.Popen(
        [str(python), str(script), str(model), str(peer.port)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return _wait(peer, f"http://127.0.0.1:{peer.port}/docs", log)


def start_floor(tokens: int, log: Path) -> Peer:
    """The harness floor (bench/peers/null_sse.py: a finished completion streamed at once, no
    model) on a free port, once it answers; it runs on this Python, standard library only."""
    peer = Peer("harness floor", "/v3/completions", port=free_port())
    script = ROOT / "bench" / "peers" / "null_sse.py"
    peer.process = subprocess.Popen(
        [sys.executable, str(script), str(peer.port), str(tokens)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return _wait(peer, f"http://127.0.0.1:{peer.port}/", log)


def start_llama(model: Path, work: Path, log: Path) -> Peer:
    """llama-cpp-python's server on the GGUF of ``model``'s architecture, once it answers.

    Greedy, as the other sides; EOS is banned through ``logit_bias`` (the server has no
    ``ignore_eos``), so every request makes its ``max_tokens``."""
    python = _venv(
        "llama-cpp", f"llama-cpp-python[server]=={LLAMA_VERSION}", "gguf", find_links=llama_wheel()
    )
    gguf = work / "tiny.gguf"
    subprocess.run(
        [str(python), str(ROOT / "bench" / "peers" / "llama_gguf.py"), str(model), str(gguf)], check=True
    )
    eos = json.loads((model / "config.json").read_text())["eos_token_id"]
    body = {"temperature": 0, "logit_bias": {str(eos): -100}}
    peer = Peer("llama-cpp-python (GGUF)", "/v1/completions", body, usage=False, port=free_port())
    # its defaults otherwise (threads: half the CPUs; with all of them its spinning threads and its
    # Python thread fight over 2 cores: 5x fewer tokens/s at c=8); but a new request must not end
    # the running stream (its default), or concurrent streams cut each other short
    args = ["--model", str(gguf), "--model_alias", "tiny", "--n_ctx", "1024", "--interrupt_requests", "False"]
    peer.process = subprocess.Popen(
        [str(python), "-m", "llama_cpp.server", *args, "--host", "127.0.0.1", "--port", str(peer.port)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return _wait(peer, f"http://127.0.0.1:{peer.port}/v1/models", log)
