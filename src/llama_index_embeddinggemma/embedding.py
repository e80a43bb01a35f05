"""LlamaIndex ``BaseEmbedding`` over the EmbeddingGemma core."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.schema import BaseNode, MetadataMode
from pydantic import ConfigDict, Field, PrivateAttr, SecretStr, model_validator

from embeddinggemma import DEFAULTS, Embedder, EmbeddingConfig

# Small enough to keep progress moving, large enough to keep the model busy (LlamaIndex's default is 10).
DEFAULT_EMBED_BATCH_SIZE = 64


class EmbeddingGemmaEmbedding(BaseEmbedding):
    """Google's EmbeddingGemma-300m with its task prompts applied: in-process, quantized, or via a server.

    Queries get the task's query prompt, texts the document prompt, with a node's
    ``metadata["title"]`` as the title when it is embedded as a node (``embed_model(nodes)``, an
    ``IngestionPipeline``). Vectors are unit length at every Matryoshka size.

    Example:
        .. code-block:: python

            from llama_index.core import Settings
            from llama_index_embeddinggemma import EmbeddingGemmaEmbedding

            Settings.embed_model = EmbeddingGemmaEmbedding(dimensions=256)
            vector = Settings.embed_model.get_query_embedding("Which planet is red?")

            # the same vectors from an OpenAI-compatible server such as llama-server
            served = EmbeddingGemmaEmbedding(backend="openai", base_url="http://localhost:8080/v1")
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
    backend: str = Field(default=DEFAULTS.backend, description="'local', 'ollama' or 'openai' (compatible server).")
    quantization: str | None = Field(
        default=DEFAULTS.quantization, description="Local on-device runtime: 'q8_0', 'q4_0' (GGUF) or 'int8' (ONNX)."
    )
    base_url: str | None = Field(default=DEFAULTS.base_url, description="Server URL for 'ollama' / 'openai'.")
    api_key: SecretStr | None = Field(default=None, exclude=True, description="Bearer token; never serialised.")
    timeout: float = Field(default=DEFAULTS.timeout, description="Seconds to wait for a server response.")
    max_retries: int = Field(default=DEFAULTS.max_retries, description="Retries after 429/5xx or dropped links.")
    max_concurrency: int = Field(default=DEFAULTS.max_concurrency, description="Async server requests in flight.")
    keep_alive: str | None = Field(default=DEFAULTS.keep_alive, description="Ollama keep_alive passthrough.")

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
        return await self._embedder.aembed_query(query)

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._aget_text_embeddings([text]))[0]

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await self._embedder.aembed(texts, side="document")

    def _texts_and_titles(self, nodes: Sequence[BaseNode]) -> tuple[list[str], list[str | None]]:
        texts = [node.get_content(metadata_mode=MetadataMode.EMBED) for node in nodes]
        return texts, [node.metadata.get(self.title_key) for node in nodes]

    @staticmethod
    def _attach(nodes: Sequence[BaseNode], vectors: list[Embedding]) -> Sequence[BaseNode]:
        for node, vector in zip(nodes, vectors, strict=True):
            node.embedding = vector
        return nodes

    def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        """Embed nodes in place, each with its title (``metadata[title_key]``) in the prompt."""
        texts, titles = self._texts_and_titles(nodes)
        return self._attach(nodes, self._embedder.embed(texts, side="document", titles=titles))

    async def acall(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        texts, titles = self._texts_and_titles(nodes)
        return self._attach(nodes, await self._embedder.aembed(texts, side="document", titles=titles))
