"""Where quantized artifacts live, and the fingerprint of the weights they were built from."""

from __future__ import annotations

import glob
import json
import os
from pathlib import Path

import xxhash

from .._errors import ModelLoadError
from .._files import GATED_HINT, check_model_folder, damage, fingerprint

SUBFOLDER = "quantized"
# Files whose content decides the artifact: weights, module stack, tokenizer, prompts.
_SOURCE_FILES = (
    "config.json",
    "modules.json",
    "config_sentence_transformers.json",
    "tokenizer.json",
    "tokenizer.model",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "model.safetensors",
    "1_Pooling/config.json",
    "2_Dense/config.json",
    "2_Dense/model.safetensors",
    "3_Dense/config.json",
    "3_Dense/model.safetensors",
)


def resolve_model_dir(model: str) -> Path:
    """A local sentence-transformers folder for ``model`` (a path, or a hub id fetched to the HF cache)."""
    if os.path.isdir(model):
        folder = Path(model)
    else:
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(model))
        except Exception as exc:  # gated, offline, unknown id: one actionable error
            raise ModelLoadError(f"could not fetch {model!r}: {exc}\n{GATED_HINT}") from exc
    check_model_folder(folder)
    if not (folder / "model.safetensors").is_file():
        raise ModelLoadError(
            f"{str(folder)!r} is not an EmbeddingGemma sentence-transformers folder (no model.safetensors); "
            "point `model` at the downloaded embeddinggemma-300m folder or at a .gguf file."
        )
    return folder


def source_fingerprint(folder: Path) -> str:
    """A short hex id of the content of the model files an artifact is built from (any change changes it).

    Hashing reads the whole model (~1.2 GB, about a second); a process does it once per folder and again
    only when a file's size, inode, or modification or change time differs (a rewrite always changes the last).
    """
    paths = [folder / name for name in _SOURCE_FILES if (folder / name).is_file()]
    stamp = tuple(
        (str(p.resolve()), s.st_size, s.st_mtime_ns, s.st_ctime_ns, s.st_ino) for p in paths for s in [p.stat()]
    )
    known = _fingerprints.get(stamp)
    if known is None:
        digest = xxhash.xxh3_128()
        for path in paths:
            digest.update(f"{path.name}\0{fingerprint(path)}\0".encode())
        known = _fingerprints[stamp] = digest.hexdigest()[:16]
    return known


_fingerprints: dict[tuple, str] = {}


def cache_dir_for(folder: Path, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``cache_dir`` if given; else ``<model>/quantized`` when writable; else the user cache."""
    if cache_dir is not None:
        target = Path(cache_dir)
    else:
        target = folder / SUBFOLDER
        if not _writable(target):
            base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
            target = base / "embeddinggemma" / SUBFOLDER / folder.resolve().name
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


def artifact_damage(artifact: Path) -> str | None:
    """Why ``artifact`` cannot be used as it is (not built, damaged, half-written), or None when intact."""
    if not artifact.exists():
        return "not built yet"
    manifest = read_manifest(artifact)
    if manifest is None:
        return "its manifest is missing or unreadable"
    return damage(artifact.parent, manifest.get("files"))


def atomic_target(path: Path) -> Path:
    """A temporary sibling to write into before ``os.replace`` (no half-written artifact is ever seen).

    Callers hold the target's file lock, so any other temporary of the same target was left by a write
    that was killed (``kill -9``, a power cut): it is deleted here rather than left on disk forever.
    """
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.*.tmp*"):
        leftover.unlink(missing_ok=True)
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")
