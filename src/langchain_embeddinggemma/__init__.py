"""LangChain integration for EmbeddingGemma-300m."""

from ._embeddings import EmbeddingGemmaEmbeddings
from ._retriever import EmbeddingGemmaRetriever
from ._splitter import EmbeddingGemmaTextSplitter

__all__ = ["EmbeddingGemmaEmbeddings", "EmbeddingGemmaRetriever", "EmbeddingGemmaTextSplitter"]
