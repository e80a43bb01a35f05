"""A LangChain retriever over any index of :mod:`embeddinggemma.vector_index` (the binary one with its
re-ranking pass included), for chains that want a ``BaseRetriever``."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, model_validator

from ._embeddings import EmbeddingGemmaEmbeddings


class EmbeddingGemmaRetriever(BaseRetriever):
    """Documents nearest a query in ``index``: row ``i`` of the index is ``documents[i]``.

    ``index`` is what :func:`embeddinggemma.vector_index.vector_index` builds (a FAISS index, or a
    ``BinaryIndex`` searched by Hamming distance and re-ranked); each document comes back with its cosine
    similarity in ``metadata["score"]``. Example:

        .. code-block:: python

            from embeddinggemma.vector_index import vector_index

            vectors = embeddings.embed_documents_with_titles(chunks)
            index = vector_index([v for _, v in vectors], index_precision="binary")
            retriever = EmbeddingGemmaRetriever(embeddings=embeddings, index=index, documents=chunks, k=4)
            retriever.invoke("Which planet is red?")
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    embeddings: EmbeddingGemmaEmbeddings
    index: Any
    documents: list[Document]
    k: int = Field(default=4, ge=1)
    """Documents returned per query."""

    @model_validator(mode="after")
    def _check_rows(self) -> EmbeddingGemmaRetriever:
        if self.index.ntotal != len(self.documents):
            raise ValueError(f"the index holds {self.index.ntotal} vectors for {len(self.documents)} documents.")
        if self.index.d != self.embeddings.dimensions:
            raise ValueError(
                f"the index holds {self.index.d}-dimensional vectors; the embeddings make {self.embeddings.dimensions}."
            )
        return self

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return self._hits(self.embeddings.embed_query(query))

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        return self._hits(await self.embeddings.aembed_query(query))

    def _hits(self, vector: list[float]) -> list[Document]:
        import numpy as np

        scores, ids = self.index.search(np.asarray([vector], dtype=np.float32), self.k)
        return [
            Document(self.documents[i].page_content, metadata={**self.documents[i].metadata, "score": float(score)})
            for score, i in zip(scores[0], ids[0], strict=True)
            if i >= 0
        ]
