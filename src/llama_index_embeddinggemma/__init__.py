"""LlamaIndex integration for EmbeddingGemma-300m."""

from ._embedding import EmbeddingGemmaEmbedding

__all__ = ["EmbeddingGemmaEmbedding"]
