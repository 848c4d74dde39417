"""Embeddings (GenAI's TextEmbeddingPipeline) and rerank (OVMS's own scoring) servables.

Both run their model on a worker thread (``asyncio.to_thread``), one call at a time per
servable: the pipelines are not documented as thread-safe, and each call already fills
the model with a batch of texts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov
import openvino_genai as ov_genai

from ovserve.backends.genai.files import context_length, plugin_properties
from ovserve.backends.genai.rerank_rows import RerankRows, SpecialTokens, special_tokens
from ovserve.config.types import ModelConfig
from ovserve.core.ids import ServableId
from ovserve.errors import BackendError, InvalidInput
from ovserve.genai.types import (
    Embeddings,
    EmbeddingsServable,
    PromptTooLong,
    RerankScores,
    RerankServable,
)

_POOLING = {"CLS": "CLS", "MEAN": "MEAN", "LAST": "LAST_TOKEN"}
DEFAULT_CONTEXT = 512  # OVMS's default when config.json names no context length


class TextEmbeddingServable(EmbeddingsServable):
    """``/v3/embeddings`` on TextEmbeddingPipeline with OVMS's ``pooling``, ``normalize``, ``truncate``."""

    def __init__(self, servable_id: ServableId, config: ModelConfig, directory: Path) -> None:
        super().__init__(servable_id)
        assert config.generative is not None
        options = config.generative
        self.max_context = context_length(directory) or DEFAULT_CONTEXT
        self.truncate = options.truncate
        pipeline_config = ov_genai.TextEmbeddingPipeline.Config()
        pipeline_config.pooling_type = getattr(
            ov_genai.TextEmbeddingPipeline.PoolingType, _POOLING[options.pooling]
        )
        pipeline_config.normalize = options.normalize
        if options.truncate:
            pipeline_config.max_length = self.max_context
        properties = plugin_properties(config.plugin_config)
        properties.setdefault("NUM_STREAMS", str(options.num_streams))
        self._pipeline = ov_genai.TextEmbeddingPipeline(
            str(directory), config.target_device, pipeline_config, **properties
        )
        self._tokenizer = ov_genai.Tokenizer(str(directory))
        self._lock = asyncio.Lock()

    async def embed(self, texts: Sequence[str]) -> Embeddings:
        async with self._lock:
            return await asyncio.to_thread(self._embed, list(texts))

    def _embed(self, texts: list[str]) -> Embeddings:
        lengths = self._tokenizer.encode(texts).attention_mask.data.sum(axis=1)
        longest = int(lengths.max()) if len(texts) else 0
        if longest > self.max_context and not self.truncate:
            raise PromptTooLong(
                f"The input has {longest} tokens; the model's context is {self.max_context} tokens "
                "(the model's truncate option is off)"
            )
        tokens = int(np.minimum(lengths, self.max_context).sum())
        try:
            vectors = np.asarray(self._pipeline.embed_documents(texts), dtype=np.float32)
        except Exception as exc:
            raise BackendError(f"Embedding failed: {exc}") from exc
        return Embeddings(vectors, tokens)

    def close(self) -> None:
        del self._pipeline


class OvmsRerankServable(RerankServable):
    """``/v3/rerank`` scored as OVMS's rerank calculator scores it (see :mod:`rerank_rows`)."""

    def __init__(self, servable_id: ServableId, config: ModelConfig, directory: Path) -> None:
        super().__init__(servable_id)
        assert config.generative is not None
        options = config.generative
        tokenizer = ov_genai.Tokenizer(str(directory), {"add_special_tokens": False})
        tokens: SpecialTokens = special_tokens(directory, tokenizer)
        context = options.max_position_embeddings or context_length(directory) or DEFAULT_CONTEXT
        self.rows = RerankRows(tokenizer, tokens, context, options.max_allowed_chunks)
        properties = plugin_properties(config.plugin_config)
        properties.setdefault("NUM_STREAMS", str(options.num_streams))
        core = ov.Core()
        self._compiled = core.compile_model(
            str(directory / "openvino_model.xml"), config.target_device, properties
        )
        self._inputs = {port.get_any_name() for port in self._compiled.inputs}
        self._request = self._compiled.create_infer_request()
        self._lock = asyncio.Lock()

    async def rerank(self, query: str, documents: Sequence[str]) -> RerankScores:
        async with self._lock:
            return await asyncio.to_thread(self._rerank, query, list(documents))

    def _rerank(self, query: str, documents: list[str]) -> RerankScores:
        try:
            batch = self.rows.build(query, documents)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        inputs: dict[str, Any] = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
        if "token_type_ids" in self._inputs:
            inputs["token_type_ids"] = np.zeros_like(batch.input_ids)
        try:
            logits = np.asarray(self._request.infer(inputs)["logits"])
        except Exception as exc:
            raise BackendError(f"Rerank inference failed: {exc}") from exc
        scores = self.rows.scores(logits, batch.chunk_of_row, len(documents))
        return RerankScores(scores, int(batch.attention_mask.sum()))

    def close(self) -> None:
        del self._request
        del self._compiled
