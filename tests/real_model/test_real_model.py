"""The real google/embeddinggemma-300m: runs whenever EMBEDDINGGEMMA_MODEL is set."""

from pathlib import Path

import numpy as np
import pytest
from _support import MODEL_CARD_SIMILARITIES
from quickstart import DOCUMENTS, QUERY  # noqa: E402  the model card's example, as the README runs it


@pytest.fixture(scope="module")
def langchain_embeddings(real_model):
    from langchain_embeddinggemma import EmbeddingGemmaEmbeddings

    return EmbeddingGemmaEmbeddings(model=real_model, device="cpu")


@pytest.fixture(scope="module")
def llama_embedding(real_model):
    from llama_index_embeddinggemma import EmbeddingGemmaEmbedding

    return EmbeddingGemmaEmbedding(model_name=real_model, device="cpu")


def test_langchain_reproduces_model_card(langchain_embeddings):
    q = np.array(langchain_embeddings.embed_query(QUERY))
    d = np.array(langchain_embeddings.embed_documents(DOCUMENTS))
    np.testing.assert_allclose(d @ q, MODEL_CARD_SIMILARITIES, atol=0.004)


def test_llama_index_reproduces_model_card(llama_embedding):
    q = np.array(llama_embedding.get_query_embedding(QUERY))
    d = np.array(llama_embedding.get_text_embedding_batch(DOCUMENTS))
    np.testing.assert_allclose(d @ q, MODEL_CARD_SIMILARITIES, atol=0.004)


def test_equals_sentence_transformers_encode_query_and_document(real_model, langchain_embeddings, llama_embedding):
    pytest.importorskip("sentence_transformers", reason="the reference is sentence-transformers (the [torch] extra)")
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(real_model, device="cpu")
    ref_q = st.encode_query([QUERY])
    ref_d = st.encode_document(DOCUMENTS)
    np.testing.assert_allclose([langchain_embeddings.embed_query(QUERY)], ref_q, atol=1e-5)
    np.testing.assert_allclose(langchain_embeddings.embed_documents(DOCUMENTS), ref_d, atol=1e-5)
    np.testing.assert_allclose([llama_embedding.get_query_embedding(QUERY)], ref_q, atol=1e-5)
    np.testing.assert_allclose(llama_embedding.get_text_embedding_batch(DOCUMENTS), ref_d, atol=1e-5)


@pytest.mark.parametrize("dims", [512, 256, 128])
def test_smaller_dimensions_are_renormalised_prefixes(real_model, langchain_embeddings, dims):
    from langchain_embeddinggemma import EmbeddingGemmaEmbeddings

    full = np.array(langchain_embeddings.embed_documents(DOCUMENTS))
    smaller = EmbeddingGemmaEmbeddings(model=real_model, device="cpu", dimensions=dims)
    small = np.array(smaller.embed_documents(DOCUMENTS))
    np.testing.assert_allclose(np.linalg.norm(small, axis=1), 1, atol=1e-5)
    expected = full[:, :dims] / np.linalg.norm(full[:, :dims], axis=1, keepdims=True)
    np.testing.assert_allclose(small, expected, atol=1e-5)


def test_llama_index_vector_store_index_retrieves_right_node(real_model, llama_embedding, monkeypatch):
    from llama_index.core import Settings, VectorStoreIndex
    from llama_index.core.schema import TextNode

    monkeypatch.setattr(Settings, "_embed_model", llama_embedding)
    index = VectorStoreIndex([TextNode(text=t, id_=str(i)) for i, t in enumerate(DOCUMENTS)])
    hits = index.as_retriever(similarity_top_k=1).retrieve(QUERY)
    assert hits[0].node.node_id == "1"


def test_huge_text_truncated_to_2048_tokens_and_reported(langchain_embeddings):
    from embeddinggemma import TruncationWarning

    with pytest.warns(TruncationWarning, match="1 of 1 inputs exceeded max_seq_length=2048"):
        (vector,) = langchain_embeddings.embed_documents(["Mars is red. " * 15_400])  # 200,200 characters
    assert np.isfinite(vector).all() and abs(np.linalg.norm(vector) - 1) < 1e-5


def test_vectors_are_identical_to_the_stored_reference(langchain_embeddings, llama_embedding):
    """The model card's example, embedded before the settings/pipeline refactor (tests/data), is reproduced
    by both adapters: a change of shape must not change a single vector."""
    stored = np.load(Path(__file__).resolve().parents[1] / "data" / "model_card_vectors.npz")
    for query, documents in (
        (langchain_embeddings.embed_query(QUERY), langchain_embeddings.embed_documents(DOCUMENTS)),
        (llama_embedding.get_query_embedding(QUERY), llama_embedding.get_text_embedding_batch(DOCUMENTS)),
    ):
        np.testing.assert_allclose(query, stored["query"], atol=1e-6)
        np.testing.assert_allclose(documents, stored["documents"], atol=1e-6)
