"""The package's exceptions and warnings. Every message names the input at fault and the fix."""

from __future__ import annotations


class EmbeddingGemmaError(Exception):
    """Base class of every error this package raises on purpose."""


class ModelLoadError(EmbeddingGemmaError, OSError):
    """The model could not be loaded (gated repository, missing folder, not a model)."""


class OutputCheckError(EmbeddingGemmaError, RuntimeError):
    """A backend returned vectors that fail the output checks (count, finiteness, unit length)."""


class TruncationError(EmbeddingGemmaError, ValueError):
    """Raised under ``truncation="error"`` when an input exceeds ``max_seq_length`` tokens."""


class TruncationWarning(UserWarning):
    """Emitted once per call under ``truncation="warn"`` when inputs were cut."""


class ServerError(EmbeddingGemmaError, RuntimeError):
    """An embedding server answered with an error, timed out, or returned unusable vectors."""


class ServerUnavailableError(ServerError, ConnectionError):
    """Nothing is listening at the server URL (connection refused or unknown host)."""
