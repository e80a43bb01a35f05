"""LangChain ``Embeddings`` over the EmbeddingGemma core."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, model_validator

from embeddinggemma import DEFAULTS, Embedder, EmbeddingConfig


class EmbeddingGemmaEmbeddings(BaseModel, Embeddings):
    """Google's EmbeddingGemma-300m with its task prompts applied: in-process, quantized, or via a server.

    Queries get the task's query prompt (``task: search result | query: `` by default), documents
    the document prompt (``title: none | text: ``, or the document's title). Vectors are unit
    length at every Matryoshka size.

    Setup:
        .. code-block:: bash

            pip install "embeddinggemma[langchain]"

    Example:
        .. code-block:: python

            from langchain_embeddinggemma import EmbeddingGemmaEmbeddings

            embeddings = EmbeddingGemmaEmbeddings(dimensions=256)
            query = embeddings.embed_query("Which planet is known as the Red Planet?")
            docs = embeddings.embed_documents(["Mars is the Red Planet."], titles=["Mars"])

            # the same vectors from a running Ollama (`ollama pull embeddinggemma`)
            served = EmbeddingGemmaEmbeddings(backend="ollama", dimensions=256)
    """

    model: str = DEFAULTS.model
    """Hub id (gated: accept the licence and log in) or a local model folder."""
    task: str = DEFAULTS.task
    """EmbeddingGemma task: retrieval, question_answering, fact_checking, code_retrieval,
    classification, clustering, semantic_similarity, or raw (no prompt)."""
    dimensions: int = DEFAULTS.dimensions
    """Matryoshka output size: 768, 512, 256 or 128; always re-normalised."""
    truncation: str = DEFAULTS.truncation
    """Inputs over ``max_seq_length`` tokens: ``warn`` (default), ``error`` or ``silent``."""
    max_seq_length: int = DEFAULTS.max_seq_length
    """Token budget per input, prompt included."""
    device: str = DEFAULTS.device
    """``auto`` (cuda > mps > cpu), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``."""
    dtype: str = DEFAULTS.dtype
    """``auto`` (bfloat16 on capable CUDA, else float32), ``float32`` or ``bfloat16``."""
    batch_size: int = DEFAULTS.batch_size
    """Texts per forward pass."""
    query_prompt: str | None = None
    """Overrides the task's query prompt."""
    document_prompt: str | None = None
    """Overrides the task's document prompt; ``{title}`` is filled with the title."""
    show_progress: bool = DEFAULTS.show_progress
    """Show a progress bar while embedding."""
    backend: str = DEFAULTS.backend
    """``local`` (in-process), ``ollama`` or ``openai`` (any OpenAI-compatible embeddings server)."""
    quantization: str | None = DEFAULTS.quantization
    """Local on-device runtimes: ``q8_0`` / ``q4_0`` (GGUF, llama.cpp) or ``int8`` (ONNX Runtime)."""
    base_url: str | None = DEFAULTS.base_url
    """Server URL for ``ollama`` / ``openai`` backends; ``None`` uses the backend's default."""
    api_key: SecretStr | None = Field(default=None, exclude=True)
    """Bearer token for an OpenAI-compatible server (kept secret, never serialised)."""
    timeout: float = DEFAULTS.timeout
    """Seconds to wait for a server response."""
    max_retries: int = DEFAULTS.max_retries
    """Retries with backoff after 429/5xx or dropped connections (never after input errors)."""
    max_concurrency: int = DEFAULTS.max_concurrency
    """Server requests in flight at once from async calls."""
    keep_alive: str | None = DEFAULTS.keep_alive
    """Ollama's ``keep_alive`` passthrough (e.g. ``"5m"``)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), validate_assignment=True)

    _embedder: Embedder = PrivateAttr()

    @model_validator(mode="after")
    def _build_embedder(self) -> EmbeddingGemmaEmbeddings:
        self._embedder = Embedder(EmbeddingConfig.from_attributes(self))
        return self

    @property
    def embedder(self) -> Embedder:
        """The core embedder these settings map onto."""
        return self._embedder

    def embed_documents(self, texts: list[str], titles: Sequence[str | None] | None = None) -> list[list[float]]:
        """Embed documents with the document prompt; ``titles`` (one per text, or None) fill it."""
        return self._embedder.embed(texts, side="document", titles=titles)

    def embed_query(self, text: str) -> list[float]:
        """Embed one query with the query prompt."""
        return self._embedder.embed_query(text)

    async def aembed_documents(self, texts: list[str], titles: Sequence[str | None] | None = None) -> list[list[float]]:
        """Like :meth:`embed_documents`; native async for servers, a worker thread for local runtimes."""
        return await self._embedder.aembed(texts, side="document", titles=titles)

    async def aembed_query(self, text: str) -> list[float]:
        """Like :meth:`embed_query`; native async for servers, a worker thread for local runtimes."""
        return await self._embedder.aembed_query(text)

    def embed_documents_with_titles(
        self, documents: Sequence[Document], title_key: str = "title"
    ) -> list[tuple[str, list[float]]]:
        """``(page_content, vector)`` pairs, each embedded with ``metadata[title_key]`` as its title.

        Feed them to a vector store that takes precomputed vectors, e.g.
        ``FAISS.from_embeddings(pairs, embeddings, metadatas=[d.metadata for d in documents])``.
        """
        texts = [doc.page_content for doc in documents]
        titles = [doc.metadata.get(title_key) for doc in documents]
        return list(zip(texts, self.embed_documents(texts, titles=titles), strict=True))
