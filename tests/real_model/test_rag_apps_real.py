"""The RAG example apps with the real model, run as a user runs them: each question retrieves the document that
answers it (across languages too), and the fake Ollama's answer cites it."""

from __future__ import annotations

import pytest
from _support.apps import ANSWER, APPS, SAMPLE_DOCS, passages, run_app, squash
from _support.ollama import OllamaServer

KNOWN_QUESTIONS = {
    "Which numeric type makes the model output NaN vectors?": "float16-and-precision.md",
    "What does reciprocal rank fusion do?": "bm25-and-hybrid-search.md",
    "Which port does the local Ollama server listen on?": "ollama.md",
    "Why is it dangerous to open an index.pkl file downloaded from the internet?": "pickle-safety.md",
    "How can I make my vectors smaller without retraining the model?": "matryoshka-embeddings.md",
    "What is a cross-encoder used for?": "reranking.md",
    "How does a recursive splitter decide where to cut a document?": "chunking.md",
}
# A question in one language whose answer is written only in another (the sample corpus has German,
# Spanish, Japanese and Arabic documents on topics no English document covers).
CROSS_LINGUAL_QUESTIONS = {
    "How do I back up and restore a vector index?": "de-vektorindex-sichern.md",
    "¿Cómo se mide la latencia p99 de una búsqueda vectorial?": "ja-vector-search-latency.md",
    "個人情報を索引に入れる前に匿名化するには？": "es-anonimizar-datos.md",
    "Wie aktualisiert man den Index, wenn sich ein Dokument ändert, ohne alles neu zu berechnen?": (
        "ar-updating-the-index.md"
    ),
}


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
