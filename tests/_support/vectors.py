"""Vectors compared by direction: what the quantized runtimes' tests measure against float32."""

from __future__ import annotations

import numpy as np


def unit(vectors) -> np.ndarray:
    """Each row divided by its length (as float32)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def cosines(a, b) -> np.ndarray:
    """The cosine of each row of ``a`` with the same row of ``b``."""
    return (unit(a) * unit(b)).sum(1)
