"""``--index-precision`` in both RAG apps, run as a user runs them (the tiny model): LangChain's FAISS store and
LlamaIndex's FaissVectorStore over float16 / int8 FAISS indexes, the package's retriever over the binary
index; the same top passages as float32, the precision and calibration in the manifest, a change of
precision rebuilds, a damaged index file is never searched."""

from __future__ import annotations

import json
import subprocess

import pytest
import rag_index
from _support import flip_bits
from _support.apps import APPS, closed_port_url, passages, run_app

pytest.importorskip("faiss", reason="the apps' index is FAISS (the [examples] extra)")

QUESTIONS = [
    "Which numeric type makes the model output NaN vectors?",
    "What does reciprocal rank fusion do?",
    "Which port does the local Ollama server listen on?",
]


def retrieve(app: str, index, *args: str) -> subprocess.CompletedProcess:
    questions = [flag for question in QUESTIONS for flag in ("-q", question)]
    return run_app(app, index, "--retrieval-only", "-k", "3", *questions, *args, url=closed_port_url())


def top_hits(stdout: str) -> list[str]:
    return [source for rank, _, source in passages(stdout) if rank == 1]


@pytest.mark.parametrize("app", APPS)
def test_each_precision_finds_what_float32_finds_and_a_change_rebuilds(app, tmp_path):
    exact = retrieve(app, tmp_path / "float32")
    assert exact.returncode == 0, exact.stderr
    expected = top_hits(exact.stdout)
    assert len(expected) == len(QUESTIONS)
    index = tmp_path / "index"
    for precision in ("float16", "int8", "binary"):
        run = retrieve(app, index, "--index-precision", precision)
        assert run.returncode == 0, run.stderr
        assert top_hits(run.stdout) == expected, precision
        manifest = json.loads((index / rag_index.MANIFEST).read_text())
        assert manifest["index"]["precision"] == precision and manifest["settings"]["index_precision"] == precision
        assert (manifest["index"]["calibration"] is None) == (precision == "float16")
        assert not list(index.glob("*.pkl"))
    assert "index_precision 'int8' -> 'binary'" in run.stdout
    again = retrieve(app, index, "--index-precision", "binary")
    assert "reusing the index" in again.stdout and top_hits(again.stdout) == expected
    binary_file = index / "binary.faissb"
    flip_bits(binary_file, every=16)
    damaged = retrieve(app, index, "--index-precision", "binary")
    assert damaged.returncode == 0, damaged.stderr
    assert "its files changed after this app wrote them" in damaged.stdout  # rebuilt, never searched
    assert top_hits(damaged.stdout) == expected


@pytest.mark.parametrize("app", APPS)
def test_binary_with_float32_rescoring_and_fewer_dimensions(app, tmp_path):
    exact = retrieve(app, tmp_path / "float32", "--dimensions", "256")
    run = retrieve(
        app, tmp_path / "index", "--dimensions", "256", "--index-precision", "binary", "--rescore", "float32"
    )
    assert run.returncode == 0, run.stderr
    assert top_hits(run.stdout) == top_hits(exact.stdout)
    manifest = json.loads((tmp_path / "index" / rag_index.MANIFEST).read_text())
    assert manifest["index"] == {
        "precision": "binary",
        "dimensions": 256,
        "rescore": "float32",
        "oversample": 10,
        "calibration": None,
    }
    bad = retrieve(app, tmp_path / "index", "--index-precision", "int4")
    assert bad.returncode != 0 and "invalid choice: 'int4'" in bad.stderr
