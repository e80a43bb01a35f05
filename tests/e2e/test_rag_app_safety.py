"""The RAG example apps never run code from their index folder and never leave --docs: subprocesses on the tiny
model, facing a planted pickle, a forged manifest, a tampered docstore, links out of --docs and files that are
not text."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from pathlib import Path

import pytest

# The examples folder is not a package; pytest's pythonpath (pyproject.toml) makes its modules importable.
import rag_index
import rag_signing
from _support.apps import (
    APPS,
    PNG,
    SAMPLE_DOCS,
    closed_port_url,
    config_home,
    one_line_error,
    passages,
    run_app,
    sources,
)

# Where each app keeps the chunk texts: JSON that a tampered folder can change.
DOCSTORE = {"langchain_rag": "chunks.json", "llama_index_rag": "docstore.json"}


class _Exploit:
    """Unpickling this creates ``marker``: proof that something loaded a pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def malicious_pickle(marker: Path) -> bytes:
    payload = pickle.dumps(_Exploit(marker))
    probe = marker.with_name(marker.name + "-probe")
    pickle.loads(pickle.dumps(_Exploit(probe)))  # the payload is live: unpickling it does create the file
    assert probe.exists()
    probe.unlink()
    return payload


def forge_manifest(index: Path, *, signed: bool = False, **changes: object) -> None:
    """What anyone who can write the folder can do: make the manifest list their files with their hashes.
    ``signed``: with the user's own key too, as only someone who also stole that key could."""
    path = index / rag_index.MANIFEST
    manifest = json.loads(path.read_text())
    files = sorted(p for p in index.iterdir() if p.name != rag_index.MANIFEST)
    manifest["index_files"] = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    manifest.update(changes)
    if signed:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("XDG_CONFIG_HOME", str(config_home(index)))
            manifest = rag_signing.sign(manifest)
    path.write_text(json.dumps(manifest))


NOT_SIGNED = "its manifest is not signed with this user's key"


@pytest.mark.parametrize("app", APPS)
def test_refuses_to_load_an_index_it_did_not_write(app, tmp_path):
    index = tmp_path / "index"
    index.mkdir()
    marker = tmp_path / "pwned"
    (index / "index.pkl").write_bytes(malicious_pickle(marker))
    (index / "index.faiss").write_bytes(b"not an index")
    result = run_app(app, index, "--retrieval-only", url=closed_port_url())
    error = one_line_error(result)
    assert "not loading or overwriting" in error and "Choose another --index-dir" in error
    assert not marker.exists()


@pytest.mark.parametrize("app", APPS)
def test_a_pickle_in_the_index_folder_never_runs_even_with_a_forged_manifest(app, tmp_path):
    index, marker, down = tmp_path / "index", tmp_path / "pwned", closed_port_url()
    built = run_app(app, index, "--retrieval-only", url=down)
    assert built.returncode == 0, built.stderr

    # A manifest that lists the pickle with its true hash, but is not signed with the user's key: rebuilt
    # (deleting only what it lists), never served.
    (index / "index.pkl").write_bytes(malicious_pickle(marker))
    forge_manifest(index)
    rebuilt = run_app(app, index, "--retrieval-only", url=down)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert NOT_SIGNED in rebuilt.stdout and "reusing the index" not in rebuilt.stdout
    assert not (index / "index.pkl").exists() and not marker.exists()

    # Signed with the user's own key (someone who stole it): served, and still the app loads only the
    # files it reads (JSON and FAISS's format), never index.pkl.
    (index / "index.pkl").write_bytes(malicious_pickle(marker))
    forge_manifest(index, signed=True)
    reused = run_app(app, index, "--retrieval-only", url=down)
    assert reused.returncode == 0, reused.stderr
    assert "reusing the index" in reused.stdout
    assert passages(reused.stdout) == passages(built.stdout)
    assert not marker.exists()

    # Signed and forged as the older format (whose LangChain index was a pickle): rebuilt, never loaded.
    forge_manifest(index, signed=True, format=1)
    rebuilt = run_app(app, index, "--retrieval-only", url=down)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "written by an older version of this app (not loading it)" in rebuilt.stdout
    assert not (index / "index.pkl").exists()
    assert not marker.exists()


@pytest.mark.parametrize("app", APPS)
def test_a_tampered_docstore_is_rebuilt_not_served_and_runs_no_code(app, tmp_path):
    index, marker, down = tmp_path / "index", tmp_path / "pwned", closed_port_url()
    built = run_app(app, index, "--retrieval-only", "-k", "1", url=down)
    assert built.returncode == 0, built.stderr
    top = passages(built.stdout)[0][2]
    docstore = index / DOCSTORE[app]
    planted = "TAMPERED text planted in the index."

    # Edited, and the manifest's hashes rewritten to match: the signature no longer verifies.
    docstore.write_text(replace_texts(json.loads(docstore.read_text()), top, planted))
    forge_manifest(index)
    tampered = run_app(app, index, "--retrieval-only", "-k", "1", url=down)
    assert tampered.returncode == 0, tampered.stderr
    assert NOT_SIGNED in tampered.stdout and planted not in tampered.stdout
    assert passages(tampered.stdout) == passages(built.stdout)

    # With the user's stolen key, wrong text is the worst it can do; a pickle where JSON belongs runs nothing.
    docstore.write_text(replace_texts(json.loads(docstore.read_text()), top, planted))
    forge_manifest(index, signed=True)
    served = run_app(app, index, "--retrieval-only", "-k", "1", url=down)
    assert "reusing the index" in served.stdout and planted in served.stdout
    docstore.write_bytes(malicious_pickle(marker))
    forge_manifest(index, signed=True)
    error = one_line_error(run_app(app, index, "--retrieval-only", url=down))
    assert f"cannot load the index in {index}" in error and "--rebuild" in error
    assert not marker.exists()


@pytest.mark.parametrize("app", APPS)
def test_an_index_copied_from_another_user_is_rebuilt_and_the_key_stays_private(app, tmp_path):
    index, down = tmp_path / "index", closed_port_url()
    built = run_app(app, index, "--retrieval-only", url=down)
    assert built.returncode == 0, built.stderr
    key = config_home(index) / "embeddinggemma" / "index-key"
    assert key.is_file() and (key.stat().st_mode & 0o777) == 0o600
    assert not any(path.name == key.name for path in index.iterdir())  # never in the index folder
    manifest = json.loads((index / rag_index.MANIFEST).read_text())  # still readable JSON
    assert manifest["signature"].startswith("hmac-sha256:") and manifest["app"] == app

    key.write_text("00" * 32)  # another user's key (or this index copied to another machine)
    copied = run_app(app, index, "--retrieval-only", url=down)
    assert copied.returncode == 0, copied.stderr
    assert NOT_SIGNED in copied.stdout and passages(copied.stdout) == passages(built.stdout)
    assert "reusing the index" in run_app(app, index, "--retrieval-only", url=down).stdout  # re-signed

    key.chmod(0o644)
    error = one_line_error(run_app(app, index, "--retrieval-only", url=down))
    assert "can be read or written by other users" in error and f"chmod 600 {key}" in error


def replace_texts(value: object, source: str, text: str) -> str:
    """The docstore JSON with the text of every chunk of ``source`` replaced (either app's layout)."""

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str) and (node.get("metadata") or {}).get("source") == source:
                node["text"] = text
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(value)
    return json.dumps(value)


@pytest.mark.parametrize("app", APPS)
def test_indexes_only_text_files_inside_docs_unless_told_to_follow_links(app, tmp_path):
    docs, index, down = tmp_path / "docs", tmp_path / "index", closed_port_url()
    docs.mkdir()
    shutil.copy(SAMPLE_DOCS / "ollama.md", docs)
    shutil.copy(SAMPLE_DOCS / "reranking.md", docs)
    secret = tmp_path / "secret.txt"
    secret.write_text("# Secret\n\nSECRET-TOKEN-42 lives outside the docs folder.\n")
    (docs / "x.md").symlink_to(secret)
    (docs / "same.md").symlink_to(docs / "ollama.md")  # a link inside --docs is fine
    (docs / "image.md").write_bytes(PNG)

    result = run_app(app, index, "--retrieval-only", "-k", "50", url=down, docs=docs)
    assert result.returncode == 0, result.stderr
    assert "skipped 1 link pointing outside --docs: x.md (pass --follow-links" in result.stderr
    assert "skipped image.md: not UTF-8 text (byte 0x89 at offset 0)" in result.stderr
    assert sources(result.stdout) == {"ollama.md", "reranking.md", "same.md"}
    assert not any(b"SECRET-TOKEN-42" in path.read_bytes() for path in index.iterdir())

    followed = run_app(app, index, "--retrieval-only", "-k", "50", "--follow-links", url=down, docs=docs)
    assert followed.returncode == 0, followed.stderr
    assert "documents changed (added x.md)" in followed.stdout
    assert "pointing outside" not in followed.stderr
    assert sources(followed.stdout) == {"ollama.md", "reranking.md", "same.md", "x.md"}
    assert "SECRET-TOKEN-42" in followed.stdout


@pytest.mark.parametrize("app", APPS)
def test_a_docs_folder_with_nothing_readable_is_one_clear_error(app, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "image.md").write_bytes(PNG)
    result = run_app(app, tmp_path / "index", "--retrieval-only", url=closed_port_url(), docs=docs)
    error = one_line_error(result)
    assert "none of its .md/.txt files can be indexed" in error
    assert "skipped image.md" in result.stderr
    assert not (tmp_path / "index").exists()
