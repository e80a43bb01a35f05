"""The small protocol every runtime implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


class ContextOverflow(Exception):
    """A runtime refused inputs longer than its context (raised only when ``truncate=False``).

    ``indices`` are the offending inputs where the runtime can tell, else every input of the refused
    request.
    """

    def __init__(self, indices: Sequence[int], detail: str = "") -> None:
        super().__init__(detail or f"inputs {list(indices)[:10]} exceed the context")
        self.indices = tuple(indices)
        self.detail = detail


class Backend(Protocol):
    """Loads a model (or connects to a server) once and encodes already-prompted texts.

    Prompts, truncation policy, Matryoshka sizes and output checks live in the core pipeline,
    not here: a backend only counts tokens and returns float32 vectors of the full width.
    """

    def count_tokens(self, texts: Sequence[str]) -> list[int] | None:
        """Token count of each text as the model sees it, special tokens included, uncut.

        ``None`` when the runtime cannot count before encoding (a server); the pipeline then asks
        ``encode`` not to truncate and learns about over-long inputs from :class:`ContextOverflow`.
        """
        ...

    def encode(
        self, texts: Sequence[str], *, max_seq_length: int, batch_size: int, show_progress: bool, truncate: bool = True
    ) -> np.ndarray:
        """Float32 array of shape ``(len(texts), width)``, each input cut at ``max_seq_length`` tokens.

        With ``truncate=False`` a runtime that cannot count tokens raises :class:`ContextOverflow`
        instead of cutting.
        """
        ...


@runtime_checkable
class AsyncBackend(Backend, Protocol):
    """A backend with a native coroutine twin of :meth:`Backend.encode` (servers)."""

    async def aencode(
        self, texts: Sequence[str], *, max_seq_length: int, batch_size: int, show_progress: bool, truncate: bool = True
    ) -> np.ndarray: ...
