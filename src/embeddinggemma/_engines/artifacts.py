"""Built artifacts: where they live, their manifests, and the one way they are built (atomic, locked).

Each artifact's name carries its settings and a content fingerprint of the source files, so a changed
model gets a new artifact. Its manifest (``<artifact>.json``, written last) records how it was made and
the size and content hash of every file it wrote; before an artifact is used those are checked, and a
truncated, damaged or half-written artifact is rebuilt, never loaded. Builds hold a file lock, so two
processes never convert at once.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from filelock import FileLock

from .._errors import ModelLoadError
from .._model_files import damage, record_files, source_fingerprint, user_cache_dir

logger = logging.getLogger("embeddinggemma")

SUBFOLDER = "quantized"


def artifact_path(folder: Path, precision: str, suffix: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the artifact of ``folder`` in ``precision`` lives (built or not): its name carries the source's
    content fingerprint, so a changed model never meets an old artifact."""
    return cache_dir_for(folder, cache_dir) / f"embeddinggemma-{precision}-{source_fingerprint(folder)}{suffix}"


def build_once(
    folder: Path,
    target: Path,
    write: Callable[[Path, Path], object],
    *,
    files: Sequence[Path],
    record: dict[str, object],
    recipe: dict[str, object] | None = None,
    force: bool = False,
    finish: Callable[[Path], object] | None = None,
) -> Path:
    """``target``, built from ``folder`` unless its manifest's files are all there and intact.

    ``write(folder, temporary)`` writes the main file, which is then renamed into place; ``finish(target)``
    writes what is made from it (still under the lock). The manifest, written last, holds ``record``, the
    ``recipe`` (how the files were made: an artifact made by another recipe is rebuilt) and the size and
    hash of every file in ``files``: an interrupted build is never taken for a finished one.
    """
    # A file lock, not a thread lock: two processes must not both run a minutes-long conversion.
    with FileLock(str(target) + ".lock"):
        problem = artifact_damage(target, expected=[path.name for path in files], recipe=recipe)
        if problem is None and not force:
            return target
        if target.exists() and problem is not None:
            logger.warning("rebuilding %s: %s", target, problem)
        started = time.perf_counter()
        temporary = atomic_target(target)
        try:
            write(folder, temporary)
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        if finish is not None:
            finish(target)
        write_manifest(
            target,
            {
                "source": str(folder.resolve()),
                # artifact_path put it in the name: hashing the model folder again would read ~1.2 GB twice
                "source_fingerprint": target.stem.rsplit("-", 1)[-1],
                **record,
                **({"recipe": recipe} if recipe is not None else {}),
                "seconds": round(time.perf_counter() - started, 1),
                "files": record_files(files),
            },
        )
    return target


def cache_dir_for(folder: Path, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``cache_dir`` if given; else ``<model>/quantized`` when writable; else the user cache."""
    if cache_dir is not None:
        target = Path(cache_dir)
    else:
        target = folder / SUBFOLDER
        if not _writable(target):
            target = user_cache_dir() / SUBFOLDER / folder.resolve().name
    target.mkdir(parents=True, exist_ok=True)
    return target


def _writable(target: Path) -> bool:
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(target, os.W_OK)


def data_path(target: Path) -> Path:
    """The external-data file written beside the ONNX graph ``target``."""
    return target.with_name(target.name + ".data")


def manifest_path(artifact: Path) -> Path:
    return artifact.with_name(artifact.name + ".json")


def write_manifest(artifact: Path, settings: dict[str, object]) -> None:
    """A JSON file beside the artifact recording what it was built from, how, and the files it wrote."""
    target = manifest_path(artifact)
    temporary = atomic_target(target)
    temporary.write_text(json.dumps(settings, indent=2, sort_keys=True))
    os.replace(temporary, target)


def read_manifest(artifact: Path) -> dict | None:
    try:
        manifest = json.loads(manifest_path(artifact).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def artifact_damage(
    artifact: Path, expected: Sequence[str] = (), recipe: dict[str, object] | None = None
) -> str | None:
    """Why ``artifact`` cannot be used as it is (not built, damaged, half-written, built without a file this
    version writes: ``expected``, or by another ``recipe``), or None when intact."""
    if not artifact.exists():
        return "not built yet"
    manifest = read_manifest(artifact)
    if manifest is None:
        return "its manifest is missing or unreadable"
    recorded = manifest.get("files")
    missing = [name for name in expected if not isinstance(recorded, dict) or name not in recorded]
    if missing:
        return f"it was built without {missing[0]} (by an older version)"
    if recipe is not None and manifest.get("recipe") != recipe:
        return f"it was built by recipe {manifest.get('recipe')!r}; this version builds {recipe!r}"
    return damage(artifact.parent, recorded)


def atomic_target(path: Path) -> Path:
    """A temporary sibling to write into before ``os.replace`` (no half-written artifact is ever seen).

    Callers hold the target's file lock, so any other temporary of the same target was left by a write
    that was killed (``kill -9``, a power cut): it is deleted here rather than left on disk forever.
    """
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.*.tmp*"):
        leftover.unlink(missing_ok=True)
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


class IllegalInstruction(ModelLoadError):
    """A child process died of an instruction this CPU (or its operating system) does not allow."""


def in_own_process(function: Callable[..., object], *args: str) -> None:
    """``function(*args)`` (a module-level function of this package, string arguments) in a fresh interpreter.

    A build reads and writes hundreds of MB: in a process of its own, that memory goes back to the system
    when it ends instead of staying in the user's process. Started with ``-c``, never by importing the
    user's ``__main__`` (as multiprocessing's spawn would); where no interpreter can be started (an
    embedded Python), it runs here.
    """
    if not sys.executable:
        function(*args)
        return
    code = (
        "import importlib, sys; "
        f"getattr(importlib.import_module({function.__module__!r}), {function.__qualname__!r})(*sys.argv[1:])"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in sys.path if path)}  # this process's imports
    run = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=False)
    if run.returncode == -signal.SIGILL:
        raise IllegalInstruction(f"{function.__qualname__} was stopped by an illegal instruction (SIGILL)")
    if run.returncode != 0:
        lines = [line for line in run.stderr.splitlines() if line.strip()]
        kind, _, message = (lines[-1] if lines else "").partition(": ")
        if kind.endswith(("ModelLoadError", "ValueError")) and message:  # the build's own, clear error
            raise ModelLoadError(message)
        failed = f"the build ({function.__qualname__}) failed (exit {run.returncode})"
        raise ModelLoadError(f"{failed}:\n{run.stderr[-3000:]}")
