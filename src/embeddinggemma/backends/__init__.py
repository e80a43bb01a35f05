"""Runtimes that turn prompted texts into full-size vectors, one module each, chosen by the config."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import AsyncBackend, Backend, ContextOverflow

if TYPE_CHECKING:
    from ..config import EmbeddingConfig

__all__ = ["AsyncBackend", "Backend", "ContextOverflow", "create_backend", "runtime_key"]


def runtime_key(config: EmbeddingConfig) -> tuple[object, ...]:
    """The settings that decide which loaded runtime serves a config (used to share it per process)."""
    if config.backend == "local" and _on_device(config):
        return ("local", config.model, config.quantization)  # CPU runtimes: no torch import, no device
    if config.backend == "local":
        from ..device import resolve_device, resolve_dtype

        device = resolve_device(config.device)
        return ("local", config.model, config.quantization, device, resolve_dtype(config.dtype, device))
    return (
        config.backend,
        config.model,
        config.base_url,
        config.api_key,
        config.timeout,
        config.max_retries,
        config.max_concurrency,
        config.keep_alive,
    )


def _on_device(config: EmbeddingConfig) -> bool:
    """Quantized runtimes (GGUF, ONNX) run on the CPU and never import torch."""
    return config.quantization is not None or config.model.lower().endswith(".gguf")


def create_backend(config: EmbeddingConfig) -> Backend:
    """Load the runtime a config asks for. Imports the runtime's library only here."""
    if config.backend == "ollama":
        from .ollama import OllamaBackend

        return OllamaBackend(config)
    if config.backend == "openai":
        from .openai import OpenAICompatibleBackend

        return OpenAICompatibleBackend(config)
    model, quantization = config.model, config.quantization
    if quantization in ("q8_0", "q4_0") or model.lower().endswith(".gguf"):
        from .gguf import GGUFBackend

        return GGUFBackend(model, quantization=quantization)
    if quantization == "int8":
        from .onnx import OnnxBackend

        return OnnxBackend(model)
    _, model, quantization, device, dtype = runtime_key(config)
    from .sentence_transformers import SentenceTransformersBackend

    return SentenceTransformersBackend(model, device=device, dtype=dtype)
