"""Compressed vector indexes (``embeddinggemma.vector_index``) and the retrievers over them, in both
frameworks' stores: float16 / int8 FAISS indexes inside LangChain's ``FAISS`` and LlamaIndex's
``FaissVectorStore``, the binary index (Hamming search, then re-ranking) behind ``EmbeddingGemmaRetriever``.
Real FAISS throughout; the tiny model for the adapters (the real model: ``tests/real_model``)."""

from __future__ import annotations

import numpy as np
import pytest

faiss = pytest.importorskip("faiss", reason="vector indexes need FAISS (the [faiss] extra)")

from _support import flip_bits  # noqa: E402

from embeddinggemma import IndexSettings  # noqa: E402
from embeddinggemma.vector_index import (  # noqa: E402
    BinaryIndex,
    bytes_per_vector,
    describe,
    faiss_index,
    pack_signs,
    vector_index,
)

PRECISIONS = ("float32", "float16", "int8", "binary")


def clustered(count: int = 3000, dims: int = 256, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around 300 centres, and queries near 50 of the vectors: structure as embeddings have."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((300, dims))
    vectors = centres[rng.integers(0, 300, count)] + 0.6 * rng.standard_normal((count, dims))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    queries = vectors[:50] + 0.05 * rng.standard_normal((min(50, count), dims)).astype(np.float32)
    return vectors, (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("precision", PRECISIONS)
def test_every_precision_finds_the_exact_nearest_neighbours(precision):
    vectors, queries = clustered()
    index = vector_index(vectors, index_precision=precision)
    scores, ids = index.search(queries, 10)
    expected = exact_top(vectors, queries, 10)
    assert (ids[:, 0] == expected[:, 0]).mean() >= 0.98
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, expected, strict=True)])
    assert overlap >= {"float32": 1.0, "float16": 0.99, "int8": 0.95, "binary": 0.9}[precision]
    exact_scores = np.take_along_axis(queries @ vectors.T, ids, axis=1)
    np.testing.assert_allclose(scores, exact_scores, atol={"float32": 1e-5, "float16": 1e-3}.get(precision, 0.02))
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first


def test_binary_search_reranks_by_the_rescoring_vectors_not_by_hamming_distance():
    vectors, queries = clustered()
    by_float = BinaryIndex(256, rescore="float32", oversample=1000)  # every vector a candidate: exact search
    by_float.add(vectors)
    scores, ids = by_float.search(queries, 5)
    np.testing.assert_array_equal(ids, exact_top(vectors, queries, 5))
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ vectors.T, ids, axis=1), atol=1e-6)
    narrow = BinaryIndex(256, rescore="float32", oversample=1)  # Hamming order alone: not the exact ranking
    narrow.add(vectors)
    assert (narrow.search(queries, 5)[1] != ids).any()
    assert pack_signs(np.array([[0.5, -1, 0, 2, -0.1, 3, 1, -2]], np.float32)).tolist() == [[0b10010110]]


def test_fewer_vectors_than_k_pads_with_minus_one():
    vectors, queries = clustered(count=3)
    for precision in PRECISIONS:
        scores, ids = vector_index(vectors, index_precision=precision).search(queries[:2], 5)
        assert (ids[:, 3:] == -1).all() and sorted(ids[0, :3].tolist()) == [0, 1, 2]


def test_sizes_and_the_description_a_manifest_records():
    assert [bytes_per_vector(256, p) for p in PRECISIONS] == [1024, 512, 256, 32 + 256]
    assert bytes_per_vector(768, "binary", rescore="float32") == 96
    vectors, _ = clustered()
    first = describe(vector_index(vectors, index_precision="int8"))
    assert first["precision"] == "int8" and first["dimensions"] == 256 and len(first["calibration"]) == 16
    assert describe(vector_index(vectors, index_precision="int8")) == first  # the same vectors, the same ranges
    assert describe(vector_index(vectors * 0.5, index_precision="int8"))["calibration"] != first["calibration"]
    assert describe(vector_index(vectors, index_precision="float16")) == {
        "precision": "float16",
        "dimensions": 256,
        "calibration": None,
    }
    binary = describe(vector_index(vectors, index_precision="binary"))
    assert binary["precision"] == "binary" and binary["calibration"] and binary["oversample"] == 10


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: faiss_index(256, "int4"), "index_precision='int4' is unknown"),
        (lambda: faiss_index(100, "float32"), "multiple of 8"),
        (lambda: faiss_index(256, "int8"), "calibrated on the vectors it will hold"),
        (lambda: BinaryIndex(256, rescore="float64"), "rescore='float64' is unknown"),
        (lambda: BinaryIndex(256, oversample=0), "oversample=0 must be an integer >= 1"),
        (lambda: vector_index(np.full((2, 8), np.nan, np.float32), index_precision="int8"), "NaN"),
        (
            lambda: vector_index(np.ones((2, 8), np.float32), index_precision="binary").search(np.ones((1, 16)), 3),
            r"\(n, 8\)",
        ),
        (lambda: IndexSettings(index_precision="binay"), "use one of 'float32', 'float16', 'int8', 'binary'"),
    ],
)
def test_bad_arguments_name_the_fix(call, words):
    with pytest.raises(ValueError, match=words):
        call()


@pytest.mark.parametrize("rescore", ["int8", "float32"])
def test_a_saved_binary_index_loads_unchanged_and_a_damaged_one_is_named(rescore, tmp_path):
    vectors, queries = clustered()
    index = BinaryIndex(256, rescore=rescore)
    index.add(vectors)
    files = index.save(tmp_path / "index")
    assert all(path.suffix != ".pkl" for path in files)
    loaded = BinaryIndex.load(tmp_path / "index")
    for got, expected in zip(loaded.search(queries, 10), index.search(queries, 10), strict=True):
        np.testing.assert_array_equal(got, expected)
    assert describe(loaded) == describe(index)
    rescoring = next(path for path in files if path.name.startswith("rescore"))
    rescoring.write_bytes(rescoring.read_bytes()[:100])  # truncated
    with pytest.raises(ValueError, match=rescoring.name):
        BinaryIndex.load(tmp_path / "index")
    flip_bits(files[0], every=64)
    rescoring.unlink()
    with pytest.raises(ValueError, match=r"binary\.faissb|rescore"):
        BinaryIndex.load(tmp_path / "index")


# ----------------------------------------------------------------------------------- the frameworks' stores
QUESTIONS = ["which planet is red", "the lazy dog", "vector search", "code retrieval task", "orbit of the moon"]
DOCS = [
    "mars venus jupiter saturn earth planets solar system",
    "the quick brown fox jumps over the lazy dog",
    "embedding vector search retrieval document query",
    "code fact checking question answering task result",
    "sun moon space rocket orbit",
    "sentence similarity clustering classification",
] * 3


def _top_hits(search) -> list[str]:
    return [search(question) for question in QUESTIONS]


@pytest.mark.parametrize("precision", PRECISIONS)
def test_langchain_faiss_store_or_retriever_at_each_precision_finds_what_float32_finds(tiny_model, precision):
    from langchain_community.docstore.in_memory import InMemoryDocstore
    from langchain_community.vectorstores import FAISS
    from langchain_community.vectorstores.utils import DistanceStrategy
    from langchain_core.documents import Document

    from langchain_embeddinggemma import EmbeddingGemmaEmbeddings, EmbeddingGemmaRetriever

    embeddings = EmbeddingGemmaEmbeddings(model=tiny_model, dimensions=256)
    titled = [f"{i}: {text}" for i, text in enumerate(DOCS)]
    vectors = np.asarray(embeddings.embed_documents(titled), np.float32)
    exact = vector_index(vectors)
    expected = _top_hits(lambda q: titled[exact.search(np.asarray([embeddings.embed_query(q)]), 1)[1][0, 0]])
    if precision == "binary":
        retriever = EmbeddingGemmaRetriever(
            embeddings=embeddings, index=vector_index(vectors, index_precision="binary"),
            documents=[Document(t) for t in titled], k=3,
        )  # fmt: skip
        got = _top_hits(lambda q: retriever.invoke(q)[0].page_content)
        assert all("score" in d.metadata for d in retriever.invoke("red planet"))
    else:
        store = FAISS(
            embedding_function=embeddings,
            index=faiss_index(256, precision, vectors),
            docstore=InMemoryDocstore(),
            index_to_docstore_id={},
            distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT,
        )
        store.add_embeddings(list(zip(titled, vectors.tolist(), strict=True)))
        got = _top_hits(lambda q: store.similarity_search(q, k=1)[0].page_content)
    assert got == expected


@pytest.mark.parametrize("precision", PRECISIONS)
def test_llama_index_faiss_store_or_retriever_at_each_precision_finds_what_float32_finds(tiny_model, precision):
    from llama_index.core import StorageContext, VectorStoreIndex
    from llama_index.core.schema import TextNode
    from llama_index.vector_stores.faiss import FaissVectorStore

    from llama_index_embeddinggemma import EmbeddingGemmaEmbedding, EmbeddingGemmaRetriever

    embed_model = EmbeddingGemmaEmbedding(model_name=tiny_model, dimensions=256)
    nodes = [TextNode(text=f"{i}: {text}", id_=f"n{i}") for i, text in enumerate(DOCS)]
    vectors = np.asarray(embed_model.get_text_embedding_batch([n.text for n in nodes]), np.float32)
    for node, vector in zip(nodes, vectors, strict=True):
        node.embedding = vector.tolist()
    exact = vector_index(vectors)

    def nearest(question: str) -> str:
        return nodes[exact.search(np.asarray([embed_model.get_query_embedding(question)]), 1)[1][0, 0]].text

    expected = _top_hits(nearest)
    if precision == "binary":
        retriever = EmbeddingGemmaRetriever(
            embed_model, vector_index(vectors, index_precision="binary"), nodes, similarity_top_k=3
        )
    else:
        store = FaissVectorStore(faiss_index=faiss_index(256, precision, vectors))
        storage = StorageContext.from_defaults(vector_store=store)
        index = VectorStoreIndex(nodes, storage_context=storage, embed_model=embed_model)
        retriever = index.as_retriever(similarity_top_k=3)
    got = _top_hits(lambda q: retriever.retrieve(q)[0].node.text)
    assert got == expected


def test_a_retriever_refuses_an_index_that_does_not_match_its_documents(tiny_model):
    from langchain_core.documents import Document

    from langchain_embeddinggemma import EmbeddingGemmaEmbeddings, EmbeddingGemmaRetriever
    from llama_index_embeddinggemma import EmbeddingGemmaEmbedding
    from llama_index_embeddinggemma import EmbeddingGemmaRetriever as LlamaRetriever

    index = vector_index(clustered(count=4)[0], index_precision="binary")
    with pytest.raises(ValueError, match="4 vectors for 3 documents"):
        EmbeddingGemmaRetriever(
            embeddings=EmbeddingGemmaEmbeddings(model=tiny_model, dimensions=256),
            index=index,
            documents=[Document("a")] * 3,
        )
    with pytest.raises(ValueError, match="256-dimensional vectors; the model makes 768"):
        LlamaRetriever(EmbeddingGemmaEmbedding(model_name=tiny_model), index, [None] * 4)
