"""Retrieval-quality mode on the real model: both adapters score the tiny BEIR sample as sentence-transformers does."""

import pytest

from benchmarks.quality import TINY_BEIR, evaluate_beir, runtime_settings


def test_real_model_adapters_match_sentence_transformers_on_tiny_beir(real_model):
    for library in ("faiss", "langchain_community", "llama_index.vector_stores.faiss"):
        pytest.importorskip(library, reason=f"the ranking runs both frameworks' FAISS stores: needs {library}")
    pytest.importorskip("sentence_transformers", reason="the reference is sentence-transformers (the [torch] extra)")
    scores = evaluate_beir(TINY_BEIR, real_model, ["langchain", "llama_index"], [768], runtime_settings(device="cpu"))
    by_path = {s.path: s for s in scores}
    reference = by_path["sentence_transformers"]
    for path in ("langchain", "llama_index"):
        assert abs(by_path[path].ndcg_at_10 - reference.ndcg_at_10) <= 1e-3, by_path[path]
        assert abs(by_path[path].recall_at_10 - reference.recall_at_10) <= 1e-3, by_path[path]
    # The sample's answers are unambiguous: a working retrieval path finds nearly all of them.
    assert reference.ndcg_at_10 >= 0.8, reference
