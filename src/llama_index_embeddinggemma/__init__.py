"""LlamaIndex integration for EmbeddingGemma-300m."""

from .embedding import EmbeddingGemmaEmbedding

__all__ = ["EmbeddingGemmaEmbedding"]
