"""LangChain ``Embeddings`` over the EmbeddingGemma core."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from embeddinggemma import Pipelined


class EmbeddingGemmaEmbeddings(Pipelined, Embeddings):
    """Google's EmbeddingGemma-300m with its task prompts applied: in-process, quantized, or via a server.

    Queries get the task's query prompt (``task: search result | query: `` by default), documents
    the document prompt (``title: none | text: ``, or the document's title). Vectors are unit
    length at every Matryoshka size. Every setting is a field of
    :class:`embeddinggemma.EmbeddingSettings`; an unknown keyword is an error listing the valid ones.

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

    def embed_documents(self, texts: list[str], titles: Sequence[str | None] | None = None) -> list[list[float]]:
        """Embed documents with the document prompt; ``titles`` (one per text, or None) fill it."""
        return self._pipeline.embed(texts, side="document", titles=titles)

    def embed_query(self, text: str) -> list[float]:
        """Embed one query with the query prompt."""
        return self._pipeline.embed_query(text)

    async def aembed_documents(self, texts: list[str], titles: Sequence[str | None] | None = None) -> list[list[float]]:
        """Like :meth:`embed_documents`; native async for servers, a worker thread for local runtimes."""
        return await self._pipeline.aembed(texts, side="document", titles=titles)

    async def aembed_query(self, text: str) -> list[float]:
        """Like :meth:`embed_query`; native async for servers, a worker thread for local runtimes."""
        return await self._pipeline.aembed_query(text)

    def embed_documents_with_titles(
        self, documents: Sequence[Document], title_key: str | None = None
    ) -> list[tuple[str, list[float]]]:
        """``(page_content, vector)`` pairs, each embedded with ``metadata[title_key]`` (default: the
        ``title_key`` setting) as its title.

        Feed them to a vector store that takes precomputed vectors, e.g.
        ``FAISS.from_embeddings(pairs, embeddings, metadatas=[d.metadata for d in documents])``.
        """
        key = self.title_key if title_key is None else title_key
        texts = [doc.page_content for doc in documents]
        titles = [doc.metadata.get(key) for doc in documents]
        return list(zip(texts, self.embed_documents(texts, titles=titles), strict=True))
