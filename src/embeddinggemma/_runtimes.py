"""Settings resolved once into a :class:`RuntimeSpec`, and the runtime it names, read from the registry.

A runtime turns prompted texts into full-size vectors: an engine in this process (``_engines/``) or a
server (``_servers/``). Which one, and from which module, comes from the rows of
:mod:`embeddinggemma._registry`; nothing here names an engine or a server. Loaded weights are shared per
process by spec; each pipeline gets its own runtime object holding its fixed options (token budget,
batch size, progress, server client).
"""

from __future__ import annotations

import glob
import importlib
import importlib.util
import os
import platform
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ._engines.base import Bound, LocalRuntime, RuntimeSpec
from ._errors import MissingExtraError
from ._families import family_of_folder
from ._model_files import fingerprint, local_model, resolve_model_dir, source_fingerprint
from ._registry import (
    AUTO,
    ENGINE_TABLE,
    LOCAL,
    Engine,
    artifacts_of,
    backend,
    engine,
    engine_for_file,
    quantization_engine,
)
from ._servers import ServerRuntime

if TYPE_CHECKING:
    from pathlib import Path

    from ._settings import EmbeddingSettings

__all__ = ["LocalRuntime", "Runtime", "RuntimeSpec", "ServerRuntime", "create_runtime", "resolve", "weights_identity"]

Runtime = LocalRuntime | ServerRuntime
Loaded = TypeVar("Loaded")


def resolve(settings: EmbeddingSettings) -> RuntimeSpec:
    """The runtime ``settings`` ask for. A local model is located once here (a hub id is fetched), its
    engine's libraries checked, and (for an engine that runs on GPUs) the device and dtype settled.

    ``engine="auto"`` picks torch when it is installed and a CUDA or Apple GPU is present (judged
    without importing torch, which costs hundreds of MB), else ONNX Runtime's exact float32 CPU engine.
    """
    if settings.backend != LOCAL:
        return RuntimeSpec(settings.backend, settings.model)
    model = local_model(settings.model)
    row = engine_for_file(model)
    if row is None:
        name = quantization_engine(settings.quantization) if settings.quantization else settings.engine
        row = engine(name) if name != AUTO else _auto_engine(settings)
        if not row.runs_float and settings.quantization is None:
            files = " or ".join(f"a {suffix} file" for suffix in row.model_files)
            choices = " / ".join(repr(a) for a in _quantizations_of(row))
            raise ValueError(f"engine={row.name!r} runs {files}: pass quantization={choices}, or {files} as model.")
    _check_installed(
        row, f"quantization={settings.quantization!r}" if settings.quantization else f"engine={row.name!r}"
    )
    location = model if row.model_files and model.lower().endswith(row.model_files) else str(resolve_model_dir(model))
    _check_family(settings, location)
    if "cuda" not in row.devices and "mps" not in row.devices:
        return RuntimeSpec(LOCAL, location, row.name, settings.quantization)
    from ._engines.device import resolve_device, resolve_dtype

    device = resolve_device(settings.device)
    return RuntimeSpec(LOCAL, location, row.name, settings.quantization, device, resolve_dtype(settings.dtype, device))


def _check_family(settings: EmbeddingSettings, location: str) -> None:
    """The settings were checked for the family the model's name says; a folder's config has the last word."""
    found = family_of_folder(location)
    if found is not None and found != settings.family:
        raise ValueError(
            f"model={settings.model!r} is {found.title} (its config.json says so), but the settings were made for "
            f"{settings.family.title}: pass model_family={found.name!r} (or a local folder of the model)."
        )


def _quantizations_of(row: Engine) -> list[str]:
    return [artifact.name for artifact in artifacts_of(row.name) if artifact.quantization]


def _check_installed(row: Engine, what: str) -> None:
    missing = [name for name in row.needs if importlib.util.find_spec(name) is None]
    if missing:
        error = MissingExtraError(what, ", ".join(missing), row.extra)
        if row.name == "torch":  # the one engine auto never falls back from: say how to avoid it
            error.args = (
                f"{error.args[0]} (or leave engine='auto' to run on the CPU with ONNX Runtime, which needs none "
                "of them)",
            )
        raise error


def _auto_engine(settings: EmbeddingSettings) -> Engine:
    """torch on a GPU (asked for, or present and torch installed), else the first installed CPU engine."""
    gpu_engines = [row for row in ENGINE_TABLE if row.runs_float and len(row.devices) > 1]
    cpu_engines = [row for row in ENGINE_TABLE if row.runs_float and row.devices == ("cpu",)]
    wants_gpu = settings.device.split(":")[0] in ("cuda", "mps") or settings.dtype == "bfloat16"
    for row in gpu_engines:
        if _installed(row) and (wants_gpu or (settings.device == AUTO and _accelerator_present())):
            return row
    for row in cpu_engines:
        if _installed(row):
            return row
    return gpu_engines[0]


def _installed(row: Engine) -> bool:
    return importlib.util.find_spec(row.needs[0]) is not None


def _accelerator_present() -> bool:
    """A CUDA driver or Apple silicon (MPS), seen without importing torch."""
    if sys.platform == "darwin":
        return platform.machine() == "arm64"
    return os.path.exists("/proc/driver/nvidia/version") or bool(glob.glob("/dev/nvidia[0-9]*"))


def weights_identity(spec: RuntimeSpec, settings: EmbeddingSettings) -> dict[str, object]:
    """What names the weights and arithmetic behind ``spec``: a hash of the model files' content for a
    local model; the address and model name for a server (whose files this package cannot see)."""
    if spec.backend != LOCAL:
        return {"backend": spec.backend, "server": settings.base_url, "model": spec.model}
    from pathlib import Path

    path: Path = Path(spec.model)
    content = fingerprint(path) if path.is_file() else source_fingerprint(path)
    assert spec.engine is not None
    module = importlib.import_module(engine(spec.engine).module) if spec.quantization else None
    recipe = getattr(module, "recipe_of", None)  # an engine whose build depends on the CPU describes it
    return {
        "engine": spec.engine,
        "quantization": spec.quantization,
        **({"recipe": recipe(spec)} if recipe is not None else {}),
        "content": content,
        "device": spec.device,
        "dtype": spec.dtype,
    }


_shared: dict[RuntimeSpec, Any] = {}
_shared_lock = threading.Lock()


def _load_shared(spec: RuntimeSpec, load: Callable[[], Loaded]) -> Loaded:
    """One loaded model per spec per process, however many pipelines use it."""
    with _shared_lock:
        if spec not in _shared:
            _shared[spec] = load()
        return _shared[spec]


def create_runtime(spec: RuntimeSpec, settings: EmbeddingSettings) -> Runtime:
    """The runtime ``spec`` names; imports its module (and so its libraries) only here."""
    if spec.backend != LOCAL:
        module = backend(spec.backend).module
        assert module is not None, f"backend {spec.backend!r} has no module in the registry"
        return importlib.import_module(module).connect(settings)
    assert spec.engine is not None
    module = importlib.import_module(engine(spec.engine).module)
    model = _load_shared(spec, lambda: module.load(spec))
    return Bound(
        model,
        max_seq_length=settings.max_seq_length,
        batch_size=settings.batch_size,
        show_progress=settings.show_progress,
    )
