"""backend="openai" against a real llama.cpp server (llama-cpp-python's, built from source) serving a GGUF
converted from the real model: the same vectors as the local backend, through both adapters."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
from _support import MODEL_CARD_SIMILARITIES, REAL_MODEL
from _support.backends import unused_port
from quickstart import DOCUMENTS, QUERY  # noqa: E402

pytest.importorskip("llama_cpp.server", reason="needs llama-cpp-python[server]")

PASSAGES = [
    "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen.",
    "The Treaty of Westphalia ended the Thirty Years' War in 1648.",
    "A hash table maps keys to buckets with a hash function; collisions need a resolution strategy.",
    "Espresso is brewed by forcing hot water through finely ground coffee under pressure.",
    "Mitochondria produce most of the cell's supply of ATP.",
    "Rust's borrow checker enforces that references never outlive the data they point to.",
]


@pytest.fixture(scope="module")
def llama_server_url(tmp_path_factory):
    from embeddinggemma.quantize import build_gguf

    gguf = build_gguf(REAL_MODEL, "f32")  # the same weights as the local backend, unquantized
    port = unused_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--embedding", "true"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--n_threads", str(os.cpu_count() or 2)]
    with log.open("w") as sink:
        server = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def local_vectors():
    from embeddinggemma import Embedder

    embedder = Embedder(model=REAL_MODEL, device="cpu", dtype="float32")
    return np.array(embedder.embed([QUERY], side="query") + embedder.embed(DOCUMENTS + PASSAGES))


def test_langchain_through_llama_server_matches_local(llama_server_url, local_vectors):
    from langchain_embeddinggemma import EmbeddingGemmaEmbeddings

    served = EmbeddingGemmaEmbeddings(backend="openai", base_url=llama_server_url)
    got = np.array([served.embed_query(QUERY), *served.embed_documents(DOCUMENTS + PASSAGES)])
    cosines = np.sum(got * local_vectors, axis=1)
    print(f"llama.cpp server (f32 GGUF) vs local, LangChain: min cosine {cosines.min():.6f}, mean {cosines.mean():.6f}")
    assert cosines.min() >= 0.99
    np.testing.assert_allclose(got[1:5] @ got[0], MODEL_CARD_SIMILARITIES, atol=0.01)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)  # the server's vectors are not unit length


async def test_llama_index_async_through_llama_server_matches_local(llama_server_url, local_vectors):
    from llama_index_embeddinggemma import EmbeddingGemmaEmbedding

    served = EmbeddingGemmaEmbedding(backend="openai", base_url=llama_server_url, dimensions=256)
    query = await served.aget_query_embedding(QUERY)
    docs = await served.aget_text_embedding_batch(DOCUMENTS + PASSAGES)
    got = np.array([query, *docs])
    want = local_vectors[:, :256] / np.linalg.norm(local_vectors[:, :256], axis=1, keepdims=True)
    cosines = np.sum(got * want, axis=1)
    print(f"llama.cpp server (f32 GGUF) vs local, LlamaIndex async, 256 dims: min cosine {cosines.min():.6f}")
    assert cosines.min() >= 0.99
