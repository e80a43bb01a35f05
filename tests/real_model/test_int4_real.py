"""``quantization="int4"`` on the real model: the model card's similarities through both adapters, and the mean
cosine to float32 (the tiny model's checks of the graph: ``tests/integration/test_int4.py``).

Measured on the real model (2-core AMD EPYC with AVX-512 VNNI, ONNX Runtime 1.32, 2 threads, block 32,
activation-aware channel scales, 8-bit Dense layers): mean cosine to float32 0.993 on STSBenchmark
sentences, 0.983 on 350-token passages, 0.990 on the model card's five texts, whose similarities moved
by up to 0.023 (the model card check here holds 0.03; 0.01 is not reached by any 4-bit recipe tried
here: plain round-to-nearest 0.028, block 16 0.025, asymmetric 0.022-0.024, 8-bit v/o/down 0.013).
"""

from __future__ import annotations

import numpy as np
import pytest
from _support import MODEL_CARD_SIMILARITIES
from _support.apps import SAMPLE_DOCS
from _support.vectors import cosines

REAL_TOLERANCE = 0.03
"""Largest move of a model card similarity: measured 0.023 (plain round-to-nearest: 0.028)."""
REAL_FLOORS = {"card": 0.985, "passages": 0.97}
"""Mean cosine to float32: measured 0.990 on the model card's texts, 0.983 on 350-token passages."""


def _card_similarities(model: str, adapter: str, **settings) -> np.ndarray:
    from quickstart import DOCUMENTS, QUERY

    if adapter == "langchain":
        from langchain_embeddinggemma import EmbeddingGemmaEmbeddings

        lc = EmbeddingGemmaEmbeddings(model=model, **settings)
        return np.array(lc.embed_documents(DOCUMENTS)) @ np.array(lc.embed_query(QUERY))
    from llama_index_embeddinggemma import EmbeddingGemmaEmbedding

    li = EmbeddingGemmaEmbedding(model_name=model, **settings)
    return np.array(li.get_text_embedding_batch(DOCUMENTS)) @ np.array(li.get_query_embedding(QUERY))


@pytest.mark.parametrize("adapter", ["langchain", "llama_index"])
def test_real_model_card_similarities_through_both_adapters(real_model, adapter):
    similarities = _card_similarities(real_model, adapter, quantization="int4")
    np.testing.assert_allclose(similarities, MODEL_CARD_SIMILARITIES, atol=REAL_TOLERANCE)
    assert similarities.argmax() == 1  # Mars; the next two are 0.004 apart in float32, too close to keep order


@pytest.mark.xfail(strict=True, reason="4-bit weights of this (not QAT) checkpoint move a similarity by 0.023")
def test_real_model_card_similarities_within_the_float_tolerance(real_model):
    similarities = _card_similarities(real_model, "langchain", quantization="int4")
    np.testing.assert_allclose(similarities, MODEL_CARD_SIMILARITIES, atol=0.01)


def _passages(count: int = 6) -> list[str]:
    files = sorted(SAMPLE_DOCS.glob("*.md"))[:count]
    return [" ".join(path.read_text(encoding="utf-8").split()[:300]) for path in files]


def test_real_model_mean_cosine_to_float32(real_model, capsys):
    from quickstart import DOCUMENTS, QUERY

    from embeddinggemma import Embedder

    exact, small = Embedder(model=real_model, engine="onnxruntime"), Embedder(model=real_model, quantization="int4")
    card = np.concatenate(
        [
            cosines(small.embed([QUERY], side="query"), exact.embed([QUERY], side="query")),
            cosines(small.embed(DOCUMENTS), exact.embed(DOCUMENTS)),
        ]
    )
    passages = cosines(small.embed(_passages()), exact.embed(_passages()))
    with capsys.disabled():
        print(
            f"\nint4 mean cosine to float32: card {card.mean():.4f} (min {card.min():.4f}), passages "
            f"{passages.mean():.4f} (min {passages.min():.4f})"
        )
    assert card.mean() > REAL_FLOORS["card"], card
    assert passages.mean() > REAL_FLOORS["passages"], passages
