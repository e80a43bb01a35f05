"""LlamaIndex ``NodeParser`` whose nodes EmbeddingGemma embeds whole (see :class:`embeddinggemma.TextChunker`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from llama_index.core.node_parser.interface import NodeParser
from llama_index.core.schema import BaseNode, Document, MetadataMode, NodeRelationship, TextNode
from llama_index.core.utils import get_tqdm_iterable
from pydantic import PrivateAttr, model_validator

from embeddinggemma import ChunkingSettings, TextChunker

from ._embedding import SERIALISED_EXTRAS, EmbeddingGemmaEmbedding

logger = logging.getLogger("embeddinggemma")


class EmbeddingGemmaNodeParser(ChunkingSettings, NodeParser):
    """Splits documents into nodes of at most ``chunk_size`` EmbeddingGemma tokens, counted as embedded:
    document prompt, title (``metadata[title_key]``), the node's embed-mode metadata text and special
    tokens included, so no node is ever truncated.

    Cuts prefer paragraph, then line, sentence, clause and word boundaries; nodes overlap by up to
    ``chunk_overlap`` tokens; each node is an exact slice of its document (``start_char_idx`` /
    ``end_char_idx``; whitespace at its edges left out) and keeps its metadata. Empty or blank documents
    are dropped and counted (``dropped_empty``). Tokens are counted with the tokenizer alone
    (``tokenizer``: the model's folder or hub id); no weights are loaded. Use it as a transformation of
    an ``IngestionPipeline``. Every option but NodeParser's own is a field of
    :class:`embeddinggemma.ChunkingSettings`.

    Example:
        .. code-block:: python

            from llama_index.core.ingestion import IngestionPipeline
            from llama_index_embeddinggemma import EmbeddingGemmaEmbedding, EmbeddingGemmaNodeParser

            embed_model = EmbeddingGemmaEmbedding()
            parser = EmbeddingGemmaNodeParser.from_embedding(embed_model, chunk_size=512, chunk_overlap=64)
            nodes = IngestionPipeline(transformations=[parser, embed_model]).run(documents=documents)
    """

    _chunker: TextChunker = PrivateAttr()
    _offsets: dict[str, tuple[int, int]] = PrivateAttr(default_factory=dict)
    _dropped: int = PrivateAttr(default=0)

    @model_validator(mode="before")
    @classmethod
    def _framework_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = {key: value for key, value in data.items() if key not in SERIALISED_EXTRAS}
        return data

    def model_post_init(self, context: Any, /) -> None:
        self._chunker = TextChunker(self)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name in ChunkingSettings.model_fields:
            self._chunker = TextChunker(self)

    @classmethod
    def class_name(cls) -> str:
        return "EmbeddingGemmaNodeParser"

    @classmethod
    def from_embedding(cls, embed_model: EmbeddingGemmaEmbedding, **kwargs: Any) -> EmbeddingGemmaNodeParser:
        """A parser that counts with ``embed_model``'s tokenizer, document prompt and title key.

        A server backend names the model as the server knows it; its tokenizer then comes from the hub
        id (pass ``tokenizer=`` a local folder to avoid the download).
        """
        return cls(**ChunkingSettings.matching(embed_model, **kwargs))

    @property
    def dropped_empty(self) -> int:
        """Empty or blank documents dropped by the last call."""
        return self._dropped

    def count_tokens(self, texts: Sequence[str], *, title: str | None = None) -> list[int]:
        """Tokens of each text as it is embedded as a document with ``title`` (no metadata text)."""
        return self._chunker.count(texts, title=title)

    def _parse_nodes(self, nodes: Sequence[BaseNode], show_progress: bool = False, **kwargs: Any) -> list[BaseNode]:
        out: list[BaseNode] = []
        self._offsets, self._dropped = {}, 0
        for i, parent in enumerate(get_tqdm_iterable(nodes, show_progress, "Splitting into EmbeddingGemma chunks")):
            text = parent.get_content(metadata_mode=MetadataMode.NONE)

            def embedded(body: str, parent: BaseNode = parent) -> str:
                return self._child(parent, body).get_content(metadata_mode=MetadataMode.EMBED)

            chunks = self._chunker.split_document(text, parent.metadata, index=i, id=parent.node_id, render=embedded)
            self._dropped += not chunks
            source = parent.as_related_node_info()
            for i, chunk in enumerate(chunks):
                child = self._child(parent, chunk.text, id_=self.id_func(i, parent))
                child.relationships[NodeRelationship.SOURCE] = source
                child.start_char_idx, child.end_char_idx = chunk.start, chunk.end
                self._offsets[child.node_id] = (chunk.start, chunk.end)
                out.append(child)
        if self._dropped:
            logger.info("EmbeddingGemmaNodeParser dropped %d empty or blank document(s)", self._dropped)
        return out

    def _child(self, parent: BaseNode, text: str, **kwargs: Any) -> TextNode:
        return TextNode(
            text=text,
            metadata=dict(parent.metadata) if self.include_metadata else {},
            excluded_embed_metadata_keys=list(parent.excluded_embed_metadata_keys),
            excluded_llm_metadata_keys=list(parent.excluded_llm_metadata_keys),
            metadata_seperator=parent.metadata_separator,
            metadata_template=parent.metadata_template,
            text_template=parent.text_template,
            **kwargs,
        )

    def _postprocess_parsed_nodes(self, nodes: list[BaseNode], parent_doc_map: dict[str, Document]) -> list[BaseNode]:
        # The framework re-finds offsets with str.find, which picks an earlier copy of repeated text.
        nodes = super()._postprocess_parsed_nodes(nodes, parent_doc_map)
        for node in nodes:
            if node.node_id in self._offsets and isinstance(node, TextNode):
                node.start_char_idx, node.end_char_idx = self._offsets[node.node_id]
        return nodes
