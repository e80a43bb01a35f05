"""Build and persist the LlamaIndex app's index from nodes that already carry their vectors.

The index is LlamaIndex's ``StorageContext`` over a FAISS inner-product index (unit vectors: inner product
= cosine similarity): JSON stores and FAISS's own file, nothing pickled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def to_documents(corpus: list[Any]) -> list[Any]:
    """LlamaIndex documents of the corpus: the title goes into the prompt, not the embedded text."""
    from llama_index.core import Document

    return [
        Document(
            text=doc.text,
            id_=doc.source,
            metadata={"source": doc.source, "title": doc.title},
            excluded_embed_metadata_keys=["source", "title"],  # the title goes into the prompt instead
            excluded_llm_metadata_keys=[],  # the LLM sees "source: ..." and "title: ..." above each passage
        )
        for doc in corpus
    ]


def build_index(nodes: list[Any], embed_model: Any, dimensions: int) -> Any:
    """A ``VectorStoreIndex`` over ``nodes``; nodes that carry vectors are not embedded again."""
    import faiss
    from llama_index.core import StorageContext, VectorStoreIndex
    from llama_index.vector_stores.faiss import FaissVectorStore

    storage = StorageContext.from_defaults(vector_store=FaissVectorStore(faiss_index=faiss.IndexFlatIP(dimensions)))
    return VectorStoreIndex(nodes, storage_context=storage, embed_model=embed_model)


def persist_index(index: Any, folder: Path) -> None:
    index.storage_context.persist(persist_dir=str(folder))
