"""The small protocol every runtime implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class Backend(Protocol):
    """Loads a model once and encodes already-prompted texts.

    Prompts, truncation policy, Matryoshka sizes and output checks live in the core pipeline,
    not here: a backend only counts tokens and returns float32 vectors of the full width.
    """

    full_dimensions: int

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Token count of each text as the model sees it, special tokens included, uncut."""
        ...

    def encode(self, texts: Sequence[str], *, max_seq_length: int, batch_size: int, show_progress: bool) -> np.ndarray:
        """Float32 array of shape ``(len(texts), full_dimensions)``, cut at ``max_seq_length``."""
        ...
