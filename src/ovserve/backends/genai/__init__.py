"""The OpenVINO GenAI backend: generative servables (text generation, embeddings, rerank).

The only package that imports ``openvino_genai`` (import-linter contract). Importing this
package does not: the servable modules are imported by :meth:`GenerativeLoader.load`, so a
server with only classic models never loads OpenVINO GenAI.
"""

from __future__ import annotations

from pathlib import Path

from ovserve.config.types import ModelConfig
from ovserve.core.ids import ServableId
from ovserve.errors import LoadError
from ovserve.genai.types import GENERATIVE_VERSION, GenerativeServable


class GenerativeLoader:
    """Builds one generative version; cheap to construct, the pipeline is built in :meth:`load`."""

    def __init__(self, config: ModelConfig, directory: Path) -> None:
        assert config.generative is not None
        self.config = config
        self.directory = directory

    def load(self) -> GenerativeServable:
        generative = self.config.generative
        assert generative is not None
        task = generative.task
        servable_id = ServableId(self.config.name, GENERATIVE_VERSION)
        try:
            if task == "text_generation" and generative.pipeline_type == "LM":
                from ovserve.backends.genai.stateful import LLMPipelineServable

                return LLMPipelineServable(servable_id, self.config, self.directory)
            if task == "text_generation":
                from ovserve.backends.genai.llm import ContinuousBatchingServable

                return ContinuousBatchingServable(servable_id, self.config, self.directory)
            if task == "embeddings":
                from ovserve.backends.genai.encoders import TextEmbeddingServable

                return TextEmbeddingServable(servable_id, self.config, self.directory)
            from ovserve.backends.genai.encoders import OvmsRerankServable

            return OvmsRerankServable(servable_id, self.config, self.directory)
        except LoadError:
            raise
        except Exception as exc:
            raise LoadError(f"Cannot load the {task} model from {self.directory}: {exc}") from exc


def generative_loader(config: ModelConfig, directory: Path) -> GenerativeLoader:
    return GenerativeLoader(config, directory)


__all__ = ["GenerativeLoader", "generative_loader"]
