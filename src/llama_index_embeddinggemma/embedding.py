"""LlamaIndex ``BaseEmbedding`` over the EmbeddingGemma core."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.schema import BaseNode, MetadataMode
from pydantic import ConfigDict, Field, PrivateAttr, model_validator

from embeddinggemma import DEFAULTS, Embedder, EmbeddingConfig

# Small enough to keep progress moving, large enough to keep the model busy (LlamaIndex's default is 10).
DEFAULT_EMBED_BATCH_SIZE = 64


class EmbeddingGemmaEmbedding(BaseEmbedding):
    """Google's EmbeddingGemma-300m with its task prompts applied, run locally.

    Queries get the task's query prompt, texts the document prompt, with a node's
    ``metadata["title"]`` as the title when it is embedded as a node (``embed_model(nodes)``, an
    ``IngestionPipeline``). Vectors are unit length at every Matryoshka size.

    Example:
        .. code-block:: python

            from llama_index.core import Settings
            from llama_index_embeddinggemma import EmbeddingGemmaEmbedding

            Settings.embed_model = EmbeddingGemmaEmbedding(dimensions=256)
            vector = Settings.embed_model.get_query_embedding("Which planet is red?")
    """

    model_name: str = Field(default=DEFAULTS.model, description="Hub id (gated) or a local model folder.")
    embed_batch_size: int = Field(default=DEFAULT_EMBED_BATCH_SIZE, gt=0, le=2048)
    task: str = Field(default=DEFAULTS.task, description="EmbeddingGemma task, or 'raw' for no prompt.")
    dimensions: int = Field(default=DEFAULTS.dimensions, description="Matryoshka size: 768, 512, 256 or 128.")
    truncation: str = Field(default=DEFAULTS.truncation, description="Over-long inputs: 'warn', 'error' or 'silent'.")
    max_seq_length: int = Field(default=DEFAULTS.max_seq_length, description="Token budget per input, prompt included.")
    device: str = Field(default=DEFAULTS.device, description="'auto' (cuda > mps > cpu), 'cpu', 'cuda[:N]', 'mps'.")
    dtype: str = Field(default=DEFAULTS.dtype, description="'auto', 'float32' or 'bfloat16'; float16 is refused.")
    query_prompt: str | None = Field(default=None, description="Overrides the task's query prompt.")
    document_prompt: str | None = Field(default=None, description="Overrides the task's document prompt.")
    title_key: str = Field(default="title", description="Node metadata key whose value is the title.")
    show_progress: bool = Field(default=DEFAULTS.show_progress, description="Progress bar inside each batch.")

    model_config = ConfigDict(validate_assignment=True)

    _embedder: Embedder = PrivateAttr()

    @model_validator(mode="after")
    def _build_embedder(self) -> EmbeddingGemmaEmbedding:
        if self.embeddings_cache is not None:
            raise ValueError(
                "embeddings_cache is not supported: LlamaIndex keys it by raw text, so a query and a "
                "document with the same text would share one vector, but EmbeddingGemma embeds them "
                "with different prompts. Leave embeddings_cache=None."
            )
        renamed = {"model": "model_name", "batch_size": "embed_batch_size"}
        self._embedder = Embedder(EmbeddingConfig.from_attributes(self, renamed))
        return self

    @classmethod
    def class_name(cls) -> str:
        return "EmbeddingGemmaEmbedding"

    @property
    def embedder(self) -> Embedder:
        """The core embedder these settings map onto."""
        return self._embedder

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._embedder.embed_query(query)

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._embedder.embed(texts, side="document")

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return await asyncio.to_thread(self._get_query_embedding, query)

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return await asyncio.to_thread(self._get_text_embedding, text)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await asyncio.to_thread(self._get_text_embeddings, texts)

    def _embed_nodes(self, nodes: Sequence[BaseNode]) -> Sequence[BaseNode]:
        texts = [node.get_content(metadata_mode=MetadataMode.EMBED) for node in nodes]
        titles = [node.metadata.get(self.title_key) for node in nodes]
        for node, vector in zip(nodes, self._embedder.embed(texts, side="document", titles=titles), strict=True):
            node.embedding = vector
        return nodes

    def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        """Embed nodes in place, each with its title (``metadata[title_key]``) in the prompt."""
        return self._embed_nodes(nodes)

    async def acall(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        return await asyncio.to_thread(self._embed_nodes, nodes)
