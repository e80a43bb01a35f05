"""What every in-process engine implements, and what decides which loaded weights serve a pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class RuntimeSpec:
    """Settings resolved once: where the model runs, on what, from which files."""

    backend: str
    """``local``, or the server protocol (``ollama``, ``openai``)."""
    model: str
    """A local model as an absolute, resolved path (a folder, or a single-file model such as a ``.gguf``),
    so ``m``, ``m/`` and ``./m`` share one copy; for a server, the name the server knows it by."""
    engine: str | None = None
    """The in-process engine (``onnxruntime``, ``torch``, ``llama.cpp``); ``None`` for a server."""
    quantization: str | None = None
    device: str | None = None
    dtype: str | None = None


@runtime_checkable
class LocalRuntime(Protocol):
    """An engine in this process. It counts tokens exactly, so the pipeline reports truncation itself.

    Built with its fixed options (``max_seq_length``, ``batch_size``, ``show_progress``); prompts,
    Matryoshka sizes and output checks live in the pipeline, not here.
    """

    full_dimensions: int

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Token count of each text as the model sees it, special tokens included, uncut."""
        ...

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Float32 ``(len(texts), full_dimensions)``; each input cut at ``max_seq_length`` tokens."""
        ...


class Bound:
    """A shared in-process model with one pipeline's fixed options: the :class:`LocalRuntime` it sees.

    An engine's ``load(spec)`` returns the shared model (``full_dimensions``, ``count_tokens(texts)``,
    ``encode(texts, *, max_seq_length, batch_size, show_progress)``); one is loaded per spec per process.
    """

    def __init__(self, model: Any, **options: Any) -> None:
        self._model = model
        self._options = options
        self.full_dimensions: int = model.full_dimensions

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self._model.count_tokens(texts)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self._model.encode(texts, **self._options)
