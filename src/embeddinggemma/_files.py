"""Model and artifact files checked before use: a damaged file is named with the fix, never turned into vectors.

- :func:`check_model_folder` / :func:`check_safetensors` / :func:`check_gguf`: the user's model files,
  read only as far as needed to know they are whole (headers, sizes, magic), before any long work.
- :func:`fingerprint` / :func:`record_files` / :func:`damage`: the content hashes (xxh3-128, fast enough
  to run on every load) that a built artifact's manifest records and that are checked before it is used.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ._errors import ModelLoadError

GATED_HINT = (
    "google/embeddinggemma-300m is a gated repository: accept the licence at "
    "https://huggingface.co/google/embeddinggemma-300m, then log in with `hf auth login` "
    "(or set HF_TOKEN). Or pass the path of a local copy of the model folder: "
    "`model=` in LangChain, `model_name=` in LlamaIndex."
)
"""What to do about the gated hub id, for every error of loading it."""

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
