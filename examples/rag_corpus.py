"""The documents both RAG apps index: the .md/.txt files under ``--docs``, each read once as strict UTF-8.

Both apps get the same decoded documents, so they index the same files. Never indexed, each with a note:

- a link (to a file or a folder) that resolves outside ``--docs``, unless ``--follow-links``: a docs
  folder from somewhere else must not pull ``~/.ssh`` or ``/etc/passwd`` into the index (and from there
  into the LLM's prompt);
- a file that is not UTF-8 text (a binary named ``.md``), or holds no text.

Hidden files and folders (``.git``, ``.obsidian``) are skipped silently.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from rag_output import AppError, note

DOC_SUFFIXES = (".md", ".txt")


@dataclass(frozen=True)
class SourceDocument:
    """One file of the corpus, decoded."""

    source: str
    """Its path inside ``--docs`` (``notes/faq.md``): how answers cite it."""
    title: str
    text: str
    sha256: str
    """Of the bytes that were read: what the index is built from."""


@dataclass
class _Found:
    files: list[Path] = field(default_factory=list)
    outside_links: list[str] = field(default_factory=list)


def load_corpus(folder: Path, *, follow_links: bool = False) -> list[SourceDocument]:
    """The readable .md/.txt files under ``folder`` (recursively), in a stable order; notes for the rest."""
    if not folder.is_dir():
        raise AppError(f"--docs {folder} is not a folder: pass a folder of .md or .txt files.")
    root = folder.resolve()
    found = _Found()
    _walk(root, root, follow_links, found, frozenset())
    if not found.files and not found.outside_links:
        raise AppError(f"--docs {folder} holds no .md or .txt files: add some, or pass another folder.")
    if found.outside_links:
        _note_outside_links(found.outside_links)
    documents = [document for path in found.files if (document := _read(path, root)) is not None]
    if not documents:
        raise AppError(
            f"--docs {folder}: none of its .md/.txt files can be indexed (see the notes above): "
            "add UTF-8 text files, or pass another folder."
        )
    return documents


def fingerprint(documents: list[SourceDocument]) -> dict[str, str]:
    """``{source: sha256}``: what an index is built from."""
    return {document.source: document.sha256 for document in documents}


def document_title(text: str, path: Path) -> str:
    """The first markdown heading, else the file name made readable (``bm25-and-hybrid`` → ``Bm25 and hybrid``)."""
    for line in text.splitlines():
        if line.startswith("# ") and line[2:].strip():
            return line[2:].strip()
    return path.stem.replace("-", " ").replace("_", " ").strip().capitalize() or path.name


def _walk(folder: Path, root: Path, follow_links: bool, found: _Found, above: frozenset[Path]) -> None:
    """Collect the files under ``folder``; ``above`` holds the real folders this walk is inside."""
    real = folder.resolve()
    if real in above:
        return  # a link back to a folder we are in: walking it would never end
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        is_folder = path.is_dir()  # follows links
        if not is_folder and path.suffix.lower() not in DOC_SUFFIXES:
            continue
        if path.is_symlink() and not follow_links and not path.resolve().is_relative_to(root):
            found.outside_links.append(_source(path, root))
        elif is_folder:
            _walk(path, root, follow_links, found, above | {real})
        elif path.is_file():
            found.files.append(path)


def _note_outside_links(links: list[str]) -> None:
    one = len(links) == 1
    note(
        f"skipped {len(links)} link{'' if one else 's'} pointing outside --docs: {', '.join(links)} "
        f"(pass --follow-links to index what {'it points' if one else 'they point'} to)"
    )


def _source(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()  # lexical: a followed link keeps its own name


def _read(path: Path, root: Path) -> SourceDocument | None:
    """The decoded file, or ``None`` after a note saying why it is skipped."""
    source, data = _source(path, root), path.read_bytes()
    try:
        text = data.decode("utf-8-sig")  # strict; -sig drops the byte-order mark some editors write
    except UnicodeDecodeError as error:
        note(
            f"skipped {source}: not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start}); "
            "save it as UTF-8 to index it"
        )
        return None
    if "\x00" in text:
        note(f"skipped {source}: binary data (it holds NUL bytes), not text")
        return None
    if not text.strip():
        note(f"skipped {source}: it holds no text")
        return None
    return SourceDocument(source, document_title(text, path), text, hashlib.sha256(data).hexdigest())
