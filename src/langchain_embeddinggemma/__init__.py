"""LangChain integration for EmbeddingGemma-300m."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._embeddings import EmbeddingGemmaEmbeddings

if TYPE_CHECKING:
    from ._retriever import EmbeddingGemmaRetriever
    from ._splitter import EmbeddingGemmaTextSplitter

__all__ = ["EmbeddingGemmaEmbeddings", "EmbeddingGemmaRetriever", "EmbeddingGemmaTextSplitter"]

# The retriever and the splitter import LangChain's runnables and text splitters (~28 MB of RSS): loaded
# on first use, so a process that only embeds does not carry them.
_LAZY = {"EmbeddingGemmaRetriever": "._retriever", "EmbeddingGemmaTextSplitter": "._splitter"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
