"""The OpenVINO engine (``engine="openvino"``) on the tiny model: the float32 graph ONNX Runtime runs, compiled
by OpenVINO, through the same pipeline; its own vector identity; a clear error where it is not installed."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("openvino")
pytest.importorskip("onnx")

from embeddinggemma import Embedder  # noqa: E402
from langchain_embeddinggemma import EmbeddingGemmaEmbeddings  # noqa: E402

TEXTS = [
    "mars",
    "the quick brown fox jumps over the lazy dog " * 6,  # past the tiny model's 16-token window
    "embedding vector search retrieval document query",
    "venus",
    "code fact checking question answering " * 3,
]


def test_openvino_gives_the_vectors_of_onnx_runtime_and_sentence_transformers(tiny_model):
    openvino = Embedder(model=tiny_model, engine="openvino")
    got = np.asarray(openvino.embed(TEXTS))
    assert openvino.spec.engine == "openvino"
    np.testing.assert_allclose(got, Embedder(model=tiny_model, engine="onnxruntime").embed(TEXTS), atol=1e-5, rtol=0)
    reference = np.asarray(Embedder(model=tiny_model, engine="torch").embed(TEXTS))
    assert np.min(np.sum(got * reference, axis=1)) >= 0.99999
    # one text at a time (batch_size=1) and in calls of several: the same vectors
    alone = Embedder(model=tiny_model, engine="openvino", batch_size=1).embed(TEXTS)
    np.testing.assert_allclose(alone, got, atol=2e-6, rtol=0)


def test_openvino_through_an_adapter_has_its_own_vector_identity(tiny_model):
    openvino = EmbeddingGemmaEmbeddings(model=tiny_model, engine="openvino", dimensions=256)
    onnx = EmbeddingGemmaEmbeddings(model=tiny_model, engine="onnxruntime", dimensions=256)
    query = openvino.embed_query("Which planet is known as the Red Planet?")
    assert len(query) == 256 and abs(float(np.linalg.norm(query)) - 1) < 1e-5
    np.testing.assert_allclose(query, onnx.embed_query("Which planet is known as the Red Planet?"), atol=1e-5)
    assert openvino.vector_identity()["engine"] == "openvino"
    assert openvino.cache_namespace() != onnx.cache_namespace()  # a cache or index never crosses engines


def test_without_openvino_the_error_names_the_extra(tiny_model):
    code = (
        "import sys; sys.modules['openvino'] = None\n"  # as if not installed
        f"from embeddinggemma import Embedder\nEmbedder(model={tiny_model!r}, engine='openvino').embed(['x'])"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ}, timeout=120)
    assert run.returncode != 0
    assert "MissingExtraError" in run.stderr and "pip install 'embeddinggemma[openvino]'" in run.stderr
