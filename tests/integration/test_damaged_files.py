"""A damaged file never becomes a wrong vector: each case the fault battery found, done again.

Cached artifacts are checked against their manifest (size and content hash) before use and rebuilt when
damaged; the user's own model files are checked before any long work and named with the fix.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
from _support import build_tiny_model, flip_bits

from embeddinggemma import Embedder, ModelLoadError

needs_llama_cpp = pytest.mark.skipif(
    not __import__("importlib").util.find_spec("llama_cpp"), reason="llama-cpp-python ([gguf] extra) not installed"
)
TEXTS = ["which planet is known as the red planet", "mars venus jupiter saturn " * 4, "a"]


@functools.cache
def _tiny_768(root: str, seed: int) -> str:
    return str(build_tiny_model(Path(root) / f"seed-{seed}", hidden_size=768, seed=seed))


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[int, str]:
    root = tmp_path_factory.mktemp("models")
    return {seed: _tiny_768(str(root), seed) for seed in (0, 1)}


@pytest.fixture
def model(models, tmp_path) -> str:
    """A private copy of the tiny model: each test damages its own artifacts."""
    return str(shutil.copytree(models[0], tmp_path / "model", ignore=shutil.ignore_patterns("quantized")))


def vectors(model: str, **settings) -> np.ndarray:
    """The vectors a new process would get: loaded weights are not reused from an earlier load."""
    import embeddinggemma._runtimes as runtimes

    runtimes._shared.clear()
    return np.asarray(Embedder(model=model, **settings).embed(TEXTS))


# -- cached artifacts ---------------------------------------------------------------------------------


@needs_llama_cpp
def test_two_gguf_files_with_the_same_name_and_size_never_share_a_runtime_copy(models, tmp_path, monkeypatch):
    from embeddinggemma.quantize import build_gguf

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # where runtime copies of read-only files go
    paths = []
    for seed, place in ((0, "x"), (1, "y")):
        folder = tmp_path / place / "models"
        folder.mkdir(parents=True)
        path = folder / "m.gguf"
        shutil.copyfile(build_gguf(models[seed], "f32", tmp_path / f"build-{seed}"), path)
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR)  # read-only, like a shared model store
        paths.append(path)
    assert paths[0].stat().st_size == paths[1].stat().st_size
    try:
        first, second = (vectors(str(path)) for path in paths)
        own = [vectors(models[seed], device="cpu") for seed in (0, 1)]
    finally:
        for path in paths:
            path.parent.chmod(stat.S_IRWXU)
    assert (first * own[0]).sum(1).min() > 0.9999
    assert (second * own[1]).sum(1).min() > 0.9999  # its own vectors, not the first file's


@needs_llama_cpp
@pytest.mark.parametrize("which", ["gguf", "runtime copy"])
@pytest.mark.parametrize("damage", ["flipped bits", "truncated", "emptied"])
def test_a_damaged_gguf_artifact_is_rebuilt_not_used(model, which, damage):
    from embeddinggemma.quantize import build_gguf

    intact = vectors(model, quantization="q8_0")
    artifact = build_gguf(model, "q8_0")
    target = artifact if which == "gguf" else next(artifact.parent.glob("*.runtime.gguf"))
    if damage == "flipped bits":
        flip_bits(target)
    else:
        target.write_bytes(target.read_bytes()[: target.stat().st_size // 2 if damage == "truncated" else 0])
    again = vectors(model, quantization="q8_0")
    np.testing.assert_allclose(again, intact, atol=1e-6)


@pytest.mark.parametrize("which", [".onnx", ".table.npy", ".scales.npy"])
def test_a_damaged_onnx_artifact_is_rebuilt_not_used(model, which):
    from embeddinggemma.quantize import build_onnx

    intact = vectors(model, quantization="int8")
    artifact = build_onnx(model, "int8")
    target = artifact if which == ".onnx" else artifact.with_name(artifact.stem + which)
    flip_bits(target, every=512)
    np.testing.assert_allclose(vectors(model, quantization="int8"), intact, atol=1e-6)


@needs_llama_cpp
def test_an_interrupted_build_leaves_nothing_behind(model):
    from embeddinggemma.quantize import artifact_path, build_gguf

    target = artifact_path(model, "gguf", "q8_0")
    leftover = target.with_name(f".{target.name}.999999.tmp")  # what `kill -9` during a build leaves
    leftover.write_bytes(b"\0" * 4096)
    half_written = target.with_name(target.name)  # and an artifact with no manifest (killed before it)
    half_written.write_bytes(b"GGUF half")
    build_gguf(model, "q8_0")
    assert not leftover.exists()
    assert json.loads(target.with_name(target.name + ".json").read_text())["files"][target.name]["bytes"] > 9


# -- the user's model files -----------------------------------------------------------------------------


def test_a_truncated_safetensors_is_named_with_the_fix(model):
    weights = Path(model) / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(ModelLoadError, match=r"model\.safetensors' is truncated: it has \d+ bytes.*re-download"):
        Embedder(model=model, device="cpu").embed(["x"])


def test_a_truncated_safetensors_is_refused_before_building_an_artifact(model):
    weights = Path(model) / "2_Dense" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:5])
    with pytest.raises(ModelLoadError, match=r"2_Dense/model\.safetensors' is empty or truncated"):
        Embedder(model=model, quantization="int8").embed(["x"])
    assert not (Path(model) / "quantized").exists() or not list((Path(model) / "quantized").glob("*.onnx"))


def test_a_dense_module_holding_only_a_pickle_is_never_loaded(model, tmp_path):
    dense = Path(model) / "2_Dense"
    marker = tmp_path / "pickle-ran"
    (dense / "model.safetensors").unlink()
    (dense / "pytorch_model.bin").write_bytes(_pickle_that_touches(marker))
    with pytest.raises(
        ModelLoadError, match=r"pytorch_model\.bin' is a pickle.*never loads.*Convert it to safetensors"
    ):
        Embedder(model=model, device="cpu").embed(["x"])
    assert not marker.exists()


def _pickle_that_touches(marker: Path) -> bytes:
    import pickle

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    return pickle.dumps(Payload())


@pytest.mark.parametrize(
    "content, words",
    [
        (b"", "is empty"),
        (os.urandom(4096), "is not a GGUF file"),
        (b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 40, "is truncated or damaged"),
    ],
)
def test_a_bad_gguf_passed_as_the_model_is_named(tmp_path, content, words):
    pytest.importorskip("gguf")
    pytest.importorskip("llama_cpp")
    path = tmp_path / "model.gguf"
    path.write_bytes(content)
    with pytest.raises(ModelLoadError, match=rf"model.gguf' {words}.*Download it again"):
        Embedder(model=str(path)).embed(["x"])


@needs_llama_cpp
def test_a_truncated_gguf_passed_as_the_model_is_named(models, tmp_path):
    from embeddinggemma.quantize import build_gguf

    whole = build_gguf(models[0], "q8_0", tmp_path / "build")
    path = tmp_path / "cut.gguf"
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(ModelLoadError, match="cut.gguf' is truncated or damaged"):
        Embedder(model=str(path)).embed(["x"])
