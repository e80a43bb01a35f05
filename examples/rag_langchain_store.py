"""Save and load the LangChain app's index without pickle, at any index precision.

``FAISS.save_local`` writes the docstore as a pickle (``index.pkl``) that ``FAISS.load_local`` reads only
when told to trust it: unpickling a file can run any code in it. Here the vectors go through FAISS's own
format and the chunks (id, text, metadata) through JSON (``chunks.json``); loading rebuilds the store from
those, so a tampered file can at worst hold wrong text.

``--index-precision float32 / float16 / int8`` is LangChain's own ``FAISS`` store over the FAISS index
:func:`embeddinggemma.vector_index.faiss_index` makes (``index.faiss``); ``binary`` is the package's
``EmbeddingGemmaRetriever`` over a ``BinaryIndex`` (sign bits searched by Hamming distance, then
re-ranked), saved as FAISS's binary format and its rescoring vectors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rag_index import index_damaged
from rag_output import AppError

from embeddinggemma import IndexSettings

if TYPE_CHECKING:
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings

INDEX_FILE = "index.faiss"
CHUNKS_FILE = "chunks.json"
CHUNKS_FORMAT = 1


def build_store(
    pairs: list[tuple[str, list[float]]], metadatas: list[dict], embeddings: Embeddings, index: IndexSettings, k: int
) -> Any:
    """LangChain's FAISS store (or, for ``binary``, the package's retriever) over precomputed ``(text, vector)``
    pairs, searched by inner product of unit vectors (= cosine similarity)."""
    from langchain_core.documents import Document

    from embeddinggemma.vector_index import vector_index

    vectors = np.asarray([vector for _, vector in pairs], dtype=np.float32)
    documents = [Document(text, metadata=metadata) for (text, _), metadata in zip(pairs, metadatas, strict=True)]
    if index.index_precision == "binary":
        return _retriever(embeddings, vector_index(vectors, index), documents, k)
    from embeddinggemma.vector_index import faiss_index

    store = _faiss_store(embeddings, faiss_index(vectors.shape[1], index.index_precision, vectors), {})
    store.add_embeddings(pairs, metadatas)
    return store


def search(store: Any, question: str, k: int) -> list[Document]:
    """The ``k`` chunks nearest ``question``, each with its cosine similarity in ``metadata["score"]``."""
    from langchain_core.documents import Document

    if hasattr(store, "similarity_search_with_score"):
        hits = store.similarity_search_with_score(question, k=k)
        return [Document(doc.page_content, metadata={**doc.metadata, "score": float(score)}) for doc, score in hits]
    return store.invoke(question)


def index_of(store: Any) -> Any:
    """The vector index under ``store`` (what :func:`embeddinggemma.vector_index.describe` describes)."""
    return store.index


def save_store(store: Any, folder: Path) -> None:
    """Write the store's index and its chunks, in index row order, into ``folder``."""
    import faiss

    from embeddinggemma.vector_index import BinaryIndex

    if isinstance(store.index, BinaryIndex):
        store.index.save(folder)
        documents = enumerate(store.documents)
        chunks = [{"id": str(row), "text": d.page_content, "metadata": d.metadata} for row, d in documents]
    else:
        faiss.write_index(store.index, str(folder / INDEX_FILE))
        chunks = []
        for row in range(store.index.ntotal):
            chunk_id = store.index_to_docstore_id[row]
            document = store.docstore.search(chunk_id)
            chunks.append({"id": chunk_id, "text": document.page_content, "metadata": document.metadata})
    text = json.dumps({"format": CHUNKS_FORMAT, "chunks": chunks}, ensure_ascii=False, indent=1)
    (folder / CHUNKS_FILE).write_text(text, encoding="utf-8")


def load_store(folder: Path, embeddings: Embeddings, index: IndexSettings, k: int) -> Any:
    """The store :func:`save_store` wrote, searching by inner product of unit vectors (= cosine similarity)."""
    import faiss
    from langchain_community.docstore.in_memory import InMemoryDocstore
    from langchain_core.documents import Document

    from embeddinggemma.vector_index import BinaryIndex

    chunks = _read_chunks(folder / CHUNKS_FILE)
    dimensions = getattr(embeddings, "dimensions", None)
    if index.index_precision == "binary":
        try:
            binary = BinaryIndex.load(folder)
        except ValueError as error:
            raise index_damaged(folder, error) from None
        _check_index(binary, len(chunks), dimensions or binary.d, folder / "binary.faissb")
        return _retriever(embeddings, binary, [Document(c["text"], metadata=c["metadata"]) for c in chunks], k)
    try:
        vectors = faiss.read_index(str(folder / INDEX_FILE))
    except RuntimeError as error:  # FAISS reports a malformed file as a RuntimeError
        raise _damaged(folder / INDEX_FILE, f"not a FAISS index: {error}") from None
    _check_index(vectors, len(chunks), dimensions or vectors.d, folder / INDEX_FILE)
    documents = {chunk["id"]: Document(chunk["text"], metadata=chunk["metadata"], id=chunk["id"]) for chunk in chunks}
    order = {row: chunk["id"] for row, chunk in enumerate(chunks)}
    return _faiss_store(embeddings, vectors, order, InMemoryDocstore(documents))


def _faiss_store(embeddings: Embeddings, index: Any, order: dict[int, str], docstore: Any = None) -> Any:
    from langchain_community.docstore.in_memory import InMemoryDocstore
    from langchain_community.vectorstores import FAISS
    from langchain_community.vectorstores.utils import DistanceStrategy

    return FAISS(
        embedding_function=embeddings,
        index=index,
        docstore=docstore or InMemoryDocstore(),
        index_to_docstore_id=order,
        distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT,  # unit vectors: inner product = cosine
    )


def _retriever(embeddings: Embeddings, index: Any, documents: list[Document], k: int) -> Any:
    from langchain_embeddinggemma import EmbeddingGemmaRetriever

    return EmbeddingGemmaRetriever(embeddings=embeddings, index=index, documents=documents, k=k)


def _damaged(path: Path, what: str) -> AppError:
    return index_damaged(path.parent, f"{path.name}: {what}")


def _read_chunks(path: Path) -> list[dict[str, Any]]:
    """The chunk records, checked to be plain strings: nothing in the file is turned into objects."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise _damaged(path, f"not readable JSON: {error}") from None
    chunks = data.get("chunks") if isinstance(data, dict) and data.get("format") == CHUNKS_FORMAT else None
    if not isinstance(chunks, list) or not all(_is_chunk(chunk) for chunk in chunks):
        raise _damaged(path, "expected chunks with a text id, text, and metadata of text and offsets")
    if len({chunk["id"] for chunk in chunks}) != len(chunks):
        raise _damaged(path, "two chunks share an id")
    return chunks


def _is_chunk(chunk: object) -> bool:
    if not isinstance(chunk, dict) or not isinstance(chunk.get("id"), str) or not isinstance(chunk.get("text"), str):
        return False
    metadata = chunk.get("metadata")
    # Text, and the chunk's character offsets in its document: plain values only.
    return isinstance(metadata, dict) and all(
        isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
        for value in metadata.values()
    )


def _check_index(index: Any, chunks: int, dimensions: int, path: Path) -> None:
    import faiss

    from embeddinggemma.vector_index import BinaryIndex

    if index.ntotal != chunks:
        raise _damaged(path, f"{index.ntotal} vectors for {chunks} chunks")
    if index.d != dimensions:
        raise _damaged(path, f"vectors of size {index.d}, expected {dimensions}")
    if not isinstance(index, BinaryIndex) and index.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise _damaged(path, "not an inner-product index")
