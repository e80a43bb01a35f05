"""The tests' helpers, each written once: the tiny-model builders and shared constants here; the loopback
fake servers (``loopback``, ``ollama``, ``openai``), the served backends (``backends``) and the helpers
that tests of more than one kind share in the modules beside this one.

Importable as ``_support`` because pytest's ``pythonpath`` (pyproject.toml) holds ``tests``."""

from __future__ import annotations

import os

from _support.tiny_model import (
    PROMPTS,
    V2_LAYOUTS,
    build_tiny_model,
    build_tiny_v2_model,
    flip_bits,
    require_torch,
    tiny_768_model_path,
    tiny_model_path,
    tiny_v2_model_path,
)

__all__ = [
    "MODEL_CARD_SIMILARITIES",
    "PROMPTS",
    "QUANTIZED_TEXTS",
    "REAL_MODEL",
    "V2_LAYOUTS",
    "build_tiny_model",
    "build_tiny_v2_model",
    "flip_bits",
    "require_torch",
    "tiny_768_model_path",
    "tiny_model_path",
    "tiny_v2_model_path",
]

REAL_MODEL = os.environ.get("EMBEDDINGGEMMA_MODEL")
"""The real model's folder, when set: tests in ``tests/real_model`` run with it and skip without it."""

MODEL_CARD_SIMILARITIES = [0.301, 0.636, 0.493, 0.489]
"""The model card's query "Which planet is known as the Red Planet?" against its four planet sentences."""

QUANTIZED_TEXTS = [
    "which planet is known as the red planet",
    "mars venus jupiter saturn " * 6,
    "a",
    "the quick brown fox jumps over the lazy dog " * 30,
    "embedding <eos> search retrieval",
]
"""Short, repeated, one-letter, long and special-token texts: what the quantized runtimes are checked on."""
