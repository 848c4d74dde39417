"""How OVMS turns a rerank request into model rows, and logits into scores.

OVMS's tooling exports a reranker's tokenizer without special tokens, and OVMS's rerank
calculator assembles each row itself (``src/rerank/rerank_calculator_ov.cc`` and
``rerank_utils.cpp``), which GenAI's TextRerankPipeline does not do on such a tokenizer:

- special ids come from config.json (``bos/eos/pad_token_id`` when not 0, ``sep_token_id``,
  else EOS), else from tokenizer_config.json's token strings, else 0;
- when tokenizer_config.json says ``add_bos_token: false``, a row is simply the query text
  followed by the document text, tokenized together;
- otherwise the query is cut to half the context; documents longer than
  ``context - query - 4`` tokens are split into chunks of that size; each row is
  ``BOS query EOS SEP chunk EOS`` padded with PAD; a document scores the best of its chunks;
- a score is the sigmoid of ``logits[:, 0]`` (one column) or of ``logits[:, 1]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ovserve.backends.genai.files import read_json

SPECIAL_TOKENS_PER_ROW = 4


@dataclass(frozen=True)
class SpecialTokens:
    bos: int = 0
    eos: int = 0
    sep: int = 0
    pad: int = 0
    add_bos: bool = True


@dataclass(frozen=True)
class RerankBatch:
    input_ids: np.ndarray  # [rows, T] int64
    attention_mask: np.ndarray  # [rows, T] int64
    chunk_of_row: list[int]  # document index of each row


def special_tokens(directory: Path, tokenizer: Any) -> SpecialTokens:
    """The special ids as OVMS's SidepacketServable and RerankServable find them."""
    config = read_json(directory / "config.json")
    found: dict[str, int | None] = {}
    for name in ("pad", "eos", "bos"):
        value = config.get(f"{name}_token_id")
        found[name] = value if isinstance(value, int) and not isinstance(value, bool) and value != 0 else None
    sep = config.get("sep_token_id")
    found["sep"] = sep if isinstance(sep, int) and not isinstance(sep, bool) else found["eos"]
    tokenizer_config = read_json(directory / "tokenizer_config.json")
    for name in ("pad", "eos", "bos", "sep"):
        text = tokenizer_config.get(f"{name}_token")
        if found[name] is None and isinstance(text, str):
            ids = tokenizer.encode(text, add_special_tokens=False).input_ids.data
            if ids.size == 1:
                found[name] = int(ids.flat[0])
    if found["sep"] is None:
        found["sep"] = found["eos"]
    add_bos = tokenizer_config.get("add_bos_token") is not False
    return SpecialTokens(
        bos=found["bos"] or 0,
        eos=found["eos"] or 0,
        sep=found["sep"] or 0,
        pad=found["pad"] or 0,
        add_bos=add_bos,
    )


class RerankRows:
    """Builds the rows for one request and folds the logits back into one score per document."""

    def __init__(self, tokenizer: Any, tokens: SpecialTokens, context: int, max_allowed_chunks: int) -> None:
        if tokens.add_bos and context <= 2 * SPECIAL_TOKENS_PER_ROW:
            raise ValueError("max_position_embeddings should be larger than 2 * NUMBER_OF_SPECIAL_TOKENS")
        self.tokenizer = tokenizer
        self.tokens = tokens
        self.context = context
        self.max_allowed_chunks = max_allowed_chunks

    def _encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        encoded = self.tokenizer.encode(texts, add_special_tokens=False)
        return (
            np.asarray(encoded.input_ids.data, dtype=np.int64),
            np.asarray(encoded.attention_mask.data, dtype=np.int64),
        )

    def build(self, query: str, documents: list[str]) -> RerankBatch:
        """The model rows for ``query`` against ``documents``; ValueError names what does not fit."""
        if len(documents) > self.max_allowed_chunks:
            raise ValueError(
                f"Number of documents ({len(documents)}) exceeds max_allowed_chunks ({self.max_allowed_chunks})"
            )
        if not self.tokens.add_bos:
            ids, mask = self._encode([query + document for document in documents])
            if ids.shape[1] > self.context:
                raise ValueError(
                    f"The requests length of {ids.shape[1]} tokens exceeds the model context of {self.context}"
                )
            return RerankBatch(ids, mask, list(range(len(documents))))
        query_ids = self._encode([query])[0][0][: self.context // 2]
        doc_ids, doc_mask = self._encode(documents)
        per_chunk = self.context - len(query_ids) - SPECIAL_TOKENS_PER_ROW
        chunks, chunk_of_row = self._chunks(doc_ids, doc_mask, per_chunk)
        width = max((len(c) for c in chunks), default=0)
        total = width + SPECIAL_TOKENS_PER_ROW + len(query_ids)
        t = self.tokens
        ids = np.full((len(chunks), total), t.pad, np.int64)
        mask = np.zeros((len(chunks), total), np.int64)
        head = np.concatenate([[t.bos], query_ids, [t.eos, t.sep]]).astype(np.int64)
        for row, chunk in enumerate(chunks):
            ids[row, : len(head)] = head
            ids[row, len(head) : len(head) + len(chunk)] = chunk
            end = len(head) + _until_pad(chunk, t.pad, width)
            ids[row, end] = t.eos
            mask[row, : end + 1] = 1
        return RerankBatch(ids, mask, chunk_of_row)

    def _chunks(
        self, ids: np.ndarray, mask: np.ndarray, per_chunk: int
    ) -> tuple[list[np.ndarray], list[int]]:
        if per_chunk <= 0:
            raise ValueError("Chunking failed: no space left for chunks")
        lengths = [int(np.argmin(row)) if 0 in row else len(row) for row in mask]
        chunking = max(lengths, default=0) > per_chunk
        chunks: list[np.ndarray] = []
        chunk_of_row: list[int] = []
        for index, length in enumerate(lengths):
            if not chunking:  # OVMS keeps the tokenizer's padded rows as they are
                chunks.append(ids[index])
                chunk_of_row.append(index)
                continue
            for start in range(0, max(length, 1), per_chunk):
                chunks.append(ids[index, start : min(start + per_chunk, length)])
                chunk_of_row.append(index)
        if len(chunks) > self.max_allowed_chunks:
            raise ValueError(
                f"Chunking failed: exceeding max_allowed_chunks after chunking limit: {self.max_allowed_chunks}; "
                f"actual: {len(chunks)}"
            )
        return chunks, chunk_of_row

    @staticmethod
    def scores(logits: np.ndarray, chunk_of_row: list[int], documents: int) -> list[float]:
        """One score per document: the best sigmoid over its rows."""
        if logits.ndim != 2 or logits.shape[0] != len(chunk_of_row):
            raise ValueError(f"logits of shape {list(logits.shape)} do not match {len(chunk_of_row)} rows")
        column = logits[:, 1] if logits.shape[1] > 1 else logits[:, 0]
        sigmoid = 1.0 / (1.0 + np.exp(-column.astype(np.float64)))
        best = [0.0] * documents
        for row, document in enumerate(chunk_of_row):
            best[document] = max(best[document], float(sigmoid[row]))
        return best


def _until_pad(chunk: np.ndarray, pad: int, width: int) -> int:
    """Where OVMS puts the closing EOS: the first PAD of the chunk (padded to ``width``), else its end."""
    padded = np.full(width, pad, np.int64)
    padded[: len(chunk)] = chunk
    hits = np.flatnonzero(padded == pad)
    return int(hits[0]) if hits.size else width
