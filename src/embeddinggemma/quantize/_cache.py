"""Where quantized artifacts live, and the fingerprint of the weights they were built from."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .._errors import ModelLoadError

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
_SAMPLE = 1 << 20  # bytes hashed at the start, middle and end of a large file
_WHOLE_FILE_LIMIT = 64 << 20


def resolve_model_dir(model: str) -> Path:
    """A local sentence-transformers folder for ``model`` (a path, or a hub id fetched to the HF cache)."""
    if os.path.isdir(model):
        folder = Path(model)
    else:
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(model))
        except Exception as exc:  # gated, offline, unknown id: one actionable error
            raise ModelLoadError(
                f"could not fetch {model!r} to build a quantized copy: {exc}. Pass the path of a local "
                "embeddinggemma-300m folder as the model, or log in with `hf auth login` after accepting "
                "the licence at https://huggingface.co/google/embeddinggemma-300m."
            ) from exc
    missing = [name for name in ("config.json", "model.safetensors", "modules.json") if not (folder / name).is_file()]
    if missing:
        raise ModelLoadError(
            f"{str(folder)!r} is not an EmbeddingGemma sentence-transformers folder (missing {', '.join(missing)}); "
            "point `model` at the downloaded embeddinggemma-300m folder or at a .gguf file."
        )
    return folder


def _hash_file(digest: hashlib._Hash, path: Path) -> None:
    size = path.stat().st_size
    digest.update(f"{size}:".encode())
    with open(path, "rb") as handle:
        if size <= _WHOLE_FILE_LIMIT:
            digest.update(handle.read())
            return
        # A safetensors header lists every tensor's name, dtype, shape and offsets; with samples of the
        # data and the size it identifies the weights without reading a gigabyte on every load.
        for offset in (0, size // 2, max(size - _SAMPLE, 0)):
            handle.seek(offset)
            digest.update(handle.read(_SAMPLE))


def source_fingerprint(folder: Path) -> str:
    """A short hex id of the model files an artifact is built from (changes when any of them changes)."""
    digest = hashlib.sha256()
    for name in _SOURCE_FILES:
        path = folder / name
        if path.is_file():
            digest.update(name.encode() + b"\0")
            _hash_file(digest, path)
    return digest.hexdigest()[:16]


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


def write_manifest(artifact: Path, settings: dict[str, object]) -> None:
    """A JSON file beside the artifact recording what it was built from and how."""
    artifact.with_name(artifact.name + ".json").write_text(json.dumps(settings, indent=2, sort_keys=True))


def atomic_target(path: Path) -> Path:
    """A temporary sibling to write into before ``os.replace`` (no half-written artifact is ever seen)."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")
