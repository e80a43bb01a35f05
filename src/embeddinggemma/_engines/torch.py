"""The torch engine: sentence-transformers on torch (CUDA, Apple GPUs, or the CPU when asked for)."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._errors import ModelLoadError
from .._families import EMBEDDINGGEMMA_2, family_of_folder
from .._model_files import GATED_HINT, check_model_folder
from .base import RuntimeSpec

# Bidirectional attention for Gemma3 (`use_bidirectional_attention`) arrived in transformers 4.56.
# Older releases silently fall back to causal attention, which costs a large share of recall.
MIN_TRANSFORMERS = (4, 56)


MIN_TRANSFORMERS_V2 = (5, 19)
"""The first transformers with ``embedding_gemma2`` (EmbeddingGemma 2)."""


def check_transformers_version(version: str, model: str = "") -> None:
    """Refuse a transformers too old for bidirectional Gemma3 attention, or for EmbeddingGemma 2."""
    parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    if family_of_folder(model) is EMBEDDINGGEMMA_2 and parts < MIN_TRANSFORMERS_V2:
        need = ".".join(map(str, MIN_TRANSFORMERS_V2))
        raise ModelLoadError(
            f"transformers {version} cannot load EmbeddingGemma 2 (it has no embedding_gemma2 model). "
            f"Upgrade: pip install 'transformers>={need}', or leave engine='auto' to run it with ONNX Runtime."
        )
    if parts < MIN_TRANSFORMERS:
        need = ".".join(map(str, MIN_TRANSFORMERS))
        raise ModelLoadError(
            f"transformers {version} is too old for EmbeddingGemma: it lacks bidirectional Gemma3 "
            f"attention and would silently embed with causal attention. "
            f"Upgrade: pip install 'transformers>={need}'."
        )


class TorchModel:
    """EmbeddingGemma loaded by sentence-transformers, safe to share between threads."""

    def __init__(self, model: str, *, device: str, dtype: str) -> None:
        import torch
        import transformers

        check_transformers_version(transformers.__version__, model)
        if os.path.isdir(model):
            check_model_folder(Path(model))  # whole safetensors, never a pickle, before torch loads anything
        from sentence_transformers import SentenceTransformer

        try:
            self._model = SentenceTransformer(
                model,
                device=device,
                trust_remote_code=False,
                model_kwargs={"dtype": getattr(torch, dtype)},
            )
        except Exception as exc:  # the hub raises many types; all become one actionable error
            if os.path.isdir(model):
                raise ModelLoadError(f"could not load the model folder {model!r}: {exc}") from exc
            raise ModelLoadError(f"could not load model {model!r}: {exc}\n{GATED_HINT}") from exc
        dimension_of = getattr(self._model, "get_embedding_dimension", None) or (
            self._model.get_sentence_embedding_dimension
        )
        self.full_dimensions = int(dimension_of() or 768)
        self._tokenizer = self._model.tokenizer
        # `max_seq_length` lives on the shared module and the fast tokenizer's truncation state is
        # mutable; one lock keeps callers with different limits from seeing each other's setting.
        self._lock = threading.Lock()

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        with self._lock:
            encoded = self._tokenizer(list(texts), add_special_tokens=True, truncation=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def encode(self, texts: Sequence[str], *, max_seq_length: int, batch_size: int, show_progress: bool) -> np.ndarray:
        with self._lock:
            self._model.max_seq_length = max_seq_length
            vectors = self._model.encode(
                list(texts),
                batch_size=batch_size,
                show_progress_bar=show_progress,
                convert_to_numpy=True,
                normalize_embeddings=False,
            )
        return np.asarray(vectors, dtype=np.float32)


def load(spec: RuntimeSpec) -> TorchModel:
    assert spec.device is not None and spec.dtype is not None, "resolve() sets the torch engine's device and dtype"
    return TorchModel(spec.model, device=spec.device, dtype=spec.dtype)
