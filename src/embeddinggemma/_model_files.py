"""The model's files: where they are, whether they are whole, and what they hold. A damaged file is named
with the fix, never turned into vectors.

- :func:`local_model` / :func:`resolve_model_dir`: a path as one absolute name, a hub id fetched (gated:
  the error says how to get access); :func:`user_cache_dir` for what cannot go beside the model.
- :func:`check_model_folder` / :func:`check_safetensors` / :func:`check_gguf`: the user's model files,
  read only as far as needed to know they are whole (headers, sizes, magic), before any long work.
- :func:`fingerprint` / :func:`source_fingerprint` / :func:`record_files` / :func:`damage`: the content
  hashes (xxh3-128, fast enough to run on every load) that name built artifacts and cache keys, and that
  a built artifact's manifest records and checks before it is used.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ._errors import ModelLoadError
from ._families import detect
from ._registry import ENGINE_TABLE

GATED_HINT = (
    "google/embeddinggemma-300m is a gated repository: accept the licence at "
    "https://huggingface.co/google/embeddinggemma-300m, then log in with `hf auth login` "
    "(or set HF_TOKEN). Or pass the path of a local copy of the model folder: "
    "`model=` in LangChain, `model_name=` in LlamaIndex."
)
"""What to do about the gated hub id, for every error of loading it."""

OPEN_HINT = (
    "google/embeddinggemma-2 is not gated (Apache-2.0): check the network and the hub id, or pass the path of a "
    "local copy of the model folder: `model=` in LangChain, `model_name=` in LlamaIndex."
)

_CHUNK = 8 << 20
_REDOWNLOAD = "re-download the model folder (e.g. `hf download google/embeddinggemma-300m --local-dir DIR`)"


def fingerprint(path: Path) -> str:
    """The xxh3-128 hex digest of the whole file."""
    import xxhash

    digest = xxhash.xxh3_128()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def record_files(paths: Iterable[Path]) -> dict[str, dict[str, object]]:
    """``{file name: {"bytes": size, "xxh3_128": digest}}`` for a manifest."""
    return {path.name: {"bytes": path.stat().st_size, "xxh3_128": fingerprint(path)} for path in paths}


def damage(folder: Path, recorded: Mapping[str, Mapping[str, object]] | None) -> str | None:
    """What is wrong with the recorded files in ``folder`` (missing, wrong size, changed content), or None."""
    if not recorded:
        return "no record of its files"
    for name, expected in recorded.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        size = path.stat().st_size
        if size != expected.get("bytes"):
            return f"{name} has {size} bytes, {expected.get('bytes')} were written (truncated or replaced)"
        if fingerprint(path) != expected.get("xxh3_128"):
            return f"{name} changed on disk since it was written (same size, different content)"
    return None


# -- the user's model files ---------------------------------------------------------------------------


def check_safetensors(path: Path) -> None:
    """A whole safetensors file: a readable header whose tensors all lie inside the file."""
    size = path.stat().st_size
    problem = None
    with open(path, "rb") as handle:
        length = int.from_bytes(handle.read(8), "little") if size >= 8 else 0
        if size < 8 or 8 + length > size:
            problem = "is empty or truncated inside its header"
        else:
            try:
                header = json.loads(handle.read(length))
                end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
            except (ValueError, KeyError, TypeError, IndexError):
                problem = "is not a safetensors file (its header is not readable)"
            else:
                if 8 + length + end > size:
                    problem = f"is truncated: it has {size} bytes, its header needs {8 + length + end}"
    if problem:
        raise ModelLoadError(f"{str(path)!r} {problem}. The download was probably cut short: {_REDOWNLOAD}.")


def check_model_folder(folder: Path) -> None:
    """A sentence-transformers folder whose weights are whole safetensors files (never pickles)."""
    modules_file = folder / "modules.json"
    if not modules_file.is_file() or not (folder / "config.json").is_file():
        raise ModelLoadError(
            f"model={str(folder)!r} is a folder but not a sentence-transformers model (no modules.json or "
            "config.json in it). Point `model` at the downloaded embeddinggemma-300m folder, "
            "or use the hub id 'google/embeddinggemma-300m'."
        )
    try:
        modules = json.loads(modules_file.read_text(encoding="utf-8"))
        subfolders = [folder / module["path"] for module in modules if module.get("path")]
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"{str(modules_file)!r} is not readable ({exc}): {_REDOWNLOAD}.") from None
    for place in (folder, *subfolders):
        weights = sorted(place.glob("*.safetensors"))
        pickles = [p for p in place.glob("*.bin") if p.name.startswith("pytorch_model")]
        if pickles and not weights:
            raise ModelLoadError(
                f"{str(pickles[0])!r} is a pickle (PyTorch .bin), which this package never loads: loading a pickle "
                "can run code. Convert it to safetensors on a machine where you trust the file (load it with torch's "
                "weights_only loader, save it with `safetensors.torch.save_file` as model.safetensors), or "
                "re-download the model, whose weights are safetensors."
            )
        for path in weights:
            check_safetensors(path)


def check_gguf(path: Path) -> None:
    """A file that can be a GGUF: not empty, the right magic. Cheap: the vocabulary is not parsed here
    (that took seconds and hundreds of MB on every load); :func:`read_gguf` names a damaged body."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if size == 0:
        raise _bad_gguf(path, "is empty")
    if magic != b"GGUF":
        raise _bad_gguf(path, f"is not a GGUF file (it starts with {magic!r}, not b'GGUF')")


def read_gguf(path: Path) -> Any:
    """``gguf.GGUFReader`` of ``path``, or a ModelLoadError naming the file when it is truncated or damaged."""
    import gguf

    check_gguf(path)
    try:
        return gguf.GGUFReader(str(path))
    except Exception as exc:  # the reader fails in many ways on a damaged file; all mean the same
        raise _bad_gguf(path, f"is truncated or damaged ({type(exc).__name__}: {exc})") from None


def _bad_gguf(path: Path, problem: str) -> ModelLoadError:
    return ModelLoadError(
        f"model={str(path)!r} {problem}. Download it again, or build one from the model folder with "
        "`python -m embeddinggemma quantize MODEL_FOLDER --quantization q8_0`."
    )


# -- where a model is, and what it is made of ---------------------------------------------------------


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/embeddinggemma`` (``~/.cache/embeddinggemma``): built artifacts of read-only model
    folders, and the RAG apps' indexes and vectors."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "embeddinggemma"


def local_model(model: str) -> str:
    """``model`` as an absolute, resolved path when it names a file or folder here, else as the hub id it is.

    ``m``, ``m/`` and ``./m`` name one model. A string that looks like a path but names nothing is an error.
    """
    path = os.path.expanduser(model)
    single_file_models = tuple(suffix for engine in ENGINE_TABLE for suffix in engine.model_files)
    if os.path.isfile(path) and not path.lower().endswith(single_file_models):
        raise ModelLoadError(
            f"model={model!r} is a file, not a model folder: pass the folder that holds config.json, "
            f"modules.json and model.safetensors (a {' or '.join(single_file_models)} file is the one file that is "
            "a model by itself)."
        )
    if os.path.exists(path):
        return os.path.realpath(path)
    looks_like_a_path = (
        path.startswith((os.sep, ".", "~")) or path.endswith((os.sep, *single_file_models)) or path.count("/") > 1
    )
    if looks_like_a_path:
        raise ModelLoadError(
            f"model={model!r} does not exist ({os.path.abspath(path)!r} is neither a folder nor a file). "
            "Check the path, or pass the hub id 'google/embeddinggemma-300m'."
        )
    return model


def resolve_model_dir(model: str | os.PathLike[str]) -> Path:
    """A local sentence-transformers folder for ``model`` (a path, or a hub id fetched to the HF cache)."""
    model = os.fspath(model)
    if os.path.isdir(model):
        folder = Path(model)
    else:
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(model))
        except Exception as exc:  # gated, offline, unknown id: one actionable error
            hint = GATED_HINT if detect(model).gated else OPEN_HINT
            raise ModelLoadError(f"could not fetch {model!r}: {exc}\n{hint}") from exc
    check_model_folder(folder)
    if not (folder / "model.safetensors").is_file():
        raise ModelLoadError(
            f"{str(folder)!r} is not an EmbeddingGemma sentence-transformers folder (no model.safetensors); "
            "point `model` at the downloaded embeddinggemma-300m folder or at a .gguf file."
        )
    return folder


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
        import xxhash

        digest = xxhash.xxh3_128()
        for path in paths:
            digest.update(f"{path.name}\0{fingerprint(path)}\0".encode())
        known = _fingerprints[stamp] = digest.hexdigest()[:16]
    return known


_fingerprints: dict[tuple, str] = {}
