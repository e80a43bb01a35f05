"""LangChain adapter: prompts, titles, async, FAISS, settings (tiny model, every backend). LangChain's standard
suites: ``test_langchain_standard.py``."""

import numpy as np
import pytest
from _support.backends import BACKENDS, heartbeat, settings_for
from langchain_core.documents import Document

from embeddinggemma import Embedder
from langchain_embeddinggemma import EmbeddingGemmaEmbeddings


@pytest.fixture(params=BACKENDS)
def served(request, tiny_model):
    """Adapter settings reaching the tiny model in-process, through Ollama, or an OpenAI-compatible server."""
    return settings_for(request.param)


def test_query_and_document_prompts(tiny_model, served):
    lc = EmbeddingGemmaEmbeddings(**served, task="question_answering")
    core = Embedder(model=tiny_model, task="question_answering")
    assert core.prompt(["q"], "query") == ["task: question answering | query: q"]
    np.testing.assert_allclose(lc.embed_query("mars"), core.embed(["mars"], side="query")[0], atol=1e-5)
    np.testing.assert_allclose(lc.embed_documents(["mars"]), core.embed(["mars"], side="document"), atol=1e-5)


def test_titles_from_documents(tiny_model, served):
    lc = EmbeddingGemmaEmbeddings(**served)
    docs = [Document("mars is red", metadata={"title": "Mars"}), Document("venus is hot")]
    pairs = lc.embed_documents_with_titles(docs)
    assert [text for text, _ in pairs] == ["mars is red", "venus is hot"]
    np.testing.assert_allclose(
        [v for _, v in pairs], lc.embed_documents(["mars is red", "venus is hot"], titles=["Mars", None]), atol=1e-5
    )
    assert not np.allclose(pairs[0][1], lc.embed_documents(["mars is red"])[0])


def test_faiss_from_embeddings_with_titles(tiny_model, served):
    from langchain_community.vectorstores import FAISS
    from langchain_community.vectorstores.utils import DistanceStrategy

    lc = EmbeddingGemmaEmbeddings(**served)
    docs = [Document(t, metadata={"title": t.split()[0]}) for t in ["mars is red", "venus is hot", "saturn rings"]]
    store = FAISS.from_embeddings(
        lc.embed_documents_with_titles(docs),
        lc,
        metadatas=[d.metadata for d in docs],
        distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT,
    )
    hits = store.similarity_search_with_score("venus", k=3)
    query = np.array(lc.embed_query("venus"))
    by_hand = sorted(((float(query @ np.array(v)), t) for t, v in lc.embed_documents_with_titles(docs)), reverse=True)
    assert [h.page_content for h, _ in hits] == [t for _, t in by_hand]


async def test_async_does_not_block_event_loop(tiny_model, served):
    lc = EmbeddingGemmaEmbeddings(**served)
    async with heartbeat(interval=0) as beat:
        vectors = await lc.aembed_documents(["mars is red"] * 64)
        query = await lc.aembed_query("mars")
    assert beat.ticks > 1 and len(vectors) == 64 and len(query) == 768
    np.testing.assert_allclose(vectors[0], lc.embed_documents(["mars is red"])[0], atol=1e-5)


def test_settings_validated_with_clear_errors(tiny_model):
    with pytest.raises(ValueError, match="768, 512, 256, 128"):
        EmbeddingGemmaEmbeddings(model=tiny_model, dimensions=300)
    with pytest.raises(ValueError, match="bfloat16"):
        EmbeddingGemmaEmbeddings(model=tiny_model, dtype="float16")
    with pytest.raises(ValueError, match=r"'dimension' is not a setting.*Did you mean 'dimensions'.*Valid settings"):
        EmbeddingGemmaEmbeddings(model=tiny_model, dimension=256)
    with pytest.raises(TypeError, match=r"texts\[0\] is None"):
        EmbeddingGemmaEmbeddings(model=tiny_model).embed_documents([None])
    with pytest.raises(TypeError, match="query must be a string"):
        EmbeddingGemmaEmbeddings(model=tiny_model).embed_query(None)


def test_changing_a_setting_rebuilds_the_pipeline(tiny_model):
    lc = EmbeddingGemmaEmbeddings(model=tiny_model)
    lc.dimensions = 128
    assert len(lc.embed_query("mars")) == 128
    before = lc.model_dump()
    with pytest.raises(ValueError, match="768, 512, 256, 128"):
        lc.dimensions = 300
    assert lc.dimensions == 128 and lc.model_dump() == before  # a refused value changes nothing
    assert len(lc.embed_query("mars")) == 128
    assert EmbeddingGemmaEmbeddings(**lc.model_dump()).model_dump() == before
