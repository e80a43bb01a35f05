"""Build on-device artifacts of EmbeddingGemma once, cache them beside the model, reuse them after.

- :func:`build_gguf`: a GGUF file for llama.cpp (``f32``, ``f16``, ``q8_0``, ``q4_0``), with pooling
  and both Dense projections inside it.
- :func:`build_onnx`: an ONNX Runtime model in float32 (exact; the default CPU engine), with int8
  weights, or with block-wise int4 weights, written from the safetensors without torch.

Each artifact's name carries its settings and a content fingerprint of the source files, so a changed
model gets a new artifact. Its manifest (``<artifact>.json``, written last) records how it was made and
the size and content hash of every file it wrote; before an artifact is used those are checked, and a
truncated, damaged or half-written artifact is rebuilt, never loaded. Builds hold a file lock, so two
processes never convert at once. The command line ``python -m embeddinggemma quantize MODEL
--quantization q8_0`` does the same ahead of time.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

from .._files import record_files
from ._cache import (
    artifact_damage,
    atomic_target,
    cache_dir_for,
    data_path,
    resolve_model_dir,
    source_fingerprint,
    write_manifest,
)

logger = logging.getLogger("embeddinggemma")

__all__ = ["ARTIFACTS", "GGUF_TYPES", "ONNX_TYPES", "artifact_path", "build", "build_gguf", "build_onnx"]

GGUF_TYPES = ("f32", "f16", "q8_0", "q4_0")
ONNX_TYPES = ("f32", "int8", "int4")
ARTIFACTS = {
    **{name: ("gguf", name) for name in GGUF_TYPES},
    "int8": ("onnx", "int8"),
    "int4": ("onnx", "int4"),
    "onnx-f32": ("onnx", "f32"),
}
"""Every artifact the command line builds, by name: ``(format, quantization)``. The runtime's
``quantization=`` names (q8_0, q4_0, int8, int4) are among them."""


def artifact_path(
    model: str | os.PathLike[str], kind: str, quantization: str, cache_dir: str | os.PathLike[str] | None = None
) -> Path:
    """Where the artifact for these settings lives (whether or not it is built yet)."""
    folder = resolve_model_dir(str(model))
    suffix = {"gguf": ".gguf", "onnx": ".onnx"}[kind]
    name = f"embeddinggemma-{quantization}-{source_fingerprint(folder)}{suffix}"
    return cache_dir_for(folder, cache_dir) / name


def _missing_extra(extra: str, exc: ImportError) -> ImportError:
    return ImportError(
        f"building this artifact needs the [{extra}] extra ({exc.name} is not installed): "
        f"pip install 'embeddinggemma[{extra}]'"
    )


def build_gguf(
    model_dir: str | os.PathLike[str],
    quantization: str = "q8_0",
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
) -> Path:
    """The GGUF file of ``model_dir`` (a folder or hub id) in ``quantization``; built on first call.

    Example:
        .. code-block:: python

            from embeddinggemma.quantize import build_gguf

            path = build_gguf("/models/embeddinggemma-300m", "q8_0")  # …/quantized/embeddinggemma-q8_0-….gguf
    """
    if quantization not in GGUF_TYPES:
        raise ValueError(f"quantization={quantization!r} is not a GGUF type; use one of {', '.join(GGUF_TYPES)}.")
    try:
        import gguf  # noqa: F401
    except ImportError as exc:
        raise _missing_extra("gguf", exc) from exc
    from ._gguf_convert import write_gguf

    folder = resolve_model_dir(str(model_dir))
    target = artifact_path(folder, "gguf", quantization, cache_dir)
    return _build(
        folder,
        target,
        "gguf",
        quantization,
        write_gguf,
        files=[target],
        force=force,
        converter=write_gguf.__module__,
    )


def build_onnx(
    model_dir: str | os.PathLike[str],
    quantization: str = "f32",
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
) -> Path:
    """The ONNX model of ``model_dir`` for ONNX Runtime: exact ``f32`` (the default CPU engine), ``int8`` or
    ``int4`` (block-wise 4-bit ``MatMulNBits`` weights); both quantized ones carry an int8 token table.

    Written straight from the safetensors with ``onnx`` and numpy, streaming the weights: no torch.
    """
    if quantization not in ONNX_TYPES:
        raise ValueError(f"quantization={quantization!r} is not an ONNX type; use one of {', '.join(ONNX_TYPES)}.")
    from ._onnx_table import table_paths  # the graph writers import onnx: only when a build is needed

    folder = resolve_model_dir(str(model_dir))
    target = artifact_path(folder, "onnx", quantization, cache_dir)
    if quantization == "f32":

        def write(source: Path, temporary: Path, kind: str) -> None:
            _onnx_writers().write_onnx_graph(source, temporary, data_name=data_path(target).name)

        files = [target, data_path(target)]
    else:

        def write(source: Path, temporary: Path, kind: str) -> None:
            writers = _onnx_writers()
            from ._onnx_int4 import quantize_graph_int4
            from ._onnx_int8 import quantize_graph
            from ._onnx_table import write_int8_table

            float_graph = temporary.with_name(temporary.name + ".f32.onnx")
            try:
                writers.write_onnx_graph(source, float_graph)
                if quantization == "int4":  # its 4-bit weights in a data file beside it, as f32's
                    quantize_graph_int4(float_graph, temporary, model_folder=source, data_name=data_path(target).name)
                else:
                    quantize_graph(float_graph, temporary)
            finally:
                float_graph.unlink(missing_ok=True)
                data_path(float_graph).unlink(missing_ok=True)
            write_int8_table(source, target)

        files = [target, *([data_path(target)] if quantization == "int4" else []), *table_paths(target)]
    return _build(folder, target, "onnx", quantization, write, files=files, force=force, converter=_ONNX_CONVERTER)


_ONNX_CONVERTER = "embeddinggemma.quantize._onnx_graph"


def _onnx_writers():
    """The ONNX graph writer module; it imports ``onnx`` (6 MB), which a cached artifact never needs."""
    try:
        import onnx  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "building the ONNX graph needs the onnx package, a dependency of embeddinggemma: "
            "pip install --upgrade embeddinggemma (or pip install onnx)"
        ) from exc
    from . import _onnx_graph

    return _onnx_graph


def _build(
    folder: Path,
    target: Path,
    kind: str,
    quantization: str,
    write: Callable[[Path, Path, str], object],
    *,
    files: list[Path],
    force: bool,
    converter: str,
) -> Path:
    """Write ``target`` atomically with ``write(folder, temporary, quantization)`` unless its recorded files
    are all there and intact, then record how it was made and what it wrote in its manifest."""
    # A file lock, not a thread lock: two processes must not both run a minutes-long conversion.
    with FileLock(str(target) + ".lock"):
        problem = artifact_damage(target)
        if problem is None and not force:
            return target
        if target.exists() and problem is not None:
            logger.warning("rebuilding %s: %s", target, problem)
        started = time.perf_counter()
        temporary = atomic_target(target)
        try:
            write(folder, temporary, quantization)
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        write_manifest(
            target,
            {
                "source": str(folder.resolve()),
                # artifact_path put it in the name: hashing the model folder again would read ~1.2 GB twice
                "source_fingerprint": target.stem.rsplit("-", 1)[-1],
                "format": kind,
                "quantization": quantization,
                "converter": converter,
                "seconds": round(time.perf_counter() - started, 1),
                "files": record_files(files),
            },
        )
    return target


def build(
    model: str | os.PathLike[str], name: str, cache_dir: str | os.PathLike[str] | None = None, *, force: bool = False
) -> Path:
    """Build the artifact :data:`ARTIFACTS` calls ``name`` (the command line's entry point)."""
    kind, quantization = ARTIFACTS[name]
    if kind == "onnx":
        return build_onnx(model, quantization, cache_dir, force=force)
    path = build_gguf(model, quantization, cache_dir, force=force)
    from ._gguf_split import prepare_runtime

    prepare_runtime(path)  # the llama.cpp runtime copy is made now too, not on first use
    return path
