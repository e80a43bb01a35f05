"""Save and load LangChain's FAISS vector store without pickle.

``FAISS.save_local`` writes the docstore as a pickle (``index.pkl``) that ``FAISS.load_local`` reads only
when told to trust it: unpickling a file can run any code in it. Here the vectors
go through FAISS's own format (``index.faiss``) and the chunks (id, text, metadata) through JSON
(``chunks.json``); loading rebuilds the store from those, so a tampered file can at worst hold wrong text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag_index import index_damaged
from rag_output import AppError

if TYPE_CHECKING:
    from langchain_community.vectorstores import FAISS
    from langchain_core.embeddings import Embeddings

INDEX_FILE = "index.faiss"
CHUNKS_FILE = "chunks.json"
CHUNKS_FORMAT = 1


def build_store(pairs: list[tuple[str, list[float]]], metadatas: list[dict], embeddings: Embeddings) -> FAISS:
    """LangChain's FAISS store over precomputed ``(text, vector)`` pairs, searched by inner product."""
    from langchain_community.vectorstores import FAISS
    from langchain_community.vectorstores.utils import DistanceStrategy

    return FAISS.from_embeddings(
        pairs,
        embeddings,
        metadatas=metadatas,
        distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT,  # unit vectors: inner product = cosine
    )


def save_store(store: FAISS, folder: Path) -> None:
    """Write the store's FAISS index and its chunks, in FAISS row order, into ``folder``."""
    import faiss

    faiss.write_index(store.index, str(folder / INDEX_FILE))
    chunks = []
    for row in range(store.index.ntotal):
        chunk_id = store.index_to_docstore_id[row]
        document = store.docstore.search(chunk_id)
        chunks.append({"id": chunk_id, "text": document.page_content, "metadata": document.metadata})
    text = json.dumps({"format": CHUNKS_FORMAT, "chunks": chunks}, ensure_ascii=False, indent=1)
    (folder / CHUNKS_FILE).write_text(text, encoding="utf-8")


def load_store(folder: Path, embeddings: Embeddings) -> FAISS:
    """The store :func:`save_store` wrote, searching by inner product of unit vectors (= cosine similarity)."""
    import faiss
    from langchain_community.docstore.in_memory import InMemoryDocstore
    from langchain_community.vectorstores import FAISS
    from langchain_community.vectorstores.utils import DistanceStrategy
    from langchain_core.documents import Document

    try:
        index = faiss.read_index(str(folder / INDEX_FILE))
    except RuntimeError as error:  # FAISS reports a malformed file as a RuntimeError
        raise _damaged(folder / INDEX_FILE, f"not a FAISS index: {error}") from None
    chunks = _read_chunks(folder / CHUNKS_FILE)
    _check_index(index, len(chunks), getattr(embeddings, "dimensions", index.d), folder / INDEX_FILE)
    documents = {chunk["id"]: Document(chunk["text"], metadata=chunk["metadata"], id=chunk["id"]) for chunk in chunks}
    return FAISS(
        embedding_function=embeddings,
        index=index,
        docstore=InMemoryDocstore(documents),
        index_to_docstore_id={row: chunk["id"] for row, chunk in enumerate(chunks)},
        distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT,
    )


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

    if index.ntotal != chunks:
        raise _damaged(path, f"{index.ntotal} vectors for {chunks} chunks")
    if index.d != dimensions:
        raise _damaged(path, f"vectors of size {index.d}, expected {dimensions}")
    if index.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise _damaged(path, "not an inner-product index")
