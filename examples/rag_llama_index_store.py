"""Build, persist and load the LlamaIndex app's index from nodes that already carry their vectors.

``--index-precision float32 / float16 / int8`` is LlamaIndex's ``VectorStoreIndex`` over a
``FaissVectorStore`` holding the FAISS index :func:`embeddinggemma.vector_index.faiss_index` makes (inner
product of unit vectors = cosine similarity); ``binary`` is the package's ``EmbeddingGemmaRetriever`` over a
``BinaryIndex`` (sign bits searched by Hamming distance, then re-ranked), its nodes in LlamaIndex's JSON
docstore. JSON stores and FAISS's own files: nothing pickled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embeddinggemma import IndexSettings

NODE_ORDER = "binary-nodes.json"
DOCSTORE = "docstore.json"


@dataclass
class BinaryStore:
    """The binary index and its nodes, row ``i`` of the index being ``nodes[i]``."""

    index: Any
    nodes: list[Any]


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


def build_index(nodes: list[Any], embed_model: Any, index: IndexSettings) -> Any:
    """A ``VectorStoreIndex`` over ``nodes`` (or, for ``binary``, a :class:`BinaryStore`); nodes that carry
    vectors are not embedded again."""
    from llama_index.core import StorageContext, VectorStoreIndex
    from llama_index.vector_stores.faiss import FaissVectorStore

    from embeddinggemma.vector_index import faiss_index, vector_index

    vectors = np.asarray([node.embedding for node in nodes], dtype=np.float32)
    if index.index_precision == "binary":
        return BinaryStore(vector_index(vectors, index), list(nodes))
    store = FaissVectorStore(faiss_index=faiss_index(vectors.shape[1], index.index_precision, vectors))
    return VectorStoreIndex(
        nodes, storage_context=StorageContext.from_defaults(vector_store=store), embed_model=embed_model
    )


def persist_index(index: Any, folder: Path) -> None:
    if isinstance(index, BinaryStore):
        from llama_index.core.storage.docstore import SimpleDocumentStore

        index.index.save(folder)
        docstore = SimpleDocumentStore()
        docstore.add_documents(index.nodes)
        docstore.persist(str(folder / DOCSTORE))
        (folder / NODE_ORDER).write_text(json.dumps([node.node_id for node in index.nodes]), encoding="utf-8")
        return
    index.storage_context.persist(persist_dir=str(folder))


def load_index(folder: Path, embed_model: Any, index: IndexSettings) -> Any:
    """What :func:`persist_index` wrote. FAISS and LlamaIndex raise RuntimeError, ValueError, KeyError or
    TypeError on malformed files; the app turns them into one message."""
    from llama_index.core import StorageContext, load_index_from_storage
    from llama_index.vector_stores.faiss import FaissVectorStore

    from embeddinggemma.vector_index import BinaryIndex

    if index.index_precision == "binary":
        from llama_index.core.storage.docstore import SimpleDocumentStore

        binary = BinaryIndex.load(folder)
        ids = json.loads((folder / NODE_ORDER).read_text(encoding="utf-8"))
        if not isinstance(ids, list) or len(ids) != binary.ntotal:
            raise ValueError(f"{NODE_ORDER} does not list one node per vector ({binary.ntotal})")
        nodes = SimpleDocumentStore.from_persist_path(str(folder / DOCSTORE)).get_nodes(ids)
        return BinaryStore(binary, nodes)
    storage = StorageContext.from_defaults(
        vector_store=FaissVectorStore.from_persist_dir(str(folder)), persist_dir=str(folder)
    )
    return load_index_from_storage(storage, embed_model=embed_model)


def retriever_of(index: Any, embed_model: Any, top_k: int) -> Any:
    if isinstance(index, BinaryStore):
        from llama_index_embeddinggemma import EmbeddingGemmaRetriever

        return EmbeddingGemmaRetriever(embed_model, index.index, index.nodes, similarity_top_k=top_k)
    return index.as_retriever(similarity_top_k=top_k)


def vectors_of(index: Any) -> Any:
    """The vector index under ``index`` (what :func:`embeddinggemma.vector_index.describe` describes)."""
    return index.index if isinstance(index, BinaryStore) else index.vector_store.client
