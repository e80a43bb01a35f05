"""The two small protocols runtimes implement: one for in-process engines, one for servers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


class ContextOverflow(Exception):
    """A server refused inputs longer than its context (raised only when asked not to truncate).

    ``indices`` are the offending inputs where they can be told apart, else every input of the refused
    request.
    """

    def __init__(self, indices: Sequence[int], detail: str = "") -> None:
        super().__init__(detail or f"inputs {list(indices)[:10]} exceed the context")
        self.indices = tuple(indices)
        self.detail = detail


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


@runtime_checkable
class ServerRuntime(Protocol):
    """A server that cannot count tokens beforehand: it is asked not to truncate, and a refusal
    (:class:`ContextOverflow`) names the over-long inputs."""

    full_dimensions: int

    def encode(self, texts: Sequence[str], *, truncate: bool) -> np.ndarray: ...

    async def aencode(self, texts: Sequence[str], *, truncate: bool) -> np.ndarray: ...


Runtime = LocalRuntime | ServerRuntime
