"""OVMS's rerank rows: layout, query cut, chunking, best-chunk scores (a word-per-token fake tokenizer)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from ovserve.backends.genai.rerank_rows import RerankRows, SpecialTokens

BOS, EOS, SEP, PAD = 101, 102, 103, 0


@dataclass
class _Tensor:
    data: np.ndarray


@dataclass
class _Encoded:
    input_ids: _Tensor
    attention_mask: _Tensor


class WordTokenizer:
    """One token per word: the word's length (+10), padded with 0 on the right."""

    def encode(self, texts: str | list[str], add_special_tokens: bool = True) -> _Encoded:
        assert add_special_tokens is False
        rows = [[10 + len(w) for w in t.split()] for t in ([texts] if isinstance(texts, str) else texts)]
        width = max(len(r) for r in rows)
        ids = np.array([r + [PAD] * (width - len(r)) for r in rows], np.int64)
        mask = np.array([[1] * len(r) + [0] * (width - len(r)) for r in rows], np.int64)
        return _Encoded(_Tensor(ids), _Tensor(mask))


def rows(context: int = 32, chunks: int = 100, add_bos: bool = True) -> RerankRows:
    return RerankRows(WordTokenizer(), SpecialTokens(BOS, EOS, SEP, PAD, add_bos), context, chunks)


def test_rows_follow_ovms_layout() -> None:
    batch = rows().build("a bb", ["ccc", "d ee fff"])
    assert batch.input_ids.tolist() == [
        [BOS, 11, 12, EOS, SEP, 13, EOS, PAD, PAD],
        [BOS, 11, 12, EOS, SEP, 11, 12, 13, EOS],
    ]
    assert batch.attention_mask.tolist() == [[1] * 7 + [0, 0], [1] * 9]
    assert batch.chunk_of_row == [0, 1]


def test_long_documents_are_chunked_and_score_their_best_chunk() -> None:
    # context 10, query of 2 tokens: 10 - 2 - 4 = 4 tokens per chunk
    batch = rows(context=10).build("a b", ["w w w w w w", "x"])
    assert batch.chunk_of_row == [0, 0, 1]
    assert batch.input_ids.tolist() == [
        [BOS, 11, 11, EOS, SEP, 11, 11, 11, 11, EOS],
        [BOS, 11, 11, EOS, SEP, 11, 11, EOS, PAD, PAD],
        [BOS, 11, 11, EOS, SEP, 11, EOS, PAD, PAD, PAD],
    ]
    logits = np.array([[-1.0], [2.0], [0.0]], np.float32)
    scores = RerankRows.scores(logits, batch.chunk_of_row, 2)
    assert scores == pytest.approx([1 / (1 + np.exp(-2.0)), 0.5])
    two_columns = np.array([[5.0, 0.0], [5.0, 1.0], [5.0, -1.0]], np.float32)
    assert RerankRows.scores(two_columns, batch.chunk_of_row, 2) == pytest.approx(
        [1 / (1 + np.exp(-1.0)), 1 / (1 + np.exp(1.0))]
    )


def test_query_is_cut_to_half_the_context() -> None:
    batch = rows(context=10).build("a a a a a a a a", ["b"])
    assert batch.input_ids[0, :8].tolist() == [BOS, 11, 11, 11, 11, 11, EOS, SEP]


def test_without_bos_the_texts_are_joined() -> None:
    batch = rows(add_bos=False).build("a ", ["bb", "c dd"])
    assert batch.input_ids.tolist() == [[11, 12, PAD], [11, 11, 12]]


def test_limits_name_the_problem() -> None:
    with pytest.raises(ValueError, match="max_allowed_chunks"):
        rows(chunks=1).build("q", ["a", "b"])
    with pytest.raises(ValueError, match="after chunking"):
        rows(context=9, chunks=1).build("q", ["a b c d e f"])
    with pytest.raises(ValueError, match="exceeds the model context"):
        rows(context=2, add_bos=False).build("a b", ["c d"])
