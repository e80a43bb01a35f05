"""The core vector cache: hits are the vectors the runtime gives, a changed setting is a miss, a damaged entry
is recomputed, processes can share a folder, and both frameworks' caches are keyed safely."""

from __future__ import annotations

import multiprocessing
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from _support import build_tiny_model
from _support.backends import ollama_server, openai_server, settings_for

from embeddinggemma import Embedder, TruncationError, TruncationWarning, VectorCache

TEXTS = ["Mars is the red planet.", "Jupiter is the largest planet.", "Saturn has rings."]


def _entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def test_a_hit_is_the_computed_vector_and_nothing_is_embedded_twice(tiny_model, tmp_path):
    cache = VectorCache(tmp_path)
    cached = Embedder(model=tiny_model, cache=cache)
    plain = Embedder(model=tiny_model)
    first, report = cached.embed_with_report([*TEXTS, TEXTS[0]], titles=["Mars", None, None, "Mars"])
    assert cache.writes == 3  # the repeated text was embedded once
    again, again_report = cached.embed_with_report([*TEXTS, TEXTS[0]], titles=["Mars", None, None, "Mars"])
    assert cache.writes == 3 and cache.hits == 4
    expected = plain.embed_with_report([*TEXTS, TEXTS[0]], titles=["Mars", None, None, "Mars"])[0]
    np.testing.assert_array_equal(first, expected)
    np.testing.assert_array_equal(again, expected)
    assert report.token_counts == again_report.token_counts  # counts are stored with the vectors


def test_a_full_hit_needs_no_model(tiny_model, tmp_path):
    Embedder(model=tiny_model, cache=str(tmp_path)).embed(TEXTS)
    fresh = Embedder(model=tiny_model, cache=str(tmp_path))
    fresh.embed(TEXTS)
    assert fresh._runtime is None  # nothing was loaded


def test_a_query_and_a_document_with_the_same_text_never_share_a_vector(tiny_model, tmp_path):
    embedder = Embedder(model=tiny_model, cache=str(tmp_path))
    document = embedder.embed(["Which planet is red?"], side="document")[0]
    query = embedder.embed(["Which planet is red?"], side="query")[0]
    assert not np.allclose(document, query)
    np.testing.assert_array_equal(query, Embedder(model=tiny_model).embed(["Which planet is red?"], side="query")[0])


@pytest.mark.parametrize(
    "change",
    [
        {"dimensions": 256},
        {"task": "clustering"},
        {"document_prompt": "title: {title} | passage: "},
        {"max_seq_length": 8},
        {"quantization": "int8"},
    ],
)
def test_a_changed_setting_is_a_miss(tiny_model, tmp_path, change):
    cache = VectorCache(tmp_path)
    Embedder(model=tiny_model, cache=cache).embed(TEXTS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncationWarning)
        changed = Embedder(model=tiny_model, cache=cache, **change).embed(TEXTS)
    assert cache.hits == 0 and cache.writes == 6
    np.testing.assert_allclose(changed, Embedder(model=tiny_model, **change).embed(TEXTS), atol=1e-6)


def test_other_model_files_are_a_miss(tiny_model, tmp_path):
    other = build_tiny_model(tmp_path / "other", seed=1)
    cache = VectorCache(tmp_path / "cache")
    Embedder(model=tiny_model, cache=cache).embed(TEXTS)
    vectors = Embedder(model=str(other), cache=cache).embed(TEXTS)
    assert cache.hits == 0
    np.testing.assert_allclose(vectors, Embedder(model=str(other)).embed(TEXTS), atol=1e-6)


@pytest.mark.parametrize("damage", ["truncate", "flip", "swap", "garbage", "empty"])
def test_a_damaged_entry_is_recomputed_never_returned(tiny_model, tmp_path, damage):
    cache = VectorCache(tmp_path)
    expected = Embedder(model=tiny_model, cache=cache).embed(TEXTS)
    first, second = _entries(tmp_path)[:2]
    data = first.read_bytes()
    if damage == "truncate":
        first.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        first.write_bytes(data[:20] + bytes([data[20] ^ 0x01]) + data[21:])
    elif damage == "swap":  # a whole, valid entry under another text's key
        first.write_bytes(second.read_bytes())
    elif damage == "garbage":
        first.write_bytes(os.urandom(len(data)))
    else:
        first.write_bytes(b"")
    again = VectorCache(tmp_path)
    vectors = Embedder(model=tiny_model, cache=again).embed(TEXTS)
    # the damaged text is recomputed alone, not in the batch it first shared: equal up to float rounding
    np.testing.assert_allclose(vectors, expected, rtol=0, atol=1e-6)
    assert again.rejected == 1 and again.writes == 1 and again.hits == 2
    assert VectorCache(tmp_path).get([], 768) == []


def _embed_in_a_process(model: str, folder: str, texts: list[str]) -> None:
    Embedder(model=model, cache=folder).embed(texts)


def test_two_processes_writing_one_folder_leave_only_whole_entries(tiny_model, tmp_path):
    texts = [f"text number {i} about the planets" for i in range(40)]
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_embed_in_a_process, args=(tiny_model, str(tmp_path), texts)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    cache = VectorCache(tmp_path)
    vectors = Embedder(model=tiny_model, cache=cache).embed(texts)
    assert cache.hits == 40 and cache.rejected == 0
    np.testing.assert_array_equal(vectors, Embedder(model=tiny_model).embed(texts))
    assert not [p for p in tmp_path.rglob(".*.tmp")]


def test_a_stored_count_still_enforces_truncation_error(tiny_model, tmp_path):
    long_text = "planets " * 40
    with pytest.warns(TruncationWarning):
        Embedder(model=tiny_model, cache=str(tmp_path), max_seq_length=16).embed([long_text])
    strict = Embedder(model=tiny_model, cache=str(tmp_path), max_seq_length=16, truncation="error")
    with pytest.raises(TruncationError, match="max_seq_length=16"):
        strict.embed([long_text])
    with pytest.raises(TruncationError):
        strict.embed([long_text, "a new short text"])


def _embed_requests(backend: str) -> list[list[str]]:
    """The inputs of every embedding request the loopback server of ``backend`` has answered."""
    if backend == "openai":
        return [body["input"] for body in openai_server().bodies()]
    return [body["input"] for body in ollama_server().bodies("/api/embed")]


@pytest.mark.parametrize("backend", ["ollama", "openai"])
def test_a_server_backend_is_cached_and_asked_only_for_misses(tmp_path, backend):
    import asyncio

    cache = VectorCache(tmp_path)
    embedder = Embedder(**settings_for(backend), cache=cache)
    before = len(_embed_requests(backend))
    first = embedder.embed(TEXTS)
    asked = len(_embed_requests(backend))
    assert asked > before
    second = asyncio.run(embedder.aembed([*TEXTS, "Neptune is blue."]))
    assert len(_embed_requests(backend)) == asked + 1
    assert _embed_requests(backend)[-1] == [embedder.prompt(["Neptune is blue."], "document")[0]]
    np.testing.assert_array_equal(second[:3], first)
    assert cache.hits == 3
    np.testing.assert_allclose(second, Embedder(**settings_for(backend)).embed([*TEXTS, "Neptune is blue."]), atol=1e-6)


def test_an_adapter_with_a_folder_cache_pickles_for_worker_processes(tiny_model, tmp_path):
    import pickle

    from langchain_embeddinggemma import EmbeddingGemmaEmbeddings

    embeddings = EmbeddingGemmaEmbeddings(model=tiny_model, cache=str(tmp_path))
    vector = embeddings.embed_documents(["Mars is red."])
    copy = pickle.loads(pickle.dumps(embeddings))
    assert copy.embed_documents(["Mars is red."]) == vector and copy.cache.hits == 1


# -- the frameworks' caches ------------------------------------------------------------------------


def test_langchain_byte_stores_work_as_the_store(tiny_model):
    from langchain_core.stores import InMemoryByteStore

    from langchain_embeddinggemma import EmbeddingGemmaEmbeddings

    store = InMemoryByteStore()
    embeddings = EmbeddingGemmaEmbeddings(model=tiny_model, cache=store)
    documents = embeddings.embed_documents(["Which planet is red?"])
    query = embeddings.embed_query("Which planet is red?")
    assert len(list(store.yield_keys())) == 2
    assert not np.allclose(documents[0], query)
    assert embeddings.embed_query("Which planet is red?") == query
    assert embeddings.cache.hits == 1


def test_langchain_cache_backed_embeddings_keep_queries_and_documents_apart(tiny_model, tmp_path):
    from langchain_classic.embeddings import CacheBackedEmbeddings
    from langchain_classic.storage import LocalFileStore

    from langchain_embeddinggemma import EmbeddingGemmaEmbeddings

    embeddings = EmbeddingGemmaEmbeddings(model=tiny_model)
    cached = CacheBackedEmbeddings.from_bytes_store(
        embeddings,
        LocalFileStore(tmp_path / "documents"),
        namespace=embeddings.cache_namespace(),
        query_embedding_cache=LocalFileStore(tmp_path / "queries"),
        key_encoder="sha256",
    )
    document = cached.embed_documents(["Which planet is red?"])[0]
    query = cached.embed_query("Which planet is red?")
    assert not np.allclose(document, query)
    np.testing.assert_allclose(query, embeddings.embed_query("Which planet is red?"), atol=1e-6)
    smaller = EmbeddingGemmaEmbeddings(model=tiny_model, dimensions=256)
    assert smaller.cache_namespace() != embeddings.cache_namespace()  # a changed setting is another namespace


def test_llama_index_embeddings_cache_is_keyed_safely(tiny_model):
    from llama_index.core.storage.kvstore import SimpleKVStore

    from llama_index_embeddinggemma import EmbeddingGemmaEmbedding

    store = SimpleKVStore()
    embed_model = EmbeddingGemmaEmbedding(model_name=tiny_model, embeddings_cache=store)
    assert embed_model.embeddings_cache is None  # LlamaIndex's raw-text path never runs
    document = embed_model.get_text_embedding("Which planet is red?")
    query = embed_model.get_query_embedding("Which planet is red?")
    assert not np.allclose(document, query)
    assert embed_model.get_query_embedding("Which planet is red?") == query
    assert embed_model.cache.hits == 1
    assert len(store.get_all(collection="embeddinggemma_vectors")) == 2
    serialised = embed_model.to_dict()
    assert "cache" not in serialised
