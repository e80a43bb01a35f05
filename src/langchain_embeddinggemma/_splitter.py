"""LangChain ``TextSplitter`` whose chunks EmbeddingGemma embeds whole (see :class:`embeddinggemma.TextChunker`)."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_text_splitters import TextSplitter
from pydantic import PrivateAttr

from embeddinggemma import ChunkingSettings, TextChunker

from ._embeddings import EmbeddingGemmaEmbeddings

logger = logging.getLogger("embeddinggemma")

_NOT_OPTIONS = ("length_function", "keep_separator", "strip_whitespace")


class EmbeddingGemmaTextSplitter(ChunkingSettings, TextSplitter):
    """Splits documents into chunks of at most ``chunk_size`` EmbeddingGemma tokens, counted as embedded:
    document prompt, title (``metadata[title_key]``) and special tokens included, so no chunk is ever
    truncated.

    Cuts prefer paragraph, then line, sentence, clause and word boundaries; chunks overlap by up to
    ``chunk_overlap`` tokens; every chunk is an exact slice of its document (whitespace at its edges
    left out), whose metadata it keeps, with ``start_index`` and ``end_index`` (character offsets)
    added. Empty or blank documents are dropped and counted (``dropped_empty``, and a log line). Tokens
    are counted with the tokenizer alone (``tokenizer``: the model's folder or hub id); no weights are
    loaded. Every option is a field of :class:`embeddinggemma.ChunkingSettings`.

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

    _chunker: TextChunker = PrivateAttr()
    _dropped: int = PrivateAttr(default=0)
    # TextSplitter's own state, which its inherited methods read.
    _chunk_size: int = PrivateAttr()
    _chunk_overlap: int = PrivateAttr()
    _length_function: Callable[[str], int] = PrivateAttr()
    _keep_separator: bool = PrivateAttr(default=False)
    _add_start_index: bool = PrivateAttr(default=False)
    _strip_whitespace: bool = PrivateAttr(default=False)

    def __init__(self, chunk_size: int | None = None, chunk_overlap: int | None = None, **options: Any) -> None:
        for unused in _NOT_OPTIONS:
            if unused in options:
                raise TypeError(
                    f"{unused} is not an option of EmbeddingGemmaTextSplitter: it counts EmbeddingGemma tokens "
                    "and keeps every character of the source but the whitespace at a chunk's edges."
                )
        options.pop("add_start_index", None)  # offsets are always added
        given = {"chunk_size": chunk_size, "chunk_overlap": chunk_overlap}
        super().__init__(**{name: value for name, value in given.items() if value is not None}, **options)

    def model_post_init(self, context: Any, /) -> None:
        TextSplitter.__init__(
            self, chunk_size=self.chunk_size, chunk_overlap=self.chunk_overlap, strip_whitespace=False
        )
        self._chunker = TextChunker(self)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name in ChunkingSettings.model_fields:
            self.model_post_init(None)

    @classmethod
    def from_embeddings(cls, embeddings: EmbeddingGemmaEmbeddings, **options: Any) -> EmbeddingGemmaTextSplitter:
        """A splitter that counts with ``embeddings``' tokenizer, document prompt and title key.

        A server backend names the model as the server knows it; its tokenizer then comes from the hub
        id (pass ``tokenizer=`` a local folder to avoid the download).
        """
        return cls(**ChunkingSettings.matching(embeddings, **options))

    @property
    def dropped_empty(self) -> int:
        """Empty or blank documents dropped by the last call."""
        return self._dropped

    def split_text(self, text: str) -> list[str]:
        """The chunks of ``text`` (no title: ``title: none`` is counted)."""
        return [chunk.text for chunk in self._chunker.split(text)]

    def split_documents(self, documents: Iterable[Document]) -> list[Document]:
        """One document per chunk, each with its document's metadata and its offsets in it."""
        documents = list(documents)
        return self._chunked(
            [d.page_content for d in documents], [d.metadata for d in documents], [d.id for d in documents]
        )

    def create_documents(self, texts: list[str], metadatas: list[dict[Any, Any]] | None = None) -> list[Document]:
        """One document per chunk, each with its document's metadata and its offsets in it."""
        return self._chunked(texts, metadatas, None)

    def _chunked(
        self, texts: Sequence[str], metadatas: Sequence[dict[Any, Any]] | None, ids: Sequence[str | None] | None
    ) -> list[Document]:
        metadatas = metadatas or [{}] * len(texts)
        if len(metadatas) != len(texts):
            raise ValueError(f"{len(metadatas)} metadatas for {len(texts)} texts; pass one per text.")
        documents, dropped = [], 0
        for i, (text, metadata) in enumerate(zip(texts, metadatas, strict=True)):
            chunks = self._chunker.split_document(text, metadata, index=i, id=ids[i] if ids else None)
            dropped += not chunks
            for chunk in chunks:
                extra = {"start_index": chunk.start, "end_index": chunk.end}
                documents.append(Document(page_content=chunk.text, metadata={**copy.deepcopy(metadata), **extra}))
        self._dropped = dropped
        if dropped:
            logger.info("EmbeddingGemmaTextSplitter dropped %d empty or blank document(s)", dropped)
        return documents

    def count_tokens(self, texts: Sequence[str], *, title: str | None = None) -> list[int]:
        """Tokens of each text as it is embedded as a document with ``title``."""
        return self._chunker.count(texts, title=title)
