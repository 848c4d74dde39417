#!/usr/bin/env python3
"""The tiny LLM's architecture written as GGUF (llama), for llama-cpp-python's OpenAI server.

Runs in the peer's venv (``gguf`` and ``numpy``). The bench's tiny model (tests/genai_models.py)
is one llama-like layer: hidden size 16, 2 heads of 8, the context of the fixture, its byte-level
BPE tokenizer. Written here: the same sizes and the same tokenizer (vocabulary and merges from
the model directory's ``tokenizer.json``) as llama.cpp's ``llama`` architecture with random
weights; llama's layer also has a feed-forward block (16 wide here) and RMS norms, which the
fixture has not. The bench asks for ``ignore_eos`` tokens, so the text does not matter, only
the work per token.

    python llama_gguf.py MODEL_DIR OUT.gguf
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import gguf
import numpy as np

HEADS, HEAD_DIM, FFN = 2, 8, 16


def tokenizer(writer: gguf.GGUFWriter, directory: Path) -> None:
    """The fixture's byte-level BPE as GGUF's ``gpt2`` tokenizer."""
    data = json.loads((directory / "tokenizer.json").read_text())
    vocab: dict[str, int] = dict(data["model"]["vocab"])
    special = {token["content"]: token["id"] for token in data["added_tokens"]}
    vocab.update(special)
    tokens = [token for token, _ in sorted(vocab.items(), key=lambda item: item[1])]
    types = [gguf.TokenType.CONTROL if token in special else gguf.TokenType.NORMAL for token in tokens]
    merges = [m if isinstance(m, str) else " ".join(m) for m in data["model"]["merges"]]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    eos = special["<eos>"]
    writer.add_eos_token_id(eos)
    writer.add_bos_token_id(eos)
    writer.add_pad_token_id(special.get("<pad>", eos))
    writer.add_add_bos_token(False)


def main(directory: Path, out: Path) -> None:
    config = json.loads((directory / "config.json").read_text())
    vocab, context, hidden = config["vocab_size"], config["max_position_embeddings"], HEADS * HEAD_DIM
    writer = gguf.GGUFWriter(str(out), "llama")
    writer.add_name("ovserve-bench-tiny")
    writer.add_context_length(context)
    writer.add_embedding_length(hidden)
    writer.add_block_count(1)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(HEADS)
    writer.add_rope_dimension_count(HEAD_DIM)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    tokenizer(writer, directory)
    rng = np.random.default_rng(7)

    def weight(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    tensors = {
        "token_embd.weight": weight(vocab, hidden),
        "blk.0.attn_norm.weight": np.ones(hidden, np.float32),
        "blk.0.attn_q.weight": weight(hidden, hidden),
        "blk.0.attn_k.weight": weight(hidden, hidden),
        "blk.0.attn_v.weight": weight(hidden, hidden),
        "blk.0.attn_output.weight": weight(hidden, hidden),
        "blk.0.ffn_norm.weight": np.ones(hidden, np.float32),
        "blk.0.ffn_gate.weight": weight(FFN, hidden),
        "blk.0.ffn_up.weight": weight(FFN, hidden),
        "blk.0.ffn_down.weight": weight(hidden, FFN),
        "output_norm.weight": np.ones(hidden, np.float32),
        "output.weight": weight(vocab, hidden),
    }
    for name, value in tensors.items():
        writer.add_tensor(name, value)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
