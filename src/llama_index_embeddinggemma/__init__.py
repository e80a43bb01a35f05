"""LlamaIndex integration for EmbeddingGemma-300m."""

from ._embedding import EmbeddingGemmaEmbedding
from ._node_parser import EmbeddingGemmaNodeParser
from ._retriever import EmbeddingGemmaRetriever

__all__ = ["EmbeddingGemmaEmbedding", "EmbeddingGemmaNodeParser", "EmbeddingGemmaRetriever"]
