"""``quantization="int8"`` / ``"int4"``: ONNX Runtime with block-wise 8-bit or mostly 4-bit weights
(``MatMulNBits``, written by ``_engines.onnx_nbits``) and an 8-bit token table.

Tiny random-weight model (hidden size 768, the shape the other on-device tests use) through ``Embedder``
and both adapters. The real model's checks, and what was measured on it, are in
``tests/real_model/test_onnx_nbits_real.py``.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _support import QUANTIZED_TEXTS, flip_bits
from _support.vectors import cosines, unit

TEXTS = QUANTIZED_TEXTS
TINY_FLOOR = 0.95
"""Cosine to float32 on the random-weight model (measured 0.977-0.988): random weights have none of the
structure that trained ones quantize well with, so this only catches a broken graph, not a recipe."""


@pytest.fixture(scope="module")
def tiny(tiny_768_model) -> str:
    return tiny_768_model


@pytest.fixture
def private_tiny(tiny, tmp_path) -> str:
    """A copy of the tiny model without its artifacts: a test that builds or damages them owns them."""
    return str(shutil.copytree(tiny, tmp_path / "model", ignore=shutil.ignore_patterns("quantized")))


MODES = ["int8", "int4"]


@pytest.fixture(scope="module", params=MODES)
def mode(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def quantized(tiny, mode):
    from embeddinggemma._engines.onnx import OnnxModel

    return OnnxModel(tiny, precision=mode)


@functools.cache
def _st(model: str):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(model, device="cpu")


def reference(model: str, texts: list[str]) -> np.ndarray:
    return _st(model).encode(texts, convert_to_numpy=True)


def encode(model, texts, max_seq_length=2048):
    return model.encode(texts, max_seq_length=max_seq_length, batch_size=32, show_progress=False)


# ------------------------------------------------------------------------------------------- the artifact
def test_every_projection_is_quantized_as_its_recipe_says(tiny, quantized, mode):
    import onnx

    from embeddinggemma._engines.onnx_nbits import projection_kind, recipe_for
    from embeddinggemma._engines.onnx_table import table_paths

    recipe = recipe_for(Path(tiny), mode)
    graph = onnx.load(str(quantized.artifact), load_external_data=False).graph
    weights = {tensor.name: tensor for tensor in graph.initializer}
    # the only float32 products with a weight: the integer GEMM's outlier channels, a few rows each
    for node in (n for n in graph.node if n.op_type == "MatMul" and n.input[1] in weights):
        assert node.name.endswith("int8.outlier_part"), node.name
        assert 0 < weights[node.input[1]].dims[0] <= recipe.blocks(projection_kind(node.input[1])).outliers
    block_wise = [n for n in graph.node if n.op_type == "MatMulNBits"]
    integer = [n for n in graph.node if n.op_type == "MatMulInteger"]
    # two layers of q, k, v, o, gate, up, down; the two Dense layers fused into one
    assert len(block_wise) + len(integer) == 2 * 7 + 1
    inputs = {}
    for node in block_wise:
        attributes = {a.name: a.i for a in node.attribute}
        blocks = recipe.blocks(projection_kind(node.input[1]))
        assert not blocks.integer and (attributes["bits"], attributes["block_size"]) == (blocks.bits, blocks.block)
        assert attributes["accuracy_level"] == blocks.accuracy_level
        inputs[node.input[1]] = attributes["K"]
    for node in integer:
        assert recipe.blocks(projection_kind(node.input[1])).integer, node.name
        assert weights[node.input[1]].data_type == onnx.TensorProto.INT8
        inputs[node.input[1]] = weights[node.input[1]].dims[0]
    assert [k for name, k in inputs.items() if projection_kind(name) == "dense"] == [768]  # 768 -> 3072 -> 768 as one
    # channel scales: folded into the norms and up projections, one Mul before each output projection
    assert any(n.op_type == "Mul" and n.name.endswith("/smooth") for n in graph.node)
    manifest = json.loads(quantized.artifact.with_name(quantized.artifact.name + ".json").read_text())
    names = {
        quantized.artifact.name,
        quantized.artifact.name + ".data",
        *(p.name for p in table_paths(quantized.artifact)),
    }
    assert set(manifest["files"]) == names and manifest["quantization"] == mode
    assert manifest["recipe"] == recipe.recipe()


def test_a_build_by_another_recipe_is_rebuilt(private_tiny, caplog):
    from embeddinggemma.quantize import build_onnx

    artifact = build_onnx(private_tiny, "int8")
    manifest_file = artifact.with_name(artifact.name + ".json")
    manifest = json.loads(manifest_file.read_text())
    manifest["recipe"] = {"default": "dynamic int8 per tensor"}  # what an older version built under this name
    manifest_file.write_text(json.dumps(manifest))
    with caplog.at_level(logging.WARNING, logger="embeddinggemma"):
        assert build_onnx(private_tiny, "int8") == artifact
    assert "rebuilding" in caplog.text and "this version builds" in caplog.text
    assert json.loads(manifest_file.read_text())["recipe"] != manifest["recipe"]


@pytest.mark.parametrize(
    ("flags", "machine", "exact"),
    [
        ("fpu sse2 avx2 avx512f avx512bw", "x86_64", False),  # VPMADDUBSW: pairs of products in 16 bits
        ("fpu avx2 avx512f avx512_vnni", "x86_64", True),
        ("fpu avx2 avx_vnni", "x86_64", True),
        ("fpu avx512f amx_tile amx_int8", "x86_64", True),
        ("fp asimd asimddp", "aarch64", False),  # not measured by this package: block-wise
    ],
)
def test_the_integer_gemm_only_where_it_cannot_saturate(tmp_path, flags, machine, exact):
    from embeddinggemma._engines.onnx_nbits import integer_gemm_is_exact

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n")
    assert integer_gemm_is_exact(cpuinfo, machine) is exact
    assert integer_gemm_is_exact(tmp_path / "missing", "x86_64") is False


def test_without_vnni_int8_is_block_wise_and_an_artifact_from_another_cpu_is_rebuilt(private_tiny, monkeypatch):
    import onnx

    from embeddinggemma import Embedder
    from embeddinggemma._engines import onnx_nbits
    from embeddinggemma.quantize import build_onnx

    monkeypatch.setattr(onnx_nbits, "integer_gemm_is_exact", lambda: False)  # the CPU check itself: above
    artifact = build_onnx(private_tiny, "int8")
    graph = onnx.load(str(artifact), load_external_data=False).graph
    assert {n.op_type for n in graph.node} & {"MatMulNBits", "MatMulInteger"} == {"MatMulNBits"}
    manifest = json.loads(artifact.with_name(artifact.name + ".json").read_text())
    assert manifest["recipe"] == onnx_nbits.BLOCK_WISE["int8"].recipe()
    core = Embedder(model=private_tiny, quantization="int8")
    vectors = np.array(core.embed(TEXTS))
    assert cosines(vectors, reference(private_tiny, core.prompt(TEXTS, "document"))).min() > TINY_FLOOR
    assert core.vector_identity["recipe"] == onnx_nbits.BLOCK_WISE["int8"].recipe()
    namespace = core.cache_namespace
    # the folder moved to a CPU with VNNI (a shared cache): rebuilt with the integer GEMM, not reused, and
    # its vectors are named apart, so no cache or index mixes the two
    monkeypatch.setattr(onnx_nbits, "integer_gemm_is_exact", lambda: True)
    assert build_onnx(private_tiny, "int8") == artifact
    graph = onnx.load(str(artifact), load_external_data=False).graph
    assert "MatMulInteger" in {n.op_type for n in graph.node}
    moved = Embedder(model=private_tiny, quantization="int8")
    assert moved.vector_identity["recipe"]["name"] == "int8" and moved.cache_namespace != namespace


def test_a_recipe_changed_under_its_name_names_its_vectors_apart(private_tiny, monkeypatch):
    """A new version of a recipe that keeps its name (as int4 did when it went from 32 float32 channels to 8)
    rebuilds the artifact, and its vectors get another identity, so no cache or index reuses the old ones."""
    from dataclasses import replace

    from embeddinggemma import Embedder
    from embeddinggemma._engines import onnx_nbits
    from embeddinggemma.quantize import build_onnx

    monkeypatch.setattr(onnx_nbits, "integer_gemm_is_exact", lambda: True)
    artifact = build_onnx(private_tiny, "int8")
    namespace = Embedder(model=private_tiny, quantization="int8").cache_namespace
    old = onnx_nbits.RECIPES["int8"]
    changed = replace(old, default=replace(old.default, outliers=old.default.outliers // 2))
    monkeypatch.setitem(onnx_nbits.RECIPES, "int8", changed)
    monkeypatch.setitem(onnx_nbits.RECIPES_BY_NAME, changed.name, changed)
    assert changed.name == old.name and build_onnx(private_tiny, "int8") == artifact
    manifest = json.loads(artifact.with_name(artifact.name + ".json").read_text())
    assert manifest["recipe"] == changed.recipe() != old.recipe()
    after = Embedder(model=private_tiny, quantization="int8")
    assert after.vector_identity["recipe"] == changed.recipe()
    assert after.cache_namespace != namespace


@pytest.mark.parametrize("quantization", MODES)
def test_settings_route_the_onnx_modes_to_onnx_runtime(tiny, quantization):
    from embeddinggemma import QUANTIZATIONS, Embedder
    from embeddinggemma._runtimes import resolve

    assert quantization in QUANTIZATIONS
    assert resolve(Embedder(model=tiny, quantization=quantization).settings).engine == "onnxruntime"
    with pytest.raises(ValueError, match="runs on onnxruntime"):
        Embedder(model=tiny, quantization=quantization, engine="llama.cpp")


# ------------------------------------------------------------------------------------------- the vectors
def test_unit_vectors_close_to_float32(tiny, mode):
    from embeddinggemma import Embedder

    core = Embedder(model=tiny, quantization=mode)
    vectors = np.array(core.embed(TEXTS))
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert cosines(vectors, reference(tiny, core.prompt(TEXTS, "document"))).min() > TINY_FLOOR


def test_counts_and_truncation_like_the_hf_tokenizer(tiny, quantized):
    tokenizer = _st(tiny).tokenizer
    hf = tokenizer(TEXTS)["input_ids"]
    assert quantized.count_tokens(TEXTS) == [len(ids) for ids in hf]
    long = [t for t, ids in zip(TEXTS, hf, strict=True) if len(ids) > 12]
    assert len(long) >= 2
    kept = [tokenizer.decode(ids[1:11]) for ids in tokenizer(long)["input_ids"]]  # <bos> 10 tokens <eos>
    assert quantized.count_tokens(kept) == [12] * len(long)
    np.testing.assert_array_equal(encode(quantized, long, max_seq_length=12), encode(quantized, kept))


def test_vectors_do_not_depend_on_batch_or_order(quantized):
    # Texts share a call (MatMulNBits quantizes activations per row): only float rounding may differ.
    batched = encode(quantized, TEXTS)
    np.testing.assert_allclose(np.concatenate([encode(quantized, [t]) for t in TEXTS]), batched, rtol=0, atol=1e-6)
    np.testing.assert_allclose(encode(quantized, TEXTS[::-1])[::-1], batched, rtol=0, atol=1e-6)


def test_both_adapters_with_prompts_and_dimensions(tiny, mode):
    from embeddinggemma import Embedder
    from langchain_embeddinggemma import EmbeddingGemmaEmbeddings
    from llama_index_embeddinggemma import EmbeddingGemmaEmbedding

    core = Embedder(model=tiny, quantization=mode)
    docs = ["Mars is red.", "Venus is hot.", "Jupiter is big."]
    ref_docs = reference(tiny, core.prompt(docs, "document"))
    ref_query = reference(tiny, core.prompt(["red planet"], "query"))
    lc = EmbeddingGemmaEmbeddings(model=tiny, quantization=mode)
    li = EmbeddingGemmaEmbedding(model_name=tiny, quantization=mode)
    for documents, query in (
        (lc.embed_documents(docs), lc.embed_query("red planet")),
        (li.get_text_embedding_batch(docs), li.get_query_embedding("red planet")),
    ):
        assert cosines(documents, ref_docs).min() > TINY_FLOOR
        assert cosines([query], ref_query).min() > TINY_FLOOR
    np.testing.assert_allclose(lc.embed_documents(docs), li.get_text_embedding_batch(docs), atol=1e-6)
    small = EmbeddingGemmaEmbeddings(model=tiny, quantization=mode, dimensions=128).embed_documents(docs)
    np.testing.assert_allclose(np.array(small), unit(np.array(lc.embed_documents(docs))[:, :128]), atol=1e-5)


# ------------------------------------------------------------------------------------------- damage, imports
@pytest.mark.parametrize("which", [".onnx", ".onnx.data", ".table.npy", ".scales.npy"])
@pytest.mark.parametrize("quantization", MODES)
def test_a_damaged_artifact_is_rebuilt_not_used(private_tiny, which, quantization):
    import embeddinggemma._runtimes as runtimes
    from embeddinggemma import Embedder
    from embeddinggemma.quantize import build_onnx

    def vectors() -> np.ndarray:
        runtimes._shared.clear()  # what a new process would load
        return np.asarray(Embedder(model=private_tiny, quantization=quantization).embed(TEXTS))

    intact = vectors()
    artifact = build_onnx(private_tiny, quantization)
    target = artifact.with_name(artifact.name + ".data") if which == ".onnx.data" else artifact.with_suffix(which)
    before = target.read_bytes()
    flip_bits(target, every=512)
    assert target.read_bytes() != before
    np.testing.assert_allclose(vectors(), intact, atol=1e-6)


@pytest.mark.parametrize("quantization", MODES)
def test_builds_in_its_own_process_without_torch_and_leaves_logging_alone(private_tiny, quantization, tmp_path):
    blocked = tmp_path / "blocked" / "torch"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text("raise ImportError('torch is blocked in this test')\n")
    code = (
        "import sys, logging\n"
        "from embeddinggemma import Embedder\n"
        f"vectors = Embedder(model={private_tiny!r}, quantization={quantization!r}).embed(['mars', 'venus'])\n"
        "assert len(vectors) == 2 and len(vectors[0]) == 768\n"
        "print('onnx' in sys.modules, logging.getLogger().handlers)"
    )
    # torch cannot be imported here nor in the build's process, which inherits the path
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocked.parent), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    # the writer library (onnx) was never imported here: the build ran in a process of its own
    assert run.stdout.strip().splitlines()[-1] == "False []"
    assert "[INFO]" not in run.stderr
    assert list((Path(private_tiny) / "quantized").glob(f"embeddinggemma-{quantization}-*.onnx"))  # built in there


# ------------------------------------------------------------------------------------------- QAT checkpoints
def _snap(weight: np.ndarray, bits: int, absmax: bool) -> np.ndarray:
    """``weight`` ``[out, in]`` moved onto llama.cpp's grid (blocks of 32 along ``in``), as QAT leaves it."""
    half = 2 ** (bits - 1)
    blocks = weight.astype(np.float32).reshape(weight.shape[0], -1, 32)
    if absmax:  # q8_0
        scale = (np.abs(blocks).max(-1, keepdims=True) / (half - 1)).astype(np.float32)
    else:  # q4_0: the signed extreme maps to -8
        extreme = np.take_along_axis(blocks, np.abs(blocks).argmax(-1)[..., None], -1)
        scale = (extreme / -half).astype(np.float32)
    scale[scale == 0] = 1
    return (np.clip(np.rint(blocks / scale), -half, half - 1) * scale).astype(np.float32).reshape(weight.shape)


def _qat_copy(tiny: str, target: Path) -> Path:
    """The tiny model as a QAT q4_0 checkpoint: attention and Dense weights on q8_0's grid, the MLP's on q4_0's."""
    from safetensors.numpy import load_file, save_file

    shutil.copytree(tiny, target, ignore=shutil.ignore_patterns("quantized"))
    for file in [target / "model.safetensors", *target.glob("*_Dense/model.safetensors")]:
        tensors = load_file(file)
        for name, value in tensors.items():
            if value.ndim == 2 and ("_proj." in name or name == "linear.weight"):
                four = any(f"{kind}_proj." in name for kind in ("gate", "up", "down"))
                tensors[name] = _snap(value, 4 if four else 8, absmax=not four)
        save_file(tensors, file)
    return target


def _graph_weights(artifact: Path) -> dict[str, np.ndarray]:
    """Every MatMulNBits weight of ``artifact`` as the kernel reads it, ``[K, N]``, by its float weight's name."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(artifact))
    tensors = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    weights = {}
    for node in model.graph.node:
        if node.op_type != "MatMulNBits":
            continue
        a = {attribute.name: attribute.i for attribute in node.attribute}
        codes = tensors[node.input[1]].reshape(a["N"], -1)
        if a["bits"] == 4:  # two codes a byte, low nibble first
            codes = np.stack([codes & 0xF, codes >> 4], -1).reshape(a["N"], -1)
        scales = tensors[node.input[2]].reshape(a["N"], -1, 1)
        values = (codes.reshape(a["N"], -1, a["block_size"]).astype(np.float64) - 2 ** (a["bits"] - 1)) * scales
        weights[node.input[1].rsplit("_Q", 1)[0]] = values.reshape(a["N"], -1)[:, : a["K"]].T
    return weights


def test_a_qat_checkpoint_keeps_its_weights_on_their_grid(tiny, tmp_path):
    from safetensors.numpy import load_file

    from embeddinggemma._engines.onnx_nbits import QAT_RECIPES, RECIPES
    from embeddinggemma.quantize import build_onnx

    qat = _qat_copy(tiny, tmp_path / "embeddinggemma-300m-qat-q4_0-unquantized")
    artifact = build_onnx(str(qat), "int4")
    manifest = json.loads(artifact.with_name(artifact.name + ".json").read_text())
    assert manifest["recipe"] == QAT_RECIPES["int4"].recipe()
    trained = {f"{name}_t": value for name, value in load_file(qat / "model.safetensors").items()}
    for index, dense in enumerate(sorted(qat.glob("*_Dense/model.safetensors"))):
        trained[f"{dense.parent.name}.linear.weight_t"] = load_file(dense)["linear.weight"]
        assert index < 2
    found = _graph_weights(artifact)
    assert len(found) == 2 * 7 + 2  # every projection, the Dense layers not fused
    for name, weight in found.items():  # the trained grid, exactly: no scaling, no clipping, no fusing
        np.testing.assert_allclose(weight, trained[name].T, rtol=1e-6, atol=0, err_msg=name)
    vectors = np.asarray(__import__("embeddinggemma").Embedder(model=str(qat), quantization="int4").embed(TEXTS))
    assert cosines(vectors, reference(str(qat), [f"title: none | text: {t}" for t in TEXTS])).min() > 0.99

    # The same weights under another name are not taken for QAT ones: the standard recipe, with its scales.
    plain = shutil.copytree(qat, tmp_path / "fine-tuned", ignore=shutil.ignore_patterns("quantized"))
    plain_artifact = build_onnx(str(plain), "int4")
    assert json.loads(plain_artifact.with_name(plain_artifact.name + ".json").read_text())["recipe"] == (
        RECIPES["int4"].recipe()
    )
