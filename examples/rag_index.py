"""The index folder's manifest: when to reuse a saved index, when to rebuild it, and what to delete first.

Each app writes ``embeddinggemma-rag.json`` next to its index: the adapter's vector identity (every
setting that decides a vector, the model files' content hash included), the splitter's chunking
settings, a SHA-256 of every document, and a SHA-256 of every index file. What the manifest does:

- **Change detection.** A re-run reuses the index only when the documents, the embedding and chunking
  settings and the index files are all as recorded; otherwise it rebuilds and says why. A change of
  engine, quantization, device, dtype or model weights is a change of the vector identity. An index
  written by an older version of the app (whose LangChain index was a pickle) is rebuilt, never loaded.
- **Leaving other files alone.** A folder holding files but no manifest of this app, or files its
  manifest does not list, is neither loaded nor overwritten. A rebuild deletes only the files the
  manifest lists, and only plain names inside the index folder.
- **Trusting only what this user's apps wrote.** The manifest carries an HMAC-SHA256 of itself under a
  key kept in the user's config folder (``rag_signing``), never in the index folder. A manifest that does
  not verify (copied from another machine or user, or edited, its hashes rewritten to match tampered
  files) is rebuilt with one line saying why, never served.

And neither app stores or loads anything that can run code: no pickle, only JSON and FAISS's own binary
format, read as data.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag_output import AppError
from rag_signing import sign, verified

from embeddinggemma import ChunkingSettings, IndexSettings

MANIFEST = "embeddinggemma-rag.json"
# 1: LangChain's index was a pickle (index.pkl); 2: settings without the vector identity; 3: no index
# precision or description. All are rebuilt.
MANIFEST_FORMAT = 4


@dataclass(frozen=True)
class IndexPlan:
    """Whether to load the saved index, and the line that tells the user why."""

    reuse: bool
    reason: str


def index_settings(embedding_model: object, splitter: object, index: IndexSettings) -> dict[str, object]:
    """What shapes the index: the adapter's vector identity (either adapter: its ``vector_identity()`` and
    the hash of it, ``cache_namespace()``), the splitter's chunking settings and the index's precision."""
    chunking = {name: getattr(splitter, name) for name in ChunkingSettings.model_fields}
    vectors = {"vectors": embedding_model.cache_namespace(), **embedding_model.vector_identity()}
    return {**vectors, **chunking, **index.model_dump()}


def plan_index(folder: Path, app: str, settings: dict, documents: dict[str, str], *, rebuild: bool) -> IndexPlan:
    """Decide between loading ``folder`` and (re)building it; refuse a folder this app did not write."""
    if not folder.exists() or not any(folder.iterdir()):
        return IndexPlan(False, f"building a new index in {folder}")
    manifest = _own_manifest(folder, app)
    if rebuild:
        return IndexPlan(False, f"rebuilding {folder} (--rebuild)")
    if not verified(manifest):
        return IndexPlan(
            False,
            f"rebuilding {folder}: its manifest is not signed with this user's key (copied from elsewhere, or "
            "edited after this app wrote it), so it is not served",
        )
    why = _why_rebuild(folder, manifest, settings, documents)
    if why:
        return IndexPlan(False, f"rebuilding {folder}: {why}")
    return IndexPlan(
        True,
        f"reusing the index in {folder}, written by this app on {manifest.get('written')} "
        f"({manifest.get('chunks')} chunks; documents and settings unchanged)",
    )


def clear_index(folder: Path, app: str) -> None:
    """Before a (re)build: delete this app's manifest, then the files it lists, and nothing else.

    The manifest goes first, so a half-written index is never reused. :func:`plan_index` has made sure
    the folder holds nothing else.
    """
    manifest = _read_manifest(folder, app) if folder.exists() else None
    (folder / MANIFEST).unlink(missing_ok=True)
    for name in (manifest or {}).get("index_files", {}):
        path = folder / name
        if path.is_file() or path.is_symlink():
            path.unlink()
    folder.mkdir(parents=True, exist_ok=True)


def write_manifest(
    folder: Path, app: str, settings: dict, documents: dict[str, str], chunks: int, index: dict[str, object]
) -> None:
    """Record what the index in ``folder`` was built from, and what it is (``index``:
    :func:`embeddinggemma.vector_index.describe`: precision, dimensions, the int8 calibration's hash);
    written last, after the index files."""
    manifest = {
        "index": index,
        "app": app,
        "format": MANIFEST_FORMAT,
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": settings,
        "documents": documents,
        "chunks": chunks,
        "index_files": _index_files(folder),
    }
    (folder / MANIFEST).write_text(json.dumps(sign(manifest), indent=2, sort_keys=True), encoding="utf-8")


def check_loaded(folder: Path, app: str, index: dict[str, object]) -> None:
    """The loaded index is the one the manifest describes (precision, dimensions, calibration), else an
    error: a search over other vectors than recorded is never run."""
    recorded = (_read_manifest(folder, app) or {}).get("index")
    if recorded != index:
        raise index_damaged(folder, f"the index is {index}, its manifest records {recorded}")


def index_damaged(folder: Path, what: object) -> AppError:
    """The error for an index whose files pass the manifest but do not load (edited along with it)."""
    detail = str(what).strip().splitlines()[0] if str(what).strip() else type(what).__name__
    return AppError(f"cannot load the index in {folder} ({detail}): run again with --rebuild to re-embed.")


def _own_manifest(folder: Path, app: str) -> dict[str, Any]:
    """This app's manifest in ``folder``; an error when the folder holds anything else."""
    manifest = _read_manifest(folder, app)
    if manifest is None:
        raise AppError(
            f"not loading or overwriting {folder}: it holds files but no manifest written by {app}, and this "
            "app only loads indexes it wrote itself. Choose another --index-dir, or delete that folder yourself."
        )
    foreign = sorted(p.name for p in folder.iterdir() if p.name != MANIFEST and p.name not in manifest["index_files"])
    if foreign:
        raise AppError(
            f"not loading or overwriting {folder}: it holds files this app did not write ({', '.join(foreign)}). "
            "Move them away, or choose another --index-dir."
        )
    return manifest


def _why_rebuild(folder: Path, manifest: dict[str, Any], settings: dict, documents: dict[str, str]) -> str | None:
    """Why the index in ``folder`` cannot be reused, or ``None`` when it can."""
    if manifest["format"] != MANIFEST_FORMAT:
        return "it was written by an older version of this app (not loading it)"
    if _index_files(folder) != manifest["index_files"]:
        return "its files changed after this app wrote them (not loading them)"
    old = manifest["settings"]
    changed = [
        f"{key} {old.get(key)!r} -> {value!r}"
        for key, value in settings.items()
        if old.get(key) != value and key != "vectors"
    ]
    if changed or old.get("vectors") != settings.get("vectors"):
        return f"embedding settings changed ({'; '.join(changed) or 'vector identity'})"
    if manifest["documents"] != documents:
        return f"documents changed ({_changes(manifest['documents'], documents)})"
    return None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _index_files(folder: Path) -> dict[str, str]:
    return {p.name: _sha256(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name != MANIFEST}


def _is_plain_name(name: object) -> bool:
    """A file name with no folder in it: a manifest must not make :func:`clear_index` reach outside."""
    return isinstance(name, str) and name not in ("", ".", "..", MANIFEST) and Path(name).name == name


def _read_manifest(folder: Path, app: str) -> dict[str, Any] | None:
    """This app's manifest in ``folder``, or ``None`` when there is none, another program's, or a malformed one."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ours = isinstance(manifest, dict) and manifest.get("app") == app
    if not ours or manifest.get("format") not in range(1, MANIFEST_FORMAT + 1):
        return None
    files, settings, documents = (manifest.get(key) for key in ("index_files", "settings", "documents"))
    ok = isinstance(files, dict) and all(_is_plain_name(name) for name in files)
    return manifest if ok and isinstance(settings, dict) and isinstance(documents, dict) else None


def _changes(old: dict[str, str], new: dict[str, str]) -> str:
    parts = []
    for label, names in (
        ("added", [n for n in new if n not in old]),
        ("modified", [n for n in new if n in old and new[n] != old[n]]),
        ("removed", [n for n in old if n not in new]),
    ):
        if names:
            shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            parts.append(f"{label} {shown}")
    return "; ".join(parts)
