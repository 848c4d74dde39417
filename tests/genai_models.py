"""Tiny models for OpenVINO GenAI built locally (no download): an LLM, an embedding encoder, a reranker.

See shared GENAI_TESTING.md. Each builder writes a model directory as OpenVINO's export
tooling does (``openvino_model.xml`` + tokenizer IRs + config files). The *predictable*
LLM (its graph: genai_graph.py) answers greedily with the letters after the last prompt letter up to ``z``, then EOS:
a prompt ending in a non-letter (a chat template's ``assistant:``) gives
``abcdefghijklmnopqrstuvwxyz`` and finish reason ``stop``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops
from genai_graph import ALPHABET, CONTEXT, EOS, llm_model
from genai_graph import const as _const
from genai_graph import dim as _dim
from genai_graph import param as _param

PAD = "<pad>"
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)
_SENTENCES = [
    "the quick brown fox jumps over the lazy dog",
    "hello world, how are you today? I am fine, thank you.",
    "OpenVINO serves models; ovserve speaks OpenAI's API.",
    "user: say something\nassistant: something",
]


# --- tokenizers -----------------------------------------------------------------------------------


def _bpe_tokenizer(directory: Path) -> dict[str, int]:
    """A byte-level BPE tokenizer with a chat template; returns token -> id of the specials and letters."""
    import openvino_tokenizers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=[EOS, PAD], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(_SENTENCES, trainer)
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=PAD)
    hf.chat_template = CHAT_TEMPLATE
    hf.save_pretrained(directory)
    ov_tok, ov_detok = openvino_tokenizers.convert_tokenizer(hf, with_detokenizer=True)
    ov.save_model(ov_tok, directory / "openvino_tokenizer.xml")
    ov.save_model(ov_detok, directory / "openvino_detokenizer.xml")
    ids = {EOS: tok.token_to_id(EOS), PAD: tok.token_to_id(PAD)}
    ids.update({letter: tok.token_to_id(letter) for letter in ALPHABET})
    ids["vocab"] = tok.get_vocab_size()
    return ids


def _wordpiece_tokenizer(directory: Path, *, special_tokens: bool) -> dict[str, int]:
    """A BERT-style WordPiece tokenizer; ``special_tokens=False`` exports it as OVMS's rerank export does."""
    import openvino_tokenizers
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(_SENTENCES, trainers.WordPieceTrainer(vocab_size=200, special_tokens=specials))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=CONTEXT,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )
    hf.save_pretrained(directory)
    ov_tok, ov_detok = openvino_tokenizers.convert_tokenizer(
        hf, with_detokenizer=True, add_special_tokens=special_tokens
    )
    ov.save_model(ov_tok, directory / "openvino_tokenizer.xml")
    ov.save_model(ov_detok, directory / "openvino_detokenizer.xml")
    return {"cls": cls, "sep": sep, "pad": tok.token_to_id("[PAD]"), "vocab": tok.get_vocab_size()}


# --- the LLM --------------------------------------------------------------------------------------


def build_llm(directory: Path, **size: int) -> Path:
    """The predictable tiny LLM (stateful, SDPA) with its tokenizer, ready for LLMPipeline and CB;
    ``size``: genai_graph.llm_model's ``heads``, ``head_dim``, ``layers``, ``ffn`` (default: one
    layer, hidden 16)."""
    directory.mkdir(parents=True, exist_ok=True)
    ids = _bpe_tokenizer(directory)
    model = llm_model(ids["vocab"], ids, **size)
    ov.save_model(model, directory / "openvino_model.xml", compress_to_fp16=False)
    (directory / "config.json").write_text(
        json.dumps(
            {
                "model_type": "llama",
                "architectures": ["LlamaForCausalLM"],
                "max_position_embeddings": CONTEXT,
                "eos_token_id": ids[EOS],
                "vocab_size": ids["vocab"],
            }
        )
    )
    (directory / "generation_config.json").write_text(json.dumps({"eos_token_id": ids[EOS]}))
    return directory


# --- encoders -------------------------------------------------------------------------------------


def _layer_norm(x: ov.Node) -> ov.Node:
    return ops.mvn(x, _const(np.array([-1], np.int64)), True, 1e-5, "inside_sqrt")


def _encoder(vocab: int, *, hidden: int = 16, heads: int = 2, seed: int = 3) -> tuple[list[ov.Node], ov.Node]:
    """A BERT-like encoder: parameters and the token states [B,S,H]."""
    rng = np.random.default_rng(seed)

    def weight(*shape: int) -> ov.Node:
        return _const((rng.standard_normal(shape) * 0.5).astype(np.float32))

    input_ids = _param("input_ids", ov.Type.i64, 2)
    attention_mask = _param("attention_mask", ov.Type.i64, 2)
    token_type_ids = _param("token_type_ids", ov.Type.i64, 2)
    zero = _const(np.int64(0))
    positions = ops.range(zero, ops.squeeze(_dim(input_ids, 1), zero), _const(np.int64(1)), ov.Type.i64)
    x = ops.add(
        ops.gather(weight(vocab, hidden), input_ids, zero),
        ops.gather(weight(CONTEXT, hidden), positions, zero),
    )
    x = _layer_norm(ops.add(x, ops.gather(weight(2, hidden), token_type_ids, zero)))
    head_dim = hidden // heads
    split = _const(np.array([0, 0, heads, head_dim], np.int64))
    perm = _const(np.array([0, 2, 1, 3], np.int64))

    def project() -> ov.Node:
        return ops.transpose(
            ops.reshape(ops.matmul(x, weight(hidden, hidden), False, False), split, True), perm
        )

    mask = ops.not_equal(
        ops.unsqueeze(attention_mask, _const(np.array([1, 2], np.int64))), _const(np.int64(0))
    )
    attended = ops.scaled_dot_product_attention(project(), project(), project(), mask, causal=False)
    merged = ops.reshape(ops.transpose(attended, perm), _const(np.array([0, 0, hidden], np.int64)), True)
    x = _layer_norm(ops.add(x, ops.matmul(merged, weight(hidden, hidden), False, False)))
    ffn = ops.matmul(
        ops.gelu(ops.matmul(x, weight(hidden, 2 * hidden), False, False), "erf"),
        weight(2 * hidden, hidden),
        False,
        False,
    )
    x = _layer_norm(ops.add(x, ffn))
    return [input_ids, attention_mask, token_type_ids], x


def build_embeddings(directory: Path) -> Path:
    """A tiny BERT-like embedding model (output 0: token states) with a WordPiece tokenizer."""
    directory.mkdir(parents=True, exist_ok=True)
    ids = _wordpiece_tokenizer(directory, special_tokens=True)
    params, states = _encoder(ids["vocab"])
    states.output(0).set_names({"last_hidden_state"})
    ov.save_model(ov.Model([ops.result(states)], params, "tiny-embed"), directory / "openvino_model.xml")
    (directory / "config.json").write_text(
        json.dumps({"model_type": "bert", "architectures": ["BertModel"], "max_position_embeddings": CONTEXT})
    )
    return directory


def build_reranker(directory: Path) -> Path:
    """A tiny cross-encoder (``logits`` [B,1]) with a tokenizer exported without special tokens (as OVMS's)."""
    directory.mkdir(parents=True, exist_ok=True)
    ids = _wordpiece_tokenizer(directory, special_tokens=False)
    params, states = _encoder(ids["vocab"], seed=11)
    cls = ops.gather(states, _const(np.int64(0)), _const(np.int64(1)))  # [B,H]
    weights = (np.random.default_rng(5).standard_normal((16, 1)) * 0.5).astype(np.float32)
    logits = ops.matmul(cls, _const(weights), False, False)
    logits.output(0).set_names({"logits"})
    ov.save_model(ov.Model([ops.result(logits)], params, "tiny-rerank"), directory / "openvino_model.xml")
    (directory / "config.json").write_text(
        json.dumps(
            {
                "model_type": "bert",
                "architectures": ["BertForSequenceClassification"],
                "max_position_embeddings": CONTEXT,
                "bos_token_id": ids["cls"],
                "eos_token_id": ids["sep"],
                "sep_token_id": ids["sep"],
                "pad_token_id": ids["pad"],
            }
        )
    )
    return directory


# --- OVMS's graph.pbtxt ---------------------------------------------------------------------------

_LLM_GRAPH = """# File created with: OpenVINO Model Server 2026.3
# OVMS_GRAPH_QUEUE_MAX_SIZE: AUTO
input_stream: "HTTP_REQUEST_PAYLOAD:input"
output_stream: "HTTP_RESPONSE_PAYLOAD:output"
node: {
  name: "LLMExecutor"
  calculator: "HttpLLMCalculator"
  input_stream: "LOOPBACK:loopback"
  input_stream: "HTTP_REQUEST_PAYLOAD:input"
  input_side_packet: "LLM_NODE_RESOURCES:llm"
  input_side_packet: "LLM_NODE_EXECUTION_CONTEXTS:llm_ctx"
  output_stream: "LOOPBACK:loopback"
  output_stream: "HTTP_RESPONSE_PAYLOAD:output"
  input_stream_info: {
    tag_index: 'LOOPBACK:0',
    back_edge: true
  }
  node_options: {
    [type.googleapis.com / mediapipe.LLMCalculatorOptions]: {
      max_num_seqs:16,
      device: "CPU",
      models_path: "MODELS_PATH",
      plugin_config: '{"KV_CACHE_PRECISION": "u8"}',
      enable_prefix_caching: true,
      cache_size: 1,EXTRA
    }
  }
  input_stream_handler {
    input_stream_handler: "SyncSetInputStreamHandler",
    options {
      [mediapipe.SyncSetInputStreamHandlerOptions.ext] {
        sync_set {
          tag_index: "LOOPBACK:0"
        }
      }
    }
  }
}
"""

_ENCODER_GRAPH = """# File created with: OpenVINO Model Server 2026.3
# OVMS_GRAPH_QUEUE_MAX_SIZE: AUTO
input_stream: "REQUEST_PAYLOAD:input"
output_stream: "RESPONSE_PAYLOAD:output"
node {
  name: "NAMEExecutor"
  calculator: "CALCULATOR"
  input_side_packet: "SIDE_PACKET"
  input_stream: "REQUEST_PAYLOAD:input"
  output_stream: "RESPONSE_PAYLOAD:output"
  node_options: {
    [type.googleapis.com / mediapipe.OPTIONS]: {
      models_path: "MODELS_PATH",EXTRA
      target_device: "CPU",
    }
  }
}
"""


def write_ovms_graph(directory: Path, task: str, models_path: str = "./", extra: str = "") -> Path:
    """A graph.pbtxt as OVMS's export tooling writes it for ``task``, in ``directory``.

    ``extra`` adds options to the LLM node, and replaces the encoders' default ones.
    """
    if task == "text_generation":
        text = _LLM_GRAPH.replace("MODELS_PATH", models_path).replace("EXTRA", extra)
    else:
        calculator, options, packet, name, default = {
            "embeddings": (
                "EmbeddingsCalculatorOV",
                "EmbeddingsCalculatorOVOptions",
                "EMBEDDINGS_NODE_RESOURCES:embeddings_servable",
                "Embeddings",
                "\n      normalize_embeddings: true,\n      truncate: false,\n      pooling: CLS,",
            ),
            "rerank": (
                "RerankCalculatorOV",
                "RerankCalculatorOVOptions",
                "RERANK_NODE_RESOURCES:rerank_servable",
                "Rerank",
                "\n      max_allowed_chunks: 10000,",
            ),
        }[task]
        text = (
            _ENCODER_GRAPH.replace("CALCULATOR", calculator)
            .replace("OPTIONS", options)
            .replace("SIDE_PACKET", packet)
            .replace("NAME", name)
            .replace("MODELS_PATH", models_path)
            .replace("EXTRA", extra or default)
        )
    path = directory / "graph.pbtxt"
    path.write_text(text)
    return path
