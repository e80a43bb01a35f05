"""LlamaIndex ``BaseEmbedding`` over the EmbeddingGemma core."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.schema import BaseNode, MetadataMode
from pydantic import ConfigDict, ValidationInfo, model_validator

from embeddinggemma import Pipelined, validate_texts

FRAMEWORK_NAMES = {"model_name": "model", "embed_batch_size": "batch_size"}
"""LlamaIndex's own name for a setting: an alias, kept equal to the setting, not a second setting."""
SERIALISED_EXTRAS = ("class_name",)
"""Keys LlamaIndex adds when it serialises an object, accepted back."""


class _TitledText(str):
    """A node's text carrying its title through LlamaIndex's batch path, which passes plain strings."""

    node_title: str | None

    def __new__(cls, text: str, title: str | None) -> _TitledText:
        titled = super().__new__(cls, text)
        titled.node_title = title
        return titled


class EmbeddingGemmaEmbedding(Pipelined, BaseEmbedding):
    """Google's EmbeddingGemma-300m with its task prompts applied: in-process, quantized, or via a server.

    Queries get the task's query prompt, texts the document prompt, with a node's
    ``metadata["title"]`` as the title when it is embedded as a node (``embed_model(nodes)``, an
    ``IngestionPipeline``). Vectors are unit length at every Matryoshka size. Every setting is a field
    of :class:`embeddinggemma.EmbeddingSettings`; LlamaIndex's own names ``model_name`` and
    ``embed_batch_size`` are aliases of ``model`` and ``batch_size``. An unknown keyword is an error
    listing the valid ones.

    Example:
        .. code-block:: python

            from llama_index.core import Settings
            from llama_index_embeddinggemma import EmbeddingGemmaEmbedding

            Settings.embed_model = EmbeddingGemmaEmbedding(dimensions=256)
            vector = Settings.embed_model.get_query_embedding("Which planet is red?")

            # the same vectors from an OpenAI-compatible server such as llama-server
            served = EmbeddingGemmaEmbedding(backend="openai", base_url="http://localhost:8080/v1")
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    @model_validator(mode="before")
    @classmethod
    def _framework_fields(cls, data: Any, info: ValidationInfo) -> Any:
        """LlamaIndex's names for settings, and its ``embeddings_cache``, mapped onto the settings."""
        if not isinstance(data, dict):
            return data
        data = {key: value for key, value in data.items() if key not in SERIALISED_EXTRAS}
        for alias, name in FRAMEWORK_NAMES.items():  # either name sets both; two that disagree are an error
            if info.field_name == alias:  # an assignment to the alias
                data[name] = data[alias]
            elif info.field_name is None and alias in data:  # construction
                if name in data and data[name] != data[alias]:
                    raise ValueError(f"{alias}={data[alias]!r} and {name}={data[name]!r} disagree; pass one.")
                data[name] = data.pop(alias)
            data[alias] = data.get(name, cls.model_fields[name].default)
        # LlamaIndex keys embeddings_cache by raw text: a query and a document with the same text (or two
        # titles) would share one vector. The store is kept, but read and written by the core cache,
        # whose keys hold the side, prompt, title and every setting; the raw-text path never runs.
        if data.get("embeddings_cache") is not None:
            data["cache"], data["embeddings_cache"] = data["embeddings_cache"], None
        return data

    @classmethod
    def class_name(cls) -> str:
        return "EmbeddingGemmaEmbedding"

    # -- LlamaIndex's batch path, with every input checked before any is embedded -------------------
    # LlamaIndex sends ``embed_batch_size`` texts a call, in the caller's order, and a call pads its texts to
    # its longest: sent shortest first, each call holds texts of similar lengths (the LangChain path sorts
    # the whole list itself). The vectors come back in the caller's order.
    def get_text_embedding_batch(self, texts: list[str], show_progress: bool = False, **kwargs: Any) -> list[Embedding]:
        texts = validate_texts(texts)
        order = _shortest_first(texts)
        vectors = super().get_text_embedding_batch([texts[i] for i in order], show_progress, **kwargs)
        return _in_order(vectors, order)

    async def aget_text_embedding_batch(
        self, texts: list[str], show_progress: bool = False, **kwargs: Any
    ) -> list[Embedding]:
        texts = validate_texts(texts)
        order = _shortest_first(texts)
        vectors = await super().aget_text_embedding_batch([texts[i] for i in order], show_progress, **kwargs)
        return _in_order(vectors, order)

    def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        """Embed nodes in place, each with its title (``metadata[title_key]``) in the prompt."""
        return self._attach(nodes, self.get_text_embedding_batch(self._titled(nodes), **kwargs))

    async def acall(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        return self._attach(nodes, await self.aget_text_embedding_batch(self._titled(nodes), **kwargs))

    def _titled(self, nodes: Sequence[BaseNode]) -> list[str]:
        return [
            _TitledText(node.get_content(metadata_mode=MetadataMode.EMBED), node.metadata.get(self.title_key))
            for node in nodes
        ]

    @staticmethod
    def _attach(nodes: Sequence[BaseNode], vectors: list[Embedding]) -> Sequence[BaseNode]:
        for node, vector in zip(nodes, vectors, strict=True):
            node.embedding = vector
        return nodes

    # -- the four calls LlamaIndex makes ------------------------------------------------------------
    def _get_query_embedding(self, query: str) -> Embedding:
        return self._pipeline.embed_query(query)

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return await self._pipeline.aembed_query(query)

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._get_text_embeddings([text])[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._aget_text_embeddings([text]))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._pipeline.embed(texts, side="document", titles=_titles(texts))

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await self._pipeline.aembed(texts, side="document", titles=_titles(texts))


def _shortest_first(texts: list[str]) -> list[int]:
    return sorted(range(len(texts)), key=lambda i: len(texts[i]))


def _in_order(vectors: list[Embedding], order: list[int]) -> list[Embedding]:
    placed: list[Embedding] = [[] for _ in order]
    for vector, index in zip(vectors, order, strict=True):
        placed[index] = vector
    return placed


def _titles(texts: list[str]) -> list[str | None] | None:
    titles = [text.node_title if isinstance(text, _TitledText) else None for text in texts]
    return titles if any(title is not None for title in titles) else None
