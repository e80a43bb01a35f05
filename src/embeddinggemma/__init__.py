"""EmbeddingGemma-300m done right: task prompts, titles, Matryoshka sizes, checked vectors.

Importing this package does not import torch; the model loads on first use.
"""

from ._chunking import Chunk, TextChunker
from ._errors import (
    EmbeddingGemmaError,
    ModelLoadError,
    OutputCheckError,
    ServerError,
    ServerUnavailableError,
    TruncationError,
    TruncationWarning,
)
from ._pipeline import Embedder, TruncationReport, shape_vectors, validate_texts
from ._prompts import TASKS, TaskPrompts, apply_prompt, is_prompted
from ._runtimes.ollama import DEFAULT_OLLAMA_URL
from ._settings import BACKENDS, DEFAULT_MODEL, DIMENSIONS, MAX_SEQ_LENGTH, QUANTIZATIONS, EmbeddingSettings
from ._vector_cache import CacheStore, VectorCache

__all__ = [
    "BACKENDS",
    "DEFAULT_MODEL",
    "DEFAULT_OLLAMA_URL",
    "DIMENSIONS",
    "MAX_SEQ_LENGTH",
    "QUANTIZATIONS",
    "TASKS",
    "CacheStore",
    "Chunk",
    "Embedder",
    "EmbeddingGemmaError",
    "EmbeddingSettings",
    "ModelLoadError",
    "OutputCheckError",
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
    "validate_texts",
]
