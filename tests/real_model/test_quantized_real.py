"""Quantized runtimes on the real google/embeddinggemma-300m (runs when EMBEDDINGGEMMA_MODEL is set).

A few targeted checks; ``benchmarks/throughput.py`` measures the rest (memory, speed and, with ``--sts``,
STSBenchmark). Artifacts are built on first use and cached beside the model, so a second run only loads them.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from _support import MODEL_CARD_SIMILARITIES
from quickstart import DOCUMENTS, QUERY  # noqa: E402  the model card's example

# Mean cosine to fp32 on the model card's texts, well under what the benchmark measured per mode.
FLOORS = {"q8_0": 0.999, "q4_0": 0.98}
TRICKY = [
    "Which planet is known as the Red Planet?",
    "  leading and trailing spaces  ",
    "tabs\tand\nnew lines\n\n",
    "Ünïcödé, 東京, emoji 🚀 and <eos> <bos> <start_of_turn> in text",
    "code: def f(x):\n    return x ** 2  # square",
    "",
]


@functools.cache
def fp32_vectors(model: str) -> tuple[np.ndarray, np.ndarray]:
    pytest.importorskip("sentence_transformers", reason="the reference is sentence-transformers (the [torch] extra)")
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(model, device="cpu")
    return st.encode_query([QUERY]), st.encode_document(DOCUMENTS)


def _adapter_vectors(model: str, quantization: str, which: str) -> tuple[np.ndarray, np.ndarray]:
    if which == "langchain":
        from langchain_embeddinggemma import EmbeddingGemmaEmbeddings

        lc = EmbeddingGemmaEmbeddings(model=model, quantization=quantization)
        return np.array([lc.embed_query(QUERY)]), np.array(lc.embed_documents(DOCUMENTS))
    from llama_index_embeddinggemma import EmbeddingGemmaEmbedding

    li = EmbeddingGemmaEmbedding(model_name=model, quantization=quantization)
    return np.array([li.get_query_embedding(QUERY)]), np.array(li.get_text_embedding_batch(DOCUMENTS))


@pytest.mark.parametrize("adapter", ["langchain", "llama_index"])
def test_q8_0_reproduces_the_model_card_through_both_adapters(real_model, adapter):
    pytest.importorskip("llama_cpp")
    query, documents = _adapter_vectors(real_model, "q8_0", adapter)
    np.testing.assert_allclose(documents @ query[0], MODEL_CARD_SIMILARITIES, atol=0.01)


@pytest.mark.parametrize("quantization", ["q8_0", "q4_0"])  # int8 / int4: test_onnx_nbits_real.py
def test_each_mode_stays_close_to_fp32(real_model, quantization):
    pytest.importorskip("llama_cpp")
    ref_query, ref_documents = fp32_vectors(real_model)
    query, documents = _adapter_vectors(real_model, quantization, "langchain")
    cosines = np.concatenate([(query * ref_query).sum(1), (documents * ref_documents).sum(1)])
    assert cosines.mean() > FLOORS[quantization], cosines


def test_our_f32_gguf_reproduces_sentence_transformers(real_model):
    """Checks the converter itself: at f32 llama.cpp must give the torch vectors."""
    pytest.importorskip("llama_cpp")
    from embeddinggemma._engines.gguf import GGUFModel
    from embeddinggemma.quantize import build_gguf

    backend = GGUFModel(str(build_gguf(real_model, "f32")))
    prompted = ["task: search result | query: " + QUERY] + ["title: none | text: " + d for d in DOCUMENTS]
    vectors = backend.encode(prompted, max_seq_length=2048, batch_size=8, show_progress=False)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ref_query, ref_documents = fp32_vectors(real_model)
    np.testing.assert_allclose(vectors, np.concatenate([ref_query, ref_documents]), atol=2e-4)


def test_gguf_vocabulary_tokenizes_like_the_hf_tokenizer(real_model):
    pytest.importorskip("llama_cpp")
    from transformers import AutoTokenizer

    from embeddinggemma._engines.gguf import GGUFModel

    backend = GGUFModel(real_model, quantization="q8_0")
    expected = AutoTokenizer.from_pretrained(real_model)(TRICKY)["input_ids"]
    assert [list(backend._tokenize(t)) for t in TRICKY] == expected


def test_full_2048_token_context_in_q8_0_is_truncated_and_reported(real_model):
    pytest.importorskip("llama_cpp")
    from embeddinggemma import Embedder, TruncationWarning

    text = "Jupiter, the largest planet in our solar system, has a prominent red spot. " * 250
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vectors, report = Embedder(model=real_model, quantization="q8_0").embed_with_report([text, QUERY])
    assert report.truncated == (0,) and report.token_counts[0] > 2048
    assert any(issubclass(w.category, TruncationWarning) for w in caught)
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(real_model, device="cpu").encode_document([text])
    assert float(vectors[0] @ reference[0]) > 0.995


@pytest.mark.skipif(not os.environ.get("LLAMA_CPP_CONVERT"), reason="LLAMA_CPP_CONVERT (convert_hf_to_gguf.py) not set")
def test_converter_matches_llama_cpp_convert_hf_to_gguf(real_model, tmp_path):
    """Same tensors, byte for byte, as llama.cpp's own converter (with --sentence-transformers-dense-modules)."""
    import gguf

    from embeddinggemma.quantize import build_gguf

    script = Path(os.environ["LLAMA_CPP_CONVERT"])
    theirs = tmp_path / "llama-cpp.gguf"
    env = {**os.environ, "PYTHONPATH": str(script.parent / "gguf-py")}
    command = [sys.executable, str(script), real_model, "--outtype", "q8_0", "--outfile", str(theirs)]
    subprocess.run(command + ["--sentence-transformers-dense-modules"], check=True, env=env, capture_output=True)
    ours = gguf.GGUFReader(str(build_gguf(real_model, "q8_0")))
    reference = gguf.GGUFReader(str(theirs))
    mine = {t.name: t for t in ours.tensors}
    assert set(mine) == {t.name for t in reference.tensors}
    for tensor in reference.tensors:
        other = mine[tensor.name]
        assert other.tensor_type == tensor.tensor_type and list(other.shape) == list(tensor.shape), tensor.name
        assert np.array_equal(np.asarray(other.data), np.asarray(tensor.data)), tensor.name
    for key in ("tokenizer.ggml.tokens", "tokenizer.ggml.scores"):
        assert ours.get_field(key).contents() == reference.get_field(key).contents(), key
    # Token types agree except where llama.cpp's heuristic promotes added tokens that *look* special
    # (<mask>, <unused0>, …) to CONTROL; we keep the HF tokenizer's own special=False (USER_DEFINED).
    # With parse_special both kinds are matched in text, so tokenization is the same.
    tokens = reference.get_field("tokenizer.ggml.tokens").contents()
    mine_types = ours.get_field("tokenizer.ggml.token_type").contents()
    their_types = reference.get_field("tokenizer.ggml.token_type").contents()
    differ = [i for i, (a, b) in enumerate(zip(mine_types, their_types, strict=True)) if a != b]
    assert all(mine_types[i] == gguf.TokenType.USER_DEFINED for i in differ)
    assert all(their_types[i] == gguf.TokenType.CONTROL for i in differ)
    assert all(tokens[i].startswith("<") and tokens[i].endswith(">") for i in differ)
