"""A LlamaIndex retriever over any index of :mod:`embeddinggemma.vector_index` (the binary one with its
re-ranking pass included), for query engines that take a ``BaseRetriever``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import BaseNode, NodeWithScore, QueryBundle

from ._embedding import EmbeddingGemmaEmbedding


class EmbeddingGemmaRetriever(BaseRetriever):
    """Nodes nearest a query in ``index``: row ``i`` of the index is ``nodes[i]``; each comes back with its
    cosine similarity as its score.

    ``index`` is what :func:`embeddinggemma.vector_index.vector_index` builds (a FAISS index, or a
    ``BinaryIndex`` searched by Hamming distance and re-ranked). Example:

        .. code-block:: python

            from llama_index.core.query_engine import RetrieverQueryEngine
            from embeddinggemma.vector_index import vector_index

            index = vector_index([node.embedding for node in nodes], index_precision="binary")
            retriever = EmbeddingGemmaRetriever(embed_model, index, nodes, similarity_top_k=4)
            engine = RetrieverQueryEngine.from_args(retriever, llm=llm)
    """

    def __init__(
        self, embed_model: EmbeddingGemmaEmbedding, index: Any, nodes: Sequence[BaseNode], similarity_top_k: int = 4
    ) -> None:
        if index.ntotal != len(nodes):
            raise ValueError(f"the index holds {index.ntotal} vectors for {len(nodes)} nodes.")
        if index.d != embed_model.dimensions:
            raise ValueError(
                f"the index holds {index.d}-dimensional vectors; the model makes {embed_model.dimensions}."
            )
        if isinstance(similarity_top_k, bool) or not isinstance(similarity_top_k, int) or similarity_top_k < 1:
            raise ValueError(f"similarity_top_k={similarity_top_k!r} must be an integer >= 1.")
        super().__init__()
        self._embed_model, self._index, self._nodes = embed_model, index, list(nodes)
        self.similarity_top_k = similarity_top_k

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        vector = query_bundle.embedding or self._embed_model.get_query_embedding(query_bundle.query_str)
        return self._hits(vector)

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        vector = query_bundle.embedding or await self._embed_model.aget_query_embedding(query_bundle.query_str)
        return self._hits(vector)

    def _hits(self, vector: Sequence[float]) -> list[NodeWithScore]:
        import numpy as np

        scores, ids = self._index.search(np.asarray([vector], dtype=np.float32), self.similarity_top_k)
        return [
            NodeWithScore(node=self._nodes[i], score=float(score))
            for score, i in zip(scores[0], ids[0], strict=True)
            if i >= 0
        ]
