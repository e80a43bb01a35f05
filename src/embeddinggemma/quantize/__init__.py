"""Build on-device artifacts of EmbeddingGemma ahead of time (the command line's functions).

Each engine builds its own files on first use (see :mod:`embeddinggemma._engines`); these functions do
the same from a model folder or hub id, for a Docker image or a machine without the network later:

- :func:`build_gguf`: a GGUF file for llama.cpp (``f32``, ``f16``, ``q8_0``, ``q4_0``), with pooling
  and both Dense projections inside it, and the copy llama.cpp runs.
- :func:`build_onnx`: an ONNX Runtime model in float32 (exact; the default CPU engine), with int8
  weights, or with block-wise int4 weights, written from the safetensors without torch.
- :func:`build`: any artifact of :data:`ARTIFACTS` by name (``python -m embeddinggemma quantize MODEL
  --quantization q8_0``).

Each artifact's name carries its settings and a content fingerprint of the source files, so a changed
model gets a new artifact; its manifest records what it was built from and checks every file it wrote
before use, so a damaged or half-written artifact is rebuilt, never loaded.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from .._engines import artifacts, gguf, onnx
from .._model_files import resolve_model_dir
from .._registry import ARTIFACTS, artifacts_of, engine

__all__ = ["ARTIFACTS", "GGUF_TYPES", "ONNX_TYPES", "artifact_path", "build", "build_gguf", "build_onnx"]

GGUF_TYPES = tuple(artifact.precision for artifact in artifacts_of("llama.cpp"))
ONNX_TYPES = tuple(artifact.precision for artifact in artifacts_of("onnxruntime"))
_SUFFIXES = {"gguf": ".gguf", "onnx": ".onnx"}

Folder = str | os.PathLike[str]


def artifact_path(model: Folder, kind: str, quantization: str, cache_dir: Folder | None = None) -> Path:
    """Where the ``kind`` (``gguf`` or ``onnx``) artifact in ``quantization`` lives, built or not."""
    return artifacts.artifact_path(resolve_model_dir(model), quantization, _SUFFIXES[kind], cache_dir)


def build_gguf(model_dir: Folder, quantization: str = "q8_0", cache_dir: Folder | None = None, *, force=False) -> Path:
    """The GGUF file of ``model_dir`` (a folder or hub id) in ``quantization``; built on first call.

    Example:
        .. code-block:: python

            from embeddinggemma.quantize import build_gguf

            path = build_gguf("/models/embeddinggemma-300m", "q8_0")  # …/quantized/embeddinggemma-q8_0-….gguf
    """
    return gguf.build(resolve_model_dir(model_dir), quantization, cache_dir, force=force)


def build_onnx(model_dir: Folder, quantization: str = "f32", cache_dir: Folder | None = None, *, force=False) -> Path:
    """The ONNX model of ``model_dir`` for ONNX Runtime: exact ``f32`` (the default CPU engine), ``int8`` or
    ``int4`` (block-wise 4-bit ``MatMulNBits`` weights); both quantized ones carry an int8 token table.

    Written straight from the safetensors with ``onnx`` and numpy, streaming the weights: no torch.
    """
    return onnx.build(resolve_model_dir(model_dir), quantization, cache_dir, force=force)


def build(model: Folder, name: str, cache_dir: Folder | None = None, *, force: bool = False) -> Path:
    """Build the artifact :data:`ARTIFACTS` calls ``name`` (the command line's entry point)."""
    artifact = ARTIFACTS[name]
    builder = importlib.import_module(engine(artifact.engine).module)
    return builder.build(resolve_model_dir(model), artifact.precision, cache_dir, force=force)
