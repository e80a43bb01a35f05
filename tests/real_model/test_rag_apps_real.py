"""The RAG example apps with the real model, run as a user runs them: each question retrieves the document that
answers it (across languages too), and the fake Ollama's answer cites it."""

from __future__ import annotations

import pytest
from _support.apps import ANSWER, APPS, CROSS_LINGUAL_QUESTIONS, KNOWN_QUESTIONS, SAMPLE_DOCS, passages, run_app, squash
from _support.ollama import OllamaServer


@pytest.mark.parametrize("app", APPS)
def test_real_model_retrieves_the_right_source_and_the_answer_cites_it(app, real_model, tmp_path):
    questions = {**KNOWN_QUESTIONS, **CROSS_LINGUAL_QUESTIONS}
    args = ["-k", "3"]
    for question in questions:
        args += ["-q", question]
    with OllamaServer() as server:
        result = run_app(app, tmp_path / "index", *args, url=server.url, model=real_model)
    assert result.returncode == 0, result.stderr
    blocks = result.stdout.split("\nquestion: ")[1:]
    assert len(blocks) == len(questions)
    for block, (question, expected) in zip(blocks, questions.items(), strict=True):
        assert block.startswith(question)
        top = passages(block)
        assert top[0][2] == expected, f"{question!r}: got {top}"
        assert 0 < top[0][1] <= 1
        if question in CROSS_LINGUAL_QUESTIONS:
            assert top[0][1] - top[1][1] > 0.05, f"{question!r}: no clear winner in {top}"
            continue
        answer = ANSWER.search(block)
        assert answer and answer.group(1) == expected
        assert answer.group(2) in squash((SAMPLE_DOCS / expected).read_text())
