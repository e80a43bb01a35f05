"""LlamaIndex adapter: prompts, node titles, batch size, round-trip, index and pipeline (tiny model)."""

import numpy as np
import pytest
from _support.backends import BACKENDS, settings_for
from llama_index.core import Settings, VectorStoreIndex
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.schema import MetadataMode, TextNode

from embeddinggemma import Embedder
from llama_index_embeddinggemma import EmbeddingGemmaEmbedding


@pytest.fixture(params=BACKENDS)
def served(request, tiny_model):
    """Adapter settings reaching the tiny model in-process, through Ollama, or an OpenAI-compatible server."""
    settings = settings_for(request.param)
    return {"model_name": settings.pop("model"), **settings} if "model" in settings else settings


def test_defaults_and_class_name(tiny_model):
    emb = EmbeddingGemmaEmbedding(model_name=tiny_model)
    assert emb.class_name() == "EmbeddingGemmaEmbedding"
    assert emb.embed_batch_size >= 32


def test_round_trip_every_setting(tiny_model):
    emb = EmbeddingGemmaEmbedding(
        model_name=tiny_model,
        task="clustering",
        dimensions=128,
        truncation="error",
        max_seq_length=512,
        device="cpu",
        dtype="float32",
        embed_batch_size=7,
        query_prompt="Q: ",
        document_prompt="D: ",
        title_key="heading",
        show_progress=True,
    )
    again = EmbeddingGemmaEmbedding.from_dict(emb.to_dict())
    assert again.to_dict() == emb.to_dict()
    assert again.core_settings() == emb.core_settings()
    assert again.model == again.model_name == tiny_model and again.batch_size == again.embed_batch_size == 7


def test_query_and_text_prompts(tiny_model, served):
    emb = EmbeddingGemmaEmbedding(**served, dimensions=512)
    core = Embedder(model=tiny_model, dimensions=512)
    np.testing.assert_allclose(emb.get_query_embedding("mars"), core.embed(["mars"], side="query")[0], atol=1e-5)
    np.testing.assert_allclose(emb.get_text_embedding("mars"), core.embed(["mars"])[0], atol=1e-5)
    batch = emb.get_text_embedding_batch(["a", "b", "c"])
    np.testing.assert_allclose(batch, core.embed(["a", "b", "c"]), atol=1e-5)


async def test_batches_hold_texts_of_similar_lengths_and_vectors_come_back_in_order(tiny_model):
    from llama_index.core.callbacks import CallbackManager, CBEventType, EventPayload, LlamaDebugHandler

    debug = LlamaDebugHandler()
    emb = EmbeddingGemmaEmbedding(model_name=tiny_model, embed_batch_size=3, callback_manager=CallbackManager([debug]))
    texts = ["a much longer text about the rings of saturn and its moons", "mars", "venus is hot", "io", "b" * 40]
    nodes = [TextNode(text=t, metadata={"title": f"T{i}"}) for i, t in enumerate(texts)]
    core = Embedder(model=tiny_model)
    np.testing.assert_allclose(emb.get_text_embedding_batch(texts), core.embed(texts), atol=1e-5)
    np.testing.assert_allclose(await emb.aget_text_embedding_batch(texts), core.embed(texts), atol=1e-5)
    emb(nodes)
    titled = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
    expected = core.embed(titled, titles=[f"T{i}" for i in range(len(texts))])
    np.testing.assert_allclose([n.embedding for n in nodes], expected, atol=1e-5)
    calls = [end.payload[EventPayload.CHUNKS] for _, end in debug.get_event_pairs(CBEventType.EMBEDDING)]
    assert len(calls) == 3 * 2  # two calls of at most 3 texts each, for each of the three batches
    for first, second in zip(calls[::2], calls[1::2], strict=True):
        lengths = [len(t) for t in first + second]
        assert lengths == sorted(lengths), "each call holds the shortest texts not yet sent"


def test_node_titles_reach_prompt(tiny_model, served):
    emb = EmbeddingGemmaEmbedding(**served)
    nodes = [TextNode(text="mars is red", metadata={"title": "Mars"}), TextNode(text="venus is hot")]
    emb(nodes)
    texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
    expected = Embedder(model=tiny_model).embed(texts, titles=["Mars", None])
    np.testing.assert_allclose([n.embedding for n in nodes], expected, atol=1e-5)


async def test_async_methods(tiny_model, served):
    emb = EmbeddingGemmaEmbedding(**served)
    q = await emb.aget_query_embedding("mars")
    texts = await emb.aget_text_embedding_batch(["mars", "venus"])
    np.testing.assert_allclose(q, emb.get_query_embedding("mars"), atol=1e-5)
    np.testing.assert_allclose(texts, emb.get_text_embedding_batch(["mars", "venus"]), atol=1e-5)
    nodes = await emb.acall([TextNode(text="mars", metadata={"title": "Mars"})])
    assert len(nodes[0].embedding) == 768


def test_settings_index_and_ingestion_pipeline(tiny_model, served, monkeypatch):
    emb = EmbeddingGemmaEmbedding(**served, dimensions=256)
    monkeypatch.setattr(Settings, "_embed_model", emb)
    docs = [TextNode(text=t, metadata={"title": t.split()[0]}) for t in ["mars is red", "venus is hot", "saturn rings"]]
    nodes = IngestionPipeline(transformations=[emb]).run(nodes=docs)
    assert all(len(n.embedding) == 256 for n in nodes)
    index = VectorStoreIndex(nodes)
    hits = index.as_retriever(similarity_top_k=3).retrieve("venus")
    query = np.array(emb.get_query_embedding("venus"))
    by_hand = sorted(((float(query @ np.array(n.embedding)), n.text) for n in nodes), reverse=True)
    assert [h.node.text for h in hits] == [t for _, t in by_hand]


def test_bad_input(tiny_model):
    emb = EmbeddingGemmaEmbedding(model_name=tiny_model)
    with pytest.raises(TypeError, match=r"texts\[1\] is a int"):
        emb.get_text_embedding_batch(["a", 5])
    with pytest.raises(ValueError, match="768, 512, 256, 128"):
        EmbeddingGemmaEmbedding(model_name=tiny_model, dimensions=300)
    assert emb.get_text_embedding_batch([]) == []


def test_changing_a_setting_rebuilds_the_pipeline(tiny_model):
    emb = EmbeddingGemmaEmbedding(model_name=tiny_model)
    emb.dimensions = 256
    emb.embed_batch_size = 3
    assert len(emb.get_query_embedding("mars")) == 256 and emb.batch_size == 3
    before = emb.model_dump()
    with pytest.raises(ValueError, match="768, 512, 256, 128"):
        emb.dimensions = 300
    assert emb.dimensions == 256 and emb.model_dump() == before
    with pytest.raises(ValueError, match="applies to the local backend"):
        emb.backend = "ollama"  # a valid value that conflicts with nothing... until quantization is set
        emb.quantization = "int8"
    assert emb.quantization is None and emb.backend == "ollama"
    assert EmbeddingGemmaEmbedding(**emb.model_dump()).model_dump() == emb.model_dump()


def test_unknown_or_misspelled_settings_fail_at_construction(tiny_model):
    with pytest.raises(
        ValueError, match=r"'dimenssions' is not a setting.*Did you mean 'dimensions'.*Valid settings: .*model_name"
    ):
        EmbeddingGemmaEmbedding(model_name=tiny_model, dimenssions=256)
    with pytest.raises(AttributeError, match="'dimenssions' is not a setting"):
        EmbeddingGemmaEmbedding(model_name=tiny_model).dimenssions = 256
    # `model` is the core name, `model_name` LlamaIndex's: either works, both must agree.
    assert EmbeddingGemmaEmbedding(model=tiny_model).model_name == tiny_model
    with pytest.raises(ValueError, match="disagree"):
        EmbeddingGemmaEmbedding(model=tiny_model, model_name="other")


@pytest.mark.parametrize("bad", ["abc", {"a": 1, "b": 2}, None, 5])
def test_the_batch_path_refuses_what_is_not_a_list_of_texts(tiny_model, bad):
    with pytest.raises(TypeError, match="texts must be a list of strings"):
        EmbeddingGemmaEmbedding(model_name=tiny_model).get_text_embedding_batch(bad)


async def test_a_bad_item_is_named_by_the_callers_index_before_any_work(tiny_model):
    from llama_index.core.callbacks import CallbackManager, LlamaDebugHandler

    debug = LlamaDebugHandler()
    emb = EmbeddingGemmaEmbedding(model_name=tiny_model, embed_batch_size=8, callback_manager=CallbackManager([debug]))
    texts = [f"text {i}" for i in range(100)]
    texts[70] = None
    with pytest.raises(TypeError, match=r"texts\[70\] is None"):
        emb.get_text_embedding_batch(texts)
    with pytest.raises(TypeError, match=r"texts\[70\] is None"):
        await emb.aget_text_embedding_batch(texts)
    assert debug.get_event_pairs() == []  # nothing was embedded


def test_nodes_go_through_the_frameworks_batch_path(tiny_model, capsys):
    from llama_index.core.callbacks import CallbackManager, CBEventType, LlamaDebugHandler

    debug = LlamaDebugHandler()
    emb = EmbeddingGemmaEmbedding(model_name=tiny_model, embed_batch_size=2, callback_manager=CallbackManager([debug]))
    nodes = [TextNode(text=f"planet {i}", metadata={"title": f"T{i}"}) for i in range(5)]
    IngestionPipeline(transformations=[emb]).run(nodes=nodes)
    assert len(debug.get_event_pairs(CBEventType.EMBEDDING)) == 3  # 2 + 2 + 1, with events
    emb(nodes, show_progress=True)  # LlamaIndex's own progress bar over the batches
    assert "Generating embeddings" in capsys.readouterr().err
    texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
    expected = Embedder(model=tiny_model).embed(texts, titles=[f"T{i}" for i in range(5)])
    np.testing.assert_allclose([n.embedding for n in nodes], expected, atol=1e-5)
