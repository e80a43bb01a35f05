"""A vector cache never makes embedding fail, and never hands back a vector made with other weights or
settings: a folder that cannot be written (read-only, full, an entry's name taken by a folder) or a store
that fails is skipped with one warning, the vectors still come back, and a counter says what was lost."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

from embeddinggemma import CacheWriteWarning, Embedder, EmbeddingSettings, VectorCache

TEXTS = [f"Planet number {i} circles its star once every {i + 3} years." for i in range(12)]


def _mount_namespaces() -> bool:
    """Whether this machine lets a test make a private mount namespace (``unshare -m``)."""
    if shutil.which("unshare") is None:
        return False
    try:
        done = subprocess.run(["unshare", "-m", "true"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


needs_mounts = pytest.mark.skipif(not _mount_namespaces(), reason="no private mount namespaces here (unshare -m)")

CHILD = """
import json, warnings
import numpy as np
from embeddinggemma import CacheWriteWarning, Embedder, VectorCache
texts = {texts!r}
plain = np.asarray(Embedder(model={model!r}).embed(texts))
cache = VectorCache({folder!r})
embedder = Embedder(model={model!r}, cache=cache)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    first = np.asarray(embedder.embed(texts))
    second = np.asarray(embedder.embed(texts))
print(json.dumps({{
    "equal": bool(np.abs(first - plain).max() < 1e-6 and np.abs(second - plain).max() < 1e-6),
    "writes": cache.writes, "failed": cache.failed_writes, "hits": cache.hits,
    "warnings": [str(w.message) for w in caught if issubclass(w.category, CacheWriteWarning)],
}}))
"""


def _in_mount_namespace(setup: str, folder: Path, model: str) -> dict:
    code = CHILD.format(texts=TEXTS, model=model, folder=str(folder))
    script = f"set -e\n{setup}\nexec {shlex.quote(sys.executable)} -c {shlex.quote(textwrap.dedent(code))}"
    done = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@needs_mounts
def test_a_read_only_cache_folder_returns_every_vector_and_warns_once(tiny_model, tmp_path):
    folder = tmp_path / "vectors"
    folder.mkdir()
    read_only = f"mount --bind {folder} {folder}\nmount -o remount,bind,ro {folder}"
    result = _in_mount_namespace(read_only, folder, tiny_model)
    assert result["equal"]
    assert (result["writes"], result["failed"], result["hits"]) == (0, 2 * len(TEXTS), 0)
    [warning] = result["warnings"]
    assert str(folder) in warning and "Read-only file system" in warning and "cache=None" in warning


@needs_mounts
def test_a_full_disk_returns_every_vector_and_counts_what_was_not_stored(tiny_model, tmp_path):
    folder = tmp_path / "vectors"
    folder.mkdir()
    result = _in_mount_namespace(f"mount -t tmpfs -o size=12k tmpfs {folder}", folder, tiny_model)
    assert result["equal"]
    assert result["failed"] > 0 and result["writes"] + result["failed"] + result["hits"] == 2 * len(TEXTS)
    [warning] = result["warnings"]
    assert str(folder) in warning and "No space left on device" in warning


def _entry_paths(embedder: Embedder, cache: VectorCache, folder: Path) -> list[Path]:
    keys = [cache.key(embedder.cache_namespace, "document", text) for text in embedder.prompt(TEXTS, "document")]
    return [folder / key[:2] / key for key in keys]


def test_entry_names_taken_by_folders_are_damaged_entries_and_embedding_goes_on(tiny_model, tmp_path):
    folder = tmp_path / "vectors"
    cache = VectorCache(folder)
    embedder = Embedder(model=tiny_model, cache=cache)
    for path in _entry_paths(embedder, cache, folder):
        path.mkdir(parents=True)
    plain = np.asarray(Embedder(model=tiny_model).embed(TEXTS))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = np.asarray(embedder.embed(TEXTS))
        second = np.asarray(embedder.embed(TEXTS))
    np.testing.assert_allclose(first, plain, atol=1e-6)
    np.testing.assert_allclose(second, plain, atol=1e-6)
    assert (cache.hits, cache.writes, cache.failed_writes, cache.rejected) == (0, 0, 2 * len(TEXTS), 2 * len(TEXTS))
    [warning] = [w for w in caught if issubclass(w.category, CacheWriteWarning)]
    assert str(folder) in str(warning.message) and "Is a directory" in str(warning.message)


class _BrokenStore:
    """A key-value store (LangChain's ByteStore methods) whose disk went away."""

    def __init__(self, reads: bool) -> None:
        self.reads = reads

    def mget(self, keys):
        if self.reads:
            raise ConnectionError("the store's server is gone")
        return [None] * len(keys)

    def mset(self, pairs):
        raise ConnectionError("the store's server is gone")


@pytest.mark.parametrize("reads", [False, True], ids=["writes-fail", "reads-and-writes-fail"])
def test_a_failing_store_never_fails_embedding(tiny_model, reads):
    cache = VectorCache(_BrokenStore(reads))
    plain = np.asarray(Embedder(model=tiny_model).embed(TEXTS[:3]))
    with pytest.warns(CacheWriteWarning, match="_BrokenStore.*ConnectionError: the store's server is gone"):
        cached = np.asarray(Embedder(model=tiny_model, cache=cache).embed(TEXTS[:3]))
    np.testing.assert_allclose(cached, plain, atol=1e-6)
    assert (cache.writes, cache.failed_writes) == (0, 3)


@pytest.mark.parametrize("empty", ["", "   "])
def test_an_empty_cache_path_is_refused_at_construction(empty, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"cache='\s*' is an empty path"):
        EmbeddingSettings(cache=empty)
    with pytest.raises(ValueError, match="empty path"):
        VectorCache(empty)
    assert list(tmp_path.iterdir()) == []


def test_another_engine_on_the_same_folder_never_reads_the_first_engines_vectors(tiny_model, tmp_path):
    pytest.importorskip("sentence_transformers")
    cache = VectorCache(tmp_path / "vectors")
    onnx = Embedder(model=tiny_model, cache=cache)
    torch_engine = Embedder(model=tiny_model, engine="torch", device="cpu", cache=cache)
    assert onnx.vector_identity["engine"] == "onnxruntime" and torch_engine.vector_identity["engine"] == "torch"
    assert onnx.cache_namespace != torch_engine.cache_namespace
    onnx.embed(TEXTS[:4])
    torch_engine.embed(TEXTS[:4])
    assert (cache.hits, cache.misses, cache.writes) == (0, 8, 8)
    torch_engine.embed(TEXTS[:4])
    assert cache.hits == 4


def test_another_server_or_model_name_is_another_namespace(tmp_path):
    def namespace(**settings: object) -> str:
        return Embedder(backend="openai", cache=tmp_path, **settings).cache_namespace

    first = namespace(base_url="http://127.0.0.1:8001/v1", model="embeddinggemma")
    assert first == namespace(base_url="http://127.0.0.1:8001/v1", model="embeddinggemma")
    assert first != namespace(base_url="http://127.0.0.1:8002/v1", model="embeddinggemma")
    assert first != namespace(base_url="http://127.0.0.1:8001/v1", model="embeddinggemma:300m-qat-q8_0")
    assert first != Embedder(backend="ollama", base_url="http://127.0.0.1:8001/v1", cache=tmp_path).cache_namespace
