"""Runtimes turn prompted texts into full-size vectors: one module per engine, chosen here.

Settings resolve once into a :class:`RuntimeSpec` (engine, model path, device, dtype). Loaded weights
are shared per process by spec; each pipeline gets its own runtime object holding its fixed options
(token budget, batch size, progress, server client).
"""

from __future__ import annotations

import glob
import importlib.util
import os
import platform
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from .._errors import ModelLoadError
from .._settings import QUANTIZATION_ENGINES
from .base import ContextOverflow, LocalRuntime, Runtime, ServerRuntime

if TYPE_CHECKING:
    from .._settings import EmbeddingSettings

__all__ = [
    "ContextOverflow",
    "LocalRuntime",
    "Runtime",
    "RuntimeSpec",
    "ServerRuntime",
    "create_runtime",
    "resolve",
    "weights_identity",
]

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
    """The runtime ``settings`` ask for; checks a local path and (torch only) the device, once.

    ``engine="auto"`` picks torch when it is installed and a CUDA or Apple GPU is present (judged
    without importing torch, which costs hundreds of MB), else ONNX Runtime's exact float32 CPU engine.
    """
    if settings.backend != "local":
        return RuntimeSpec(settings.backend, settings.model)
    model = _local_model(settings.model)
    if model.lower().endswith(".gguf"):
        return RuntimeSpec("llama.cpp", model, settings.quantization)
    if settings.quantization is not None:
        return RuntimeSpec(QUANTIZATION_ENGINES[settings.quantization], model, settings.quantization)
    engine = settings.engine if settings.engine != "auto" else _auto_engine(settings)
    if engine == "llama.cpp":
        raise ValueError(
            "engine='llama.cpp' runs GGUF files: pass quantization='q8_0' or 'q4_0', or a .gguf file as model."
        )
    if engine == "onnxruntime":
        return RuntimeSpec(engine, model)
    missing = [
        name for name in ("torch", "transformers", "sentence_transformers") if not importlib.util.find_spec(name)
    ]
    if missing:
        raise ImportError(
            f"engine='torch' needs {', '.join(missing)}: pip install 'embeddinggemma[torch]' "
            "(or leave engine='auto' to run on the CPU with ONNX Runtime, which needs none of them)."
        )
    from .._device import resolve_device, resolve_dtype

    device = resolve_device(settings.device)
    return RuntimeSpec(engine, model, None, device, resolve_dtype(settings.dtype, device))


def _auto_engine(settings: EmbeddingSettings) -> str:
    has_torch = importlib.util.find_spec("torch") is not None
    if not importlib.util.find_spec("onnxruntime"):
        return "torch"
    wants_gpu = settings.device.split(":")[0] in ("cuda", "mps") or settings.dtype == "bfloat16"
    if has_torch and (wants_gpu or (settings.device == "auto" and _accelerator_present())):
        return "torch"
    return "onnxruntime"


def _accelerator_present() -> bool:
    """A CUDA driver or Apple silicon (MPS), seen without importing torch."""
    if sys.platform == "darwin":
        return platform.machine() == "arm64"
    return os.path.exists("/proc/driver/nvidia/version") or bool(glob.glob("/dev/nvidia[0-9]*"))


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


def weights_identity(spec: RuntimeSpec, settings: EmbeddingSettings) -> dict[str, object]:
    """What names the weights and arithmetic behind ``spec``: a hash of the model files' content for a
    local model; the address and model name for a server (whose files this package cannot see)."""
    identity: dict[str, object] = {"engine": spec.engine, "quantization": spec.quantization}
    if spec.engine in ("ollama", "openai"):
        return {**identity, "server": settings.base_url, "model": spec.model}
    from pathlib import Path

    from ..quantize._cache import resolve_model_dir, source_fingerprint

    if spec.model.lower().endswith(".gguf"):
        from .._files import fingerprint

        content = fingerprint(Path(spec.model))
    else:
        content = source_fingerprint(resolve_model_dir(spec.model))
    return {**identity, "content": content, "device": spec.device, "dtype": spec.dtype}


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

        model = _load_shared(spec, lambda: OnnxModel(spec.model, precision=spec.quantization or "f32"))
    else:
        from .torch import TorchModel

        model = _load_shared(spec, lambda: TorchModel(spec.model, device=spec.device, dtype=spec.dtype))
    return _Bound(
        model,
        max_seq_length=settings.max_seq_length,
        batch_size=settings.batch_size,
        show_progress=settings.show_progress,
    )
