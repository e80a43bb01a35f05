"""EmbeddingGemma-300m done right: task prompts, titles, Matryoshka sizes, checked vectors.

Importing this package does not import torch; the model loads on first use.
"""

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

__all__ = [
    "BACKENDS",
    "DEFAULT_MODEL",
    "DEFAULT_OLLAMA_URL",
    "DIMENSIONS",
    "MAX_SEQ_LENGTH",
    "QUANTIZATIONS",
    "TASKS",
    "Embedder",
    "EmbeddingGemmaError",
    "EmbeddingSettings",
    "ModelLoadError",
    "OutputCheckError",
    "ServerError",
    "ServerUnavailableError",
    "TaskPrompts",
    "TruncationError",
    "TruncationReport",
    "TruncationWarning",
    "apply_prompt",
    "is_prompted",
    "shape_vectors",
    "validate_texts",
]
