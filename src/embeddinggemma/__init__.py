"""EmbeddingGemma-300m done right: task prompts, titles, Matryoshka sizes, checked vectors.

Importing this package does not import torch; the model loads on first use.
"""

from .config import DEFAULT_MODEL, DEFAULTS, DIMENSIONS, MAX_SEQ_LENGTH, EmbeddingConfig
from .embedder import Embedder, TruncationReport, load_backend
from .errors import (
    EmbeddingGemmaError,
    ModelLoadError,
    OutputCheckError,
    ServerError,
    ServerUnavailableError,
    TruncationError,
    TruncationWarning,
)
from .prompts import TASKS, TaskPrompts, apply_prompt, is_prompted

__all__ = [
    "DEFAULTS",
    "DEFAULT_MODEL",
    "DIMENSIONS",
    "MAX_SEQ_LENGTH",
    "TASKS",
    "Embedder",
    "EmbeddingConfig",
    "EmbeddingGemmaError",
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
    "load_backend",
]
