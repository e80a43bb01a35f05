"""llama.cpp on a CPU with AMX: a llama-cpp-python built there with ``-march=native`` dies of SIGILL on its
first call (``benchmarks/RESULTS.md``). The engine first runs the model in a child process on such a CPU, so
a build that dies does so there and the user gets the fix; elsewhere nothing runs twice.

The crash itself is a child killed by SIGILL (``_support.crash``): this machine's llama.cpp is built
portable, as the README's test command builds it."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from _support.crash import die_of_an_illegal_instruction

from embeddinggemma import Embedder
from embeddinggemma._engines import gguf
from embeddinggemma._engines.cpu import cpu_flags

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python ([gguf] extra) not installed"
)


@pytest.fixture(autouse=True)
def _fresh_probes(monkeypatch):
    monkeypatch.setattr(gguf, "_probed", set())


def test_a_llama_cpp_that_dies_on_amx_is_named_with_the_fix(tiny_768_model, monkeypatch):
    monkeypatch.setattr(gguf, "has_amx", lambda: True)
    monkeypatch.setattr(gguf, "probe", die_of_an_illegal_instruction)
    with pytest.raises(Exception, match="illegal instruction on this CPU, which has AMX") as refused:
        Embedder(model=tiny_768_model, quantization="q8_0").embed(["mars"])
    assert gguf.PORTABLE_REBUILD in str(refused.value) and "quantization='int8'" in str(refused.value)
    assert not gguf._probed


def test_on_amx_each_model_runs_in_a_child_once_then_here(tiny_768_model, monkeypatch):
    monkeypatch.setattr(gguf, "has_amx", lambda: True)
    vectors = Embedder(model=tiny_768_model, quantization="q8_0").embed(["mars", "venus"])
    assert np.isfinite(vectors).all() and len(gguf._probed) == 1
    monkeypatch.setattr(gguf, "probe", die_of_an_illegal_instruction)  # would fail if the child ran again
    np.testing.assert_allclose(Embedder(model=tiny_768_model, quantization="q8_0").embed(["mars", "venus"]), vectors)


def test_without_amx_nothing_runs_in_a_child(tiny_768_model, monkeypatch):
    monkeypatch.setattr(gguf, "has_amx", lambda: False)
    monkeypatch.setattr(gguf, "probe", die_of_an_illegal_instruction)
    assert np.isfinite(Embedder(model=tiny_768_model, quantization="q4_0").embed(["mars"])).all()
    assert not gguf._probed


def test_amx_is_read_from_the_cpu_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx512f amx_tile amx_int8\n")
    assert {"amx_tile", "avx512f"} <= cpu_flags(cpuinfo)
    assert cpu_flags(tmp_path / "missing") == frozenset()
    assert gguf.has_amx() == ("amx_tile" in cpu_flags())
