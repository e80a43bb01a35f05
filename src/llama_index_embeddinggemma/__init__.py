"""LlamaIndex integration for EmbeddingGemma-300m."""

from ._embedding import EmbeddingGemmaEmbedding
from ._node_parser import EmbeddingGemmaNodeParser

__all__ = ["EmbeddingGemmaEmbedding", "EmbeddingGemmaNodeParser"]
