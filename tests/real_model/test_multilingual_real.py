"""Non-Latin text on the real model: token counts and the truncation report for CJK and right-to-left text, and
both adapters' vectors against sentence-transformers in other scripts, titles included."""

from __future__ import annotations

import numpy as np
import pytest
from _support.multilingual import TEXTS, TITLES, check_counts_and_report

from embeddinggemma import Embedder


def test_real_model_token_counts_and_truncation_report_for_cjk_and_right_to_left_text(real_model):
    check_counts_and_report(real_model)


def test_real_model_both_adapters_match_sentence_transformers_in_other_scripts(real_model):
    pytest.importorskip("sentence_transformers", reason="the reference is sentence-transformers (the [torch] extra)")
    from sentence_transformers import SentenceTransformer

    from langchain_embeddinggemma import EmbeddingGemmaEmbeddings
    from llama_index_embeddinggemma import EmbeddingGemmaEmbedding

    langs = list(TEXTS)
    texts, titles = [TEXTS[lang] for lang in langs], [TITLES.get(lang) for lang in langs]
    reference_model = SentenceTransformer(real_model, device="cpu")
    prompted = Embedder(model=real_model).prompt(texts, "document", titles)
    reference = reference_model.encode(prompted, prompt="", normalize_embeddings=True)
    queries = reference_model.encode_query(texts, normalize_embeddings=True)
    langchain = EmbeddingGemmaEmbeddings(model=real_model)
    llama_index = EmbeddingGemmaEmbedding(model_name=real_model)
    documents = np.array(langchain.embed_documents(texts, titles=titles))
    assert (documents * reference).sum(1).min() >= 0.99999
    from llama_index.core.schema import TextNode

    nodes = [
        TextNode(text=t, metadata={"title": title} if title else {}) for t, title in zip(texts, titles, strict=True)
    ]
    for node in nodes:
        node.excluded_embed_metadata_keys = ["title"]
    embedded = np.array([n.embedding for n in llama_index(nodes)])
    assert (embedded * reference).sum(1).min() >= 0.99999
    asked = np.array([langchain.embed_query(t) for t in texts])
    assert (asked * queries).sum(1).min() >= 0.99999
