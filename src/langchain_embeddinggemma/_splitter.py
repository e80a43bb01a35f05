"""LangChain ``TextSplitter`` whose chunks EmbeddingGemma embeds whole (see :mod:`embeddinggemma._chunking`)."""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_text_splitters import TextSplitter

from embeddinggemma import DEFAULT_MODEL, TextChunker
from embeddinggemma._chunking import DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_SIZE, chunking_options

from ._embeddings import EmbeddingGemmaEmbeddings

logger = logging.getLogger("embeddinggemma")


class EmbeddingGemmaTextSplitter(TextSplitter):
    """Splits documents into chunks of at most ``chunk_size`` EmbeddingGemma tokens, counted as embedded:
    document prompt, title (``metadata[title_key]``) and special tokens included, so no chunk is ever
    truncated.

    Cuts prefer paragraph, then line, sentence, clause and word boundaries; chunks overlap by up to
    ``chunk_overlap`` tokens; every chunk is an exact slice of its document (whitespace at its edges
    left out), whose metadata it keeps, with ``start_index`` and ``end_index`` (character offsets)
    added. Empty or blank documents are dropped and counted (``dropped_empty``, and a log line). Tokens
    are counted with the tokenizer alone (``tokenizer``: the model's folder or hub id); no weights are
    loaded.

    Setup:
        .. code-block:: bash

            pip install "embeddinggemma[langchain]"

    Example:
        .. code-block:: python

            from langchain_embeddinggemma import EmbeddingGemmaEmbeddings, EmbeddingGemmaTextSplitter

            embeddings = EmbeddingGemmaEmbeddings()
            splitter = EmbeddingGemmaTextSplitter.from_embeddings(embeddings, chunk_size=512, chunk_overlap=64)
            chunks = splitter.split_documents(docs)  # docs: Documents with metadata["title"]
            vectors = embeddings.embed_documents_with_titles(chunks)
    """

    def __init__(
        self,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        chunk_overlap: int = DEFAULT_CHUNK_OVERLAP,
        *,
        tokenizer: str | os.PathLike[str] = DEFAULT_MODEL,
        task: str = "retrieval",
        document_prompt: str | None = None,
        title_key: str = "title",
        **kwargs: Any,
    ) -> None:
        for unused in ("length_function", "keep_separator", "strip_whitespace"):
            if unused in kwargs:
                raise TypeError(
                    f"{unused} is not an option of EmbeddingGemmaTextSplitter: it counts EmbeddingGemma tokens "
                    "and keeps every character of the source but the whitespace at a chunk's edges."
                )
        self._chunker = TextChunker(
            tokenizer, chunk_size=chunk_size, chunk_overlap=chunk_overlap, task=task, document_prompt=document_prompt
        )
        super().__init__(chunk_size=chunk_size, chunk_overlap=chunk_overlap, strip_whitespace=False, **kwargs)
        self.title_key = title_key
        self.dropped_empty = 0
        """Empty or blank documents dropped by the last call."""

    @classmethod
    def from_embeddings(cls, embeddings: EmbeddingGemmaEmbeddings, **kwargs: Any) -> EmbeddingGemmaTextSplitter:
        """A splitter that counts with ``embeddings``' tokenizer and document prompt.

        A server backend names the model as the server knows it; its tokenizer then comes from the hub
        id (pass ``tokenizer=`` a local folder to avoid the download).
        """
        return cls(**chunking_options(embeddings.core_settings(), **kwargs))

    def split_text(self, text: str) -> list[str]:
        """The chunks of ``text`` (no title: ``title: none`` is counted)."""
        return [chunk.text for chunk in self._chunker.split(text)]

    def create_documents(self, texts: list[str], metadatas: list[dict[Any, Any]] | None = None) -> list[Document]:
        """One document per chunk, each with its document's metadata and its offsets in it."""
        metadatas = metadatas or [{}] * len(texts)
        if len(metadatas) != len(texts):
            raise ValueError(f"{len(metadatas)} metadatas for {len(texts)} texts; pass one per text.")
        documents, dropped = [], 0
        for i, (text, metadata) in enumerate(zip(texts, metadatas, strict=True)):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] is a {type(text).__name__}, not a string.")
            title = metadata.get(self.title_key)
            chunks = self._chunker.split(text, title=title if isinstance(title, str) else None)
            dropped += not chunks
            for chunk in chunks:
                extra = {"start_index": chunk.start, "end_index": chunk.end}
                documents.append(Document(page_content=chunk.text, metadata={**copy.deepcopy(metadata), **extra}))
        self.dropped_empty = dropped
        if dropped:
            logger.info("EmbeddingGemmaTextSplitter dropped %d empty or blank document(s)", dropped)
        return documents

    def count_tokens(self, texts: Sequence[str], *, title: str | None = None) -> list[int]:
        """Tokens of each text as it is embedded as a document with ``title``."""
        return self._chunker.count(texts, title=title)
