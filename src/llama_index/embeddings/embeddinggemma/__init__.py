"""LlamaIndex's import path for the EmbeddingGemma integration: ``from llama_index.embeddings.embeddinggemma
import EmbeddingGemmaEmbedding``. The same classes as ``llama_index_embeddinggemma``, not copies."""

from llama_index_embeddinggemma import EmbeddingGemmaEmbedding, EmbeddingGemmaNodeParser, EmbeddingGemmaRetriever

__all__ = ["EmbeddingGemmaEmbedding", "EmbeddingGemmaNodeParser", "EmbeddingGemmaRetriever"]
