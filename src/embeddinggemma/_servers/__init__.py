"""Embedding servers as runtimes: one module per protocol (a row of
:data:`embeddinggemma._registry.BACKEND_TABLE` names it), each with ``connect(settings)``. What does no
I/O is written once, in :mod:`.base`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class ServerRuntime(Protocol):
    """A server that cannot count tokens beforehand: it is asked not to truncate, and a refusal
    (:class:`~embeddinggemma._errors.ContextOverflow`) names the over-long inputs."""

    full_dimensions: int

    def encode(self, texts: Sequence[str], *, truncate: bool) -> np.ndarray: ...

    async def aencode(self, texts: Sequence[str], *, truncate: bool) -> np.ndarray: ...
