"""``--index-precision`` with the real model, in both apps as a user runs them: every sample question (the
cross-lingual ones too) still retrieves its answering document first at every precision, with the full
768 dimensions and with 256 (the vectors come from one shared vector cache: only the index changes)."""

from __future__ import annotations

import pytest
from _support.apps import APPS, CROSS_LINGUAL_QUESTIONS, KNOWN_QUESTIONS, closed_port_url, passages, run_app

pytest.importorskip("faiss", reason="the apps' index is FAISS (the [examples] extra)")

QUESTIONS = {**KNOWN_QUESTIONS, **CROSS_LINGUAL_QUESTIONS}


@pytest.mark.parametrize("app", APPS)
def test_every_precision_retrieves_each_questions_document_first(app, real_model, tmp_path):
    questions = [flag for question in QUESTIONS for flag in ("-q", question)]
    for dimensions in ("768", "256"):
        for precision in ("float32", "float16", "int8", "binary"):
            run = run_app(
                app,
                tmp_path / f"index-{dimensions}-{precision}",
                "--retrieval-only",
                "-k",
                "3",
                "--dimensions",
                dimensions,
                "--index-precision",
                precision,
                "--cache-dir",
                str(tmp_path / "vectors"),
                *questions,
                url=closed_port_url(),
                model=real_model,
            )
            assert run.returncode == 0, run.stderr
            firsts = [source for rank, _, source in passages(run.stdout) if rank == 1]
            assert firsts == list(QUESTIONS.values()), (dimensions, precision)
