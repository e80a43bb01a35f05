"""LangChain integration for EmbeddingGemma-300m."""

from ._embeddings import EmbeddingGemmaEmbeddings

__all__ = ["EmbeddingGemmaEmbeddings"]
