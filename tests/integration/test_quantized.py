"""On-device quantized runtimes (GGUF via llama.cpp, the ONNX ones' routing and extras) on a tiny random-weight model.

The tiny model here has EmbeddingGemma's exact module stack (Gemma3 bidirectional, mean pooling, two
bias-free Dense layers, Normalize) with hidden size 768, because llama.cpp's gemma-embedding graph
requires the Dense layers to map hidden → … → hidden. Artifacts are built at test time; the float
artifacts (GGUF f32, ONNX f32) must reproduce sentence-transformers, the quantized ones come close.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from _support import QUANTIZED_TEXTS
from _support.vectors import cosines, unit

TEXTS = QUANTIZED_TEXTS


@pytest.fixture(scope="module")
def tiny(tiny_768_model) -> str:
    return tiny_768_model


@functools.cache
def _reference(model: str):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(model, device="cpu")


def reference(model: str, texts: list[str], max_seq_length: int = 2048) -> np.ndarray:
    st = _reference(model)
    st.max_seq_length = max_seq_length
    return st.encode(texts, convert_to_numpy=True)


def encode(model, texts, max_seq_length=2048, batch_size=32):
    return model.encode(texts, max_seq_length=max_seq_length, batch_size=batch_size, show_progress=False)


# ----------------------------------------------------------------------------------------------- GGUF
needs_llama_cpp = pytest.mark.skipif(
    not __import__("importlib").util.find_spec("llama_cpp"), reason="llama-cpp-python ([gguf] extra) not installed"
)


@pytest.fixture(scope="module")
def gguf_f32(tiny):
    from embeddinggemma._engines.gguf import GGUFModel
    from embeddinggemma.quantize import build_gguf

    return GGUFModel(str(build_gguf(tiny, "f32")))


@needs_llama_cpp
def test_gguf_f32_reproduces_sentence_transformers(tiny, gguf_f32):
    assert cosines(encode(gguf_f32, TEXTS), reference(tiny, TEXTS)).min() > 0.99999


@needs_llama_cpp
def test_gguf_counts_tokens_as_the_hf_tokenizer(tiny, gguf_f32):
    hf = _reference(tiny).tokenizer(TEXTS)["input_ids"]
    assert gguf_f32.count_tokens(TEXTS) == [len(ids) for ids in hf]
    assert all(list(gguf_f32._tokenize(t)) == ids for t, ids in zip(TEXTS, hf, strict=True))


@needs_llama_cpp
def test_gguf_truncates_like_sentence_transformers(tiny, gguf_f32):
    assert cosines(encode(gguf_f32, TEXTS, max_seq_length=12), reference(tiny, TEXTS, 12)).min() > 0.99999


@needs_llama_cpp
@pytest.mark.parametrize("quantization", ["q8_0", "q4_0"])
def test_gguf_quantized_close_to_float(tiny, quantization):
    from embeddinggemma._engines.gguf import GGUFModel

    model = GGUFModel(tiny, quantization=quantization)
    assert model.source.name.startswith(f"embeddinggemma-{quantization}-")
    floor = 0.999 if quantization == "q8_0" else 0.95  # random weights; the real-model tests hold real floors
    assert cosines(encode(model, TEXTS), reference(tiny, TEXTS)).min() > floor


@needs_llama_cpp
def test_gguf_vectors_do_not_depend_on_batch_or_order(tiny, gguf_f32):
    batched = encode(gguf_f32, TEXTS)
    alone = np.concatenate([encode(gguf_f32, [t], batch_size=1) for t in TEXTS])
    reversed_ = encode(gguf_f32, TEXTS[::-1])[::-1]
    assert cosines(batched, alone).min() > 0.9999
    assert cosines(batched, reversed_).min() > 0.9999


@needs_llama_cpp
def test_gguf_full_context_input_uses_a_sized_context_then_gives_it_back(tiny, gguf_f32):
    from embeddinggemma._engines import gguf

    long_text = "planet " * 3000
    [count] = gguf_f32.count_tokens([long_text])
    assert count > 2048
    vectors = encode(gguf_f32, [long_text, "a"], max_seq_length=2048)
    assert np.isfinite(vectors).all()
    assert gguf_f32._context.capacity == gguf.BATCH_TOKENS
    ref = reference(tiny, [long_text], 2048)
    assert cosines(vectors[:1], ref).min() > 0.9999


@needs_llama_cpp
def test_gguf_artifact_cached_with_fingerprint_and_manifest(tiny, tmp_path):
    import json

    from embeddinggemma.quantize import build_gguf

    first = build_gguf(tiny, "q8_0")
    stamp = first.stat().st_mtime_ns
    assert build_gguf(tiny, "q8_0") == first and first.stat().st_mtime_ns == stamp
    manifest = json.loads(first.with_name(first.name + ".json").read_text())
    assert manifest["quantization"] == "q8_0" and manifest["source_fingerprint"] in first.name

    copy = tmp_path / "model"
    shutil.copytree(tiny, copy, ignore=shutil.ignore_patterns("quantized"))
    (copy / "config_sentence_transformers.json").write_text('{"prompts": {"query": "changed: "}}')
    changed = build_gguf(copy, "q8_0")
    assert changed.parent == copy / "quantized" and changed.name != first.name


@needs_llama_cpp
def test_gguf_file_of_another_architecture_is_refused_by_name(tmp_path):
    import gguf

    from embeddinggemma import ModelLoadError
    from embeddinggemma._engines.gguf import GGUFModel

    path = tmp_path / "other.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tensor("token_embd.weight", np.zeros((4, 32), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ModelLoadError, match="architecture 'llama'"):
        GGUFModel(str(path))
    with pytest.raises(ModelLoadError, match="no such file"):
        GGUFModel(str(tmp_path / "missing.gguf"))


@needs_llama_cpp
def test_gguf_without_dense_layers_is_refused(tiny, tmp_path):
    import gguf

    from embeddinggemma import ModelLoadError
    from embeddinggemma._engines.gguf import GGUFModel
    from embeddinggemma.quantize import build_gguf

    reader = gguf.GGUFReader(str(build_gguf(tiny, "f32")))
    path = tmp_path / "no-dense.gguf"
    writer = gguf.GGUFWriter(str(path), "gemma-embedding")
    writer.add_tokenizer_model("gpt2")
    for tensor in reader.tensors:
        if not tensor.name.startswith("dense_"):
            shape = tuple(reversed([int(n) for n in tensor.shape]))
            writer.add_tensor(tensor.name, np.asarray(tensor.data).reshape(shape))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ModelLoadError, match="Dense projections"):
        GGUFModel(str(path))


def _without(module: str, code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter where ``module`` cannot be imported (as if not installed)."""
    prelude = f"import sys; sys.modules[{module!r}] = None\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + code], capture_output=True, text=True, env={**os.environ}, timeout=120
    )


def test_missing_runtimes_name_the_extra_to_install(tiny):
    gguf_run = _without(
        "llama_cpp", f"from embeddinggemma import Embedder\nEmbedder(model={tiny!r}, quantization='q8_0').embed(['x'])"
    )
    assert gguf_run.returncode != 0 and "pip install 'embeddinggemma[gguf]'" in gguf_run.stderr
    onnx_run = _without(
        "onnxruntime",
        f"from embeddinggemma import Embedder\nEmbedder(model={tiny!r}, quantization='int8').embed(['x'])",
    )
    assert onnx_run.returncode != 0 and "MissingExtraError: quantization='int8' needs onnxruntime" in onnx_run.stderr


def test_quantized_runtimes_do_not_import_torch(tiny):
    code = (
        f"from embeddinggemma import Embedder\nimport sys\n"
        f"Embedder(model={tiny!r}, quantization='q8_0').embed(['mars'])\n"
        f"print('torch' in sys.modules)"
    )
    if not __import__("importlib").util.find_spec("llama_cpp"):
        pytest.skip("llama-cpp-python not installed")
    tiny_768_built = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert tiny_768_built.returncode == 0, tiny_768_built.stderr[-2000:]
    assert tiny_768_built.stdout.strip().splitlines()[-1] == "False"


# ----------------------------------------------------------------------------------------------- ONNX
def test_onnx_float_graph_reproduces_sentence_transformers_with_padding(tiny):
    import onnxruntime as ort

    from embeddinggemma.quantize import build_onnx

    path = build_onnx(tiny, "f32")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    st = _reference(tiny)
    batch = st.tokenizer(TEXTS[:3], return_tensors="np", padding=True)
    table = st[0].auto_model.get_input_embeddings()
    import torch

    with torch.no_grad():
        embeds = table(torch.from_numpy(batch["input_ids"])).numpy()
    padded = session.run(None, {"inputs_embeds": embeds, "attention_mask": batch["attention_mask"]})[0]
    # The padded batch gives each text the vector it gets alone, and the vector sentence-transformers gives.
    for i in range(3):
        n = int(batch["attention_mask"][i].sum())
        alone = session.run(
            None, {"inputs_embeds": embeds[i : i + 1, :n], "attention_mask": batch["attention_mask"][i : i + 1, :n]}
        )[0]
        np.testing.assert_allclose(padded[i], alone[0], atol=1e-5)
    assert cosines(padded, reference(tiny, TEXTS[:3])).min() > 0.99999


# --------------------------------------------------------------------------- through the pipeline and adapters
@needs_llama_cpp
@pytest.mark.parametrize("quantization", ["q8_0", "int8"])
def test_adapters_use_the_quantized_runtime_with_prompts_and_dimensions(tiny, quantization):
    from embeddinggemma import Embedder
    from langchain_embeddinggemma import EmbeddingGemmaEmbeddings
    from llama_index_embeddinggemma import EmbeddingGemmaEmbedding

    core = Embedder(model=tiny, quantization=quantization)
    docs = ["Mars is red.", "Venus is hot.", "Jupiter is big."]
    st = _reference(tiny)
    ref_docs = st.encode(core.prompt(docs, "document"))
    ref_query = st.encode(core.prompt(["red planet"], "query"))
    floor = 0.999 if quantization == "q8_0" else 0.85

    lc = EmbeddingGemmaEmbeddings(model=tiny, quantization=quantization)
    li = EmbeddingGemmaEmbedding(model_name=tiny, quantization=quantization)
    for documents, query in (
        (lc.embed_documents(docs), lc.embed_query("red planet")),
        (li.get_text_embedding_batch(docs), li.get_query_embedding("red planet")),
    ):
        assert cosines(np.array(documents), ref_docs).min() > floor
        assert cosines(np.array([query]), ref_query).min() > floor

    small = EmbeddingGemmaEmbeddings(model=tiny, quantization=quantization, dimensions=128).embed_documents(docs)
    full = np.array(lc.embed_documents(docs))
    np.testing.assert_allclose(np.array(small), unit(full[:, :128]), atol=1e-5)


@needs_llama_cpp
def test_truncation_report_and_policy_apply_to_the_gguf_runtime(tiny):
    from embeddinggemma import Embedder, TruncationError, TruncationWarning

    long_text = "planet " * 100
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, report = Embedder(model=tiny, quantization="q8_0", max_seq_length=32).embed_with_report(["a", long_text])
    assert report.truncated == (1,) and any(issubclass(w.category, TruncationWarning) for w in caught)
    with pytest.raises(TruncationError, match="index 1"):
        Embedder(model=tiny, quantization="q8_0", max_seq_length=32, truncation="error").embed(["a", long_text])


@needs_llama_cpp
def test_cli_builds_artifacts_and_prints_their_paths(tiny, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "embeddinggemma", "quantize", tiny, "-q", "q8_0", "--cache-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    [line] = result.stdout.strip().splitlines()
    path = Path(line)
    assert path.parent == tmp_path and path.suffix == ".gguf" and path.is_file()
    assert path.with_name(path.stem + ".runtime.gguf").is_file()  # the llama.cpp runtime copy too
