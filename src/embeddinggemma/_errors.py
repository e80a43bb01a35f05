"""The package's exceptions and warnings. Every message names the input at fault and the fix."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any


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


class MissingExtraError(EmbeddingGemmaError, ImportError):
    """A setting needs a library that is not installed; the message names the extra that installs it."""

    def __init__(self, what: str, module: str, extra: str | None) -> None:
        fix = (
            f"pip install 'embeddinggemma[{extra}]'"
            if extra
            else f"it is a dependency of embeddinggemma: pip install --upgrade embeddinggemma (or pip install {module})"
        )
        super().__init__(f"{what} needs {module}, which is not installed: {fix}")
        self.name = module
        self.extra = extra


class ContextOverflow(Exception):
    """A server refused inputs longer than its context (raised only when asked not to truncate).

    Internal: the pipeline turns it into the truncation policy's outcome. ``indices`` are the offending
    inputs where they can be told apart, else every input of the refused request.
    """

    def __init__(self, indices: Sequence[int], detail: str = "") -> None:
        super().__init__(detail or f"inputs {list(indices)[:10]} exceed the context")
        self.indices = tuple(indices)
        self.detail = detail


def require(module: str, *, what: str, extra: str | None) -> Any:
    """``import module``, or a :class:`MissingExtraError` naming ``what`` needs it and the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(what, module, extra) from exc
