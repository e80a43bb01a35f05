"""EmbeddingGemma-300m done right: task prompts, titles, Matryoshka sizes, checked vectors.

Importing this package imports no engine, server client or torch; the model loads on first use.
"""

from importlib.metadata import PackageNotFoundError, version

from ._chunking import Chunk, TextChunker
from ._errors import (
    EmbeddingGemmaError,
    MissingExtraError,
    ModelLoadError,
    OutputCheckError,
    ServerError,
    ServerUnavailableError,
    TruncationError,
    TruncationWarning,
)
from ._families import FAMILIES, Family
from ._inputs import validate_texts
from ._model_files import user_cache_dir
from ._pipeline import Embedder, Pipelined, TruncationReport, shape_vectors
from ._prompts import TASKS, TaskPrompts, apply_prompt, is_prompted
from ._registry import BACKENDS, DEFAULT_MODEL, DEFAULT_OLLAMA_URL, ENGINES, QUANTIZATIONS
from ._settings import DIMENSIONS, INDEX_PRECISIONS, MAX_SEQ_LENGTH, ChunkingSettings, EmbeddingSettings, IndexSettings
from ._vector_cache import CacheStore, CacheWriteWarning, VectorCache

try:
    __version__ = version("embeddinggemma")  # the one version source: pyproject.toml
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "BACKENDS",
    "DEFAULT_MODEL",
    "DEFAULT_OLLAMA_URL",
    "DIMENSIONS",
    "ENGINES",
    "FAMILIES",
    "INDEX_PRECISIONS",
    "MAX_SEQ_LENGTH",
    "QUANTIZATIONS",
    "TASKS",
    "CacheStore",
    "CacheWriteWarning",
    "Chunk",
    "ChunkingSettings",
    "Embedder",
    "EmbeddingGemmaError",
    "EmbeddingSettings",
    "Family",
    "IndexSettings",
    "MissingExtraError",
    "ModelLoadError",
    "OutputCheckError",
    "Pipelined",
    "ServerError",
    "ServerUnavailableError",
    "TaskPrompts",
    "TextChunker",
    "TruncationError",
    "TruncationReport",
    "TruncationWarning",
    "VectorCache",
    "apply_prompt",
    "is_prompted",
    "shape_vectors",
    "user_cache_dir",
    "validate_texts",
]
