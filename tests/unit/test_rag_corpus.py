"""The RAG apps' corpus loader, in process: text files with their titles and fingerprints; links out of --docs,
files that are not text and folders without documents are skipped or refused, and named."""

import hashlib

import pytest

# The examples folder is not a package; pytest's pythonpath (pyproject.toml) makes its modules importable.
import rag_corpus
import rag_output
from _support.apps import PNG, SAMPLE_DOCS


def test_load_corpus_reads_text_files_with_titles(tmp_path, capsys):
    assert len(rag_corpus.load_corpus(SAMPLE_DOCS)) >= 30
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "my_notes-file.txt").write_text("no heading here\n")
    (tmp_path / "a.md").write_bytes("\ufeffintro\n# The Title\ntext\n".encode())  # a byte-order mark
    (tmp_path / ".hidden.md").write_text("# hidden\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "notes.md").write_text("# hidden too\n")
    (tmp_path / "image.png").write_bytes(PNG)
    corpus = rag_corpus.load_corpus(tmp_path)
    assert [(doc.source, doc.title) for doc in corpus] == [
        ("a.md", "The Title"),
        ("sub/my_notes-file.txt", "My notes file"),
    ]
    assert corpus[0].text == "intro\n# The Title\ntext\n"
    before = rag_corpus.fingerprint(corpus)
    assert before["a.md"] == hashlib.sha256((tmp_path / "a.md").read_bytes()).hexdigest()
    (tmp_path / "a.md").write_text("changed\n")
    assert rag_corpus.fingerprint(rag_corpus.load_corpus(tmp_path))["a.md"] != before["a.md"]
    assert capsys.readouterr().err == ""  # nothing skipped, nothing said


def test_load_corpus_skips_links_outside_docs_and_names_them(tmp_path, capsys):
    docs, outside = tmp_path / "docs", tmp_path / "outside"
    docs.mkdir()
    outside.mkdir()
    (outside / "private.md").write_text("# Private\n")
    (docs / "a.md").write_text("# A\n")
    (docs / "sub").mkdir()
    (docs / "sub" / "b.md").write_text("# B\n")
    (docs / "x.md").symlink_to("/etc/passwd")
    (docs / "linked").symlink_to(outside)  # a folder link
    (docs / "sub" / "up.md").symlink_to("../../outside/private.md")
    (docs / "inside.md").symlink_to("sub/b.md")  # links inside --docs are fine
    (docs / "more").mkdir()
    (docs / "more" / "c.md").write_text("# C\n")
    (docs / "again").symlink_to(docs / "more")
    (docs / "more" / "loop").symlink_to(docs)  # a loop: not walked again
    (docs / "photo.png").symlink_to("/etc/passwd")  # not a document: not counted

    corpus = rag_corpus.load_corpus(docs)
    assert [doc.source for doc in corpus] == ["a.md", "again/c.md", "inside.md", "more/c.md", "sub/b.md"]
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "note: skipped 3 links pointing outside --docs: linked, sub/up.md, x.md (pass --follow-links" in err

    followed = rag_corpus.load_corpus(docs, follow_links=True)
    assert {"x.md", "linked/private.md", "sub/up.md"} <= {doc.source for doc in followed}
    assert "pointing outside" not in capsys.readouterr().err


def test_load_corpus_skips_files_that_are_not_text_and_names_each(tmp_path, capsys):
    (tmp_path / "good.md").write_text("# Good\n")
    (tmp_path / "image.md").write_bytes(PNG)
    (tmp_path / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    (tmp_path / "nul.md").write_text("text\x00with a NUL\n")
    (tmp_path / "empty.txt").write_text("  \n")
    assert [doc.source for doc in rag_corpus.load_corpus(tmp_path)] == ["good.md"]
    notes = capsys.readouterr().err.splitlines()
    assert notes == [
        "note: skipped empty.txt: it holds no text",
        "note: skipped image.md: not UTF-8 text (byte 0x89 at offset 0); save it as UTF-8 to index it",
        "note: skipped latin1.txt: not UTF-8 text (byte 0xe9 at offset 3); save it as UTF-8 to index it",
        "note: skipped nul.md: binary data (it holds NUL bytes), not text",
    ]
    (tmp_path / "good.md").unlink()
    with pytest.raises(rag_output.AppError, match="none of its .md/.txt files can be indexed"):
        rag_corpus.load_corpus(tmp_path)


def test_load_corpus_refuses_a_folder_without_documents(tmp_path):
    with pytest.raises(rag_output.AppError, match="is not a folder"):
        rag_corpus.load_corpus(tmp_path / "missing")
    with pytest.raises(rag_output.AppError, match="holds no .md or .txt files"):
        rag_corpus.load_corpus(tmp_path)
    (tmp_path / "x.md").symlink_to("/etc/passwd")
    with pytest.raises(rag_output.AppError, match="none of its .md/.txt files can be indexed"):
        rag_corpus.load_corpus(tmp_path)
