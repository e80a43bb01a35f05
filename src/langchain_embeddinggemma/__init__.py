"""LangChain integration for EmbeddingGemma-300m."""

from .embeddings import EmbeddingGemmaEmbeddings

__all__ = ["EmbeddingGemmaEmbeddings"]
