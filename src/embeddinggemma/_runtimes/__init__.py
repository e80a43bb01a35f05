"""Runtimes turn prompted texts into full-size vectors: one module per engine, chosen here.

Settings resolve once into a :class:`RuntimeSpec` (engine, model path, device, dtype). Loaded weights
are shared per process by spec; each pipeline gets its own runtime object holding its fixed options
(token budget, batch size, progress, server client).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from .._errors import ModelLoadError
from .._settings import ENGINES
from .base import ContextOverflow, LocalRuntime, Runtime, ServerRuntime

if TYPE_CHECKING:
    from .._settings import EmbeddingSettings

__all__ = ["ContextOverflow", "LocalRuntime", "Runtime", "RuntimeSpec", "ServerRuntime", "create_runtime", "resolve"]

Loaded = TypeVar("Loaded")


@dataclass(frozen=True)
class RuntimeSpec:
    """What decides which loaded weights serve a pipeline."""

    engine: str
    """``torch``, ``onnxruntime``, ``llama.cpp``, ``ollama`` or ``openai``."""
    model: str
    """A local model is named by its absolute, resolved path, so ``m``, ``m/`` and ``./m`` share one copy."""
    quantization: str | None = None
    device: str | None = None
    dtype: str | None = None


def resolve(settings: EmbeddingSettings) -> RuntimeSpec:
    """The runtime ``settings`` ask for; checks a local path and (torch only) the device, once."""
    if settings.backend != "local":
        return RuntimeSpec(settings.backend, settings.model)
    model = _local_model(settings.model)
    engine = "llama.cpp" if model.lower().endswith(".gguf") else ENGINES[settings.quantization]
    if engine != "torch":  # the CPU engines never import torch
        return RuntimeSpec(engine, model, settings.quantization)
    from .._device import resolve_device, resolve_dtype

    device = resolve_device(settings.device)
    return RuntimeSpec(engine, model, None, device, resolve_dtype(settings.dtype, device))


def _local_model(model: str) -> str:
    path = os.path.expanduser(model)
    if os.path.exists(path):
        return os.path.realpath(path)
    looks_like_a_path = path.startswith((os.sep, ".", "~")) or path.endswith((os.sep, ".gguf")) or path.count("/") > 1
    if looks_like_a_path:
        raise ModelLoadError(
            f"model={model!r} does not exist ({os.path.abspath(path)!r} is neither a folder nor a file). "
            "Check the path, or pass the hub id 'google/embeddinggemma-300m'."
        )
    return model  # a hub id


_shared: dict[RuntimeSpec, Any] = {}
_shared_lock = threading.Lock()


def _load_shared(spec: RuntimeSpec, load: Callable[[], Loaded]) -> Loaded:
    """One loaded model per spec per process, however many pipelines use it."""
    with _shared_lock:
        if spec not in _shared:
            _shared[spec] = load()
        return _shared[spec]


class _Bound:
    """A shared in-process model with one pipeline's fixed options: the :class:`LocalRuntime` it sees."""

    def __init__(self, model: Any, **options: Any) -> None:
        self._model = model
        self._options = options
        self.full_dimensions: int = model.full_dimensions

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self._model.count_tokens(texts)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self._model.encode(texts, **self._options)


def create_runtime(settings: EmbeddingSettings) -> Runtime:
    """The runtime for ``settings``; imports the engine's library only here."""
    spec = resolve(settings)
    if spec.engine == "ollama":
        from .ollama import OllamaRuntime

        return OllamaRuntime(settings)
    if spec.engine == "openai":
        from .openai import OpenAICompatibleRuntime

        return OpenAICompatibleRuntime(settings)
    if spec.engine == "llama.cpp":
        from .gguf import GGUFModel

        model = _load_shared(spec, lambda: GGUFModel(spec.model, quantization=spec.quantization))
    elif spec.engine == "onnxruntime":
        from .onnx import OnnxModel

        model = _load_shared(spec, lambda: OnnxModel(spec.model))
    else:
        from .torch import TorchModel

        model = _load_shared(spec, lambda: TorchModel(spec.model, device=spec.device, dtype=spec.dtype))
    return _Bound(
        model,
        max_seq_length=settings.max_seq_length,
        batch_size=settings.batch_size,
        show_progress=settings.show_progress,
    )
