"""The predictable llama-like decoder of tests/genai_models.py, built with OpenVINO's opset API.

Stateful (a KV cache variable per layer, K and V), scaled-dot-product attention with a causal and
padding mask (GenAI turns it into paged attention), an optional feed-forward block per layer.
Whatever its size, its greedy answer follows the alphabet: the head reads a one-hot of the
input token appended to the last hidden state (see genai_models). ``layers``, ``heads``,
``head_dim`` and ``ffn`` only set what a step costs (bench/genai.py builds a larger one).
"""

from __future__ import annotations

import itertools
import string

import numpy as np
import openvino as ov
import openvino.opset13 as ops

EOS = "<eos>"
ALPHABET = string.ascii_lowercase
CONTEXT = 1024  # max_position_embeddings of every tiny model
_PERM = np.array([0, 2, 1, 3], np.int64)


def param(name: str, dtype: ov.Type, rank: int) -> ov.Node:
    node = ops.parameter(ov.PartialShape([-1] * rank), dtype, name=name)
    node.output(0).set_names({name})
    return node


def const(array: np.ndarray) -> ov.Node:
    value = np.asarray(array)
    return ops.constant(np.ascontiguousarray(value) if value.ndim else value)


def dim(node: ov.Node, index: int) -> ov.Node:
    """A 1-element i64 tensor: ``shape(node)[index]``."""
    return ops.gather(ops.shape_of(node), const(np.array([index], np.int64)), const(np.int64(0)))


def predictable_head(vocab: int, ids: dict[str, int]) -> np.ndarray:
    """[V, V] weights: a letter's one-hot row scores the next letter, ``z`` scores EOS, others ``a``."""
    head = np.zeros((vocab, vocab), np.float32)
    for token in range(vocab):
        head[token, ids["a"]] = 10.0
    for letter, following in itertools.pairwise(ALPHABET):
        head[ids[letter]] = 0.0
        head[ids[letter], ids[following]] = 10.0
    head[ids["z"]] = 0.0
    head[ids["z"], ids[EOS]] = 10.0
    return head


def _causal_mask(input_ids: ov.Node, attention_mask: ov.Node) -> ov.Node:
    """[B,1,S,T] booleans: a query sees the keys up to its own position that are not padding."""
    zero, one = const(np.int64(0)), const(np.int64(1))
    total, length = dim(attention_mask, 1), dim(input_ids, 1)
    past_len = ops.subtract(total, length)
    q_pos = ops.add(ops.range(zero, ops.squeeze(length, zero), one, ov.Type.i64), ops.squeeze(past_len, zero))
    k_pos = ops.range(zero, ops.squeeze(total, zero), one, ov.Type.i64)
    causal = ops.less_equal(ops.unsqueeze(k_pos, zero), ops.unsqueeze(q_pos, one))  # [S, T]
    padding = ops.not_equal(
        ops.unsqueeze(attention_mask, const(np.array([1, 2], np.int64))), zero
    )  # [B,1,1,T]
    return ops.logical_and(ops.unsqueeze(causal, const(np.array([0, 1], np.int64))), padding)


class _Decoder:
    """The graph's shared parts (parameters, mask, weights) while its layers are added."""

    def __init__(self, heads: int, head_dim: int, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.heads, self.head_dim, self.hidden = heads, head_dim, heads * head_dim
        self.input_ids = param("input_ids", ov.Type.i64, 2)
        self.attention_mask = param("attention_mask", ov.Type.i64, 2)
        self.position_ids = param("position_ids", ov.Type.i64, 2)
        self.beam_idx = param("beam_idx", ov.Type.i32, 1)
        self.mask = _causal_mask(self.input_ids, self.attention_mask)
        self.sinks: list[ov.Node] = []

    def weight(self, *shape: int) -> ov.Node:
        return const((self.rng.standard_normal(shape) * 0.02).astype(np.float32))

    def _cached(self, name: str, current: ov.Node) -> ov.Node:
        """``current`` K or V after the cache's past ones (``name``: its variable), stored back."""
        info = ov.op.util.VariableInfo()
        info.data_shape = ov.PartialShape([-1, self.heads, -1, self.head_dim])
        info.data_type = ov.Type.f32
        info.variable_id = name
        variable = ov.op.util.Variable(info)
        init_shape = ops.concat(
            [dim(self.input_ids, 0), const(np.array([self.heads, 0, self.head_dim], np.int64))], 0
        )
        past = ops.read_value(ops.broadcast(const(np.float32(0)), init_shape), variable)
        cat = ops.concat([ops.gather(past, self.beam_idx, const(np.int64(0))), current], 2)
        self.sinks.append(ops.assign(cat, variable))
        return cat

    def layer(self, x: ov.Node, index: int, ffn: int) -> ov.Node:
        """One decoder layer: attention over the cache (+ a ReLU feed-forward block when ``ffn``)."""
        hidden, split = self.hidden, const(np.array([0, 0, self.heads, self.head_dim], np.int64))

        def project() -> ov.Node:  # [B,S,D] -> [B,H,S,HD]
            return ops.transpose(
                ops.reshape(ops.matmul(x, self.weight(hidden, hidden), False, False), split, True),
                const(_PERM),
            )

        q, k, v = project(), project(), project()
        k = self._cached(f"past_key_values.{index}.key", k)
        v = self._cached(f"past_key_values.{index}.value", v)
        attended = ops.scaled_dot_product_attention(q, k, v, self.mask, causal=False)
        merged = ops.reshape(
            ops.transpose(attended, const(_PERM)), const(np.array([0, 0, hidden], np.int64)), True
        )
        x = ops.add(x, ops.matmul(merged, self.weight(hidden, hidden), False, False))
        if ffn:
            up = ops.relu(ops.matmul(x, self.weight(hidden, ffn), False, False))
            x = ops.add(x, ops.matmul(up, self.weight(ffn, hidden), False, False))
        return x


def llm_model(
    vocab: int, ids: dict[str, int], *, heads: int = 2, head_dim: int = 8, layers: int = 1, ffn: int = 0
) -> ov.Model:
    """A llama-like stateful decoder of ``layers`` layers whose greedy output follows the alphabet."""
    graph = _Decoder(heads, head_dim, seed=7)
    zero = const(np.int64(0))
    x = ops.gather(graph.weight(vocab, graph.hidden), graph.input_ids, zero)
    x = ops.add(x, ops.gather(graph.weight(CONTEXT, graph.hidden), graph.position_ids, zero))
    for index in range(layers):
        x = graph.layer(x, index, ffn)
    onehot = ops.one_hot(
        graph.input_ids, const(np.int64(vocab)), const(np.float32(1)), const(np.float32(0)), -1
    )
    features = ops.concat([x, onehot], -1)
    head = np.concatenate([np.zeros((graph.hidden, vocab), np.float32), predictable_head(vocab, ids)], 0)
    logits = ops.matmul(features, const(head), False, False)
    logits.output(0).set_names({"logits"})
    inputs = [graph.input_ids, graph.attention_mask, graph.position_ids, graph.beam_idx]
    return ov.Model([ops.result(logits)], graph.sinks, inputs, "tiny-llm")
