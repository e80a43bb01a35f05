"""Fixtures (the tiny model, the real model, a local Ray cluster) and the collection hook that marks each test
with its kind, the folder it lives in. The helpers these rest on live in ``tests/_support``."""

from __future__ import annotations

from pathlib import Path

import pytest
from _support import REAL_MODEL, require_torch, tiny_768_model_path, tiny_model_path, tiny_v2_model_path

KINDS = ("unit", "integration", "e2e", "real_model")
"""The test folders, each a marker of the same name (registered in pyproject.toml)."""
TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its folder's kind; without EMBEDDINGGEMMA_MODEL, skip the real-model ones."""
    skip = pytest.mark.skip(reason="EMBEDDINGGEMMA_MODEL is not set (run ../shared/models/fetch-embeddinggemma)")
    for item in items:
        try:
            kind = item.path.resolve().relative_to(TESTS).parts[0]
        except ValueError:  # not under tests/
            continue
        if kind not in KINDS:
            raise pytest.UsageError(f"{item.nodeid}: a test lives in the folder of its kind, one of {KINDS}")
        item.add_marker(kind)
        if "real_model" in item.keywords and not REAL_MODEL:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_model() -> str:
    """The tiny random-weight model (hidden size 32, 768-d output); skips the test without torch."""
    require_torch()
    return tiny_model_path()


@pytest.fixture(scope="session")
def tiny_768_model() -> str:
    """The tiny model at hidden size 768 (llama.cpp's graph and 4-bit blocks); skips the test without torch."""
    require_torch()
    return tiny_768_model_path()


@pytest.fixture(scope="session")
def tiny_v2_model() -> str:
    """A tiny random-weight EmbeddingGemma 2 (transformers' own classes, 768-d output); skips without torch."""
    require_torch()
    return tiny_v2_model_path()


@pytest.fixture(scope="session")
def real_model() -> str:
    """The real model's folder; only tests in ``tests/real_model`` (skipped without it) ask for it."""
    assert REAL_MODEL, "a test that needs the real weights lives in tests/real_model"
    return REAL_MODEL


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray cluster (2 CPUs) for one test module; skips it where Ray Data is not installed."""
    ray = pytest.importorskip("ray", reason="needs Ray (pip install -e '.[ray]')")
    pytest.importorskip("ray.data", reason="needs Ray Data (pip install -e '.[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def chat_server(tmp_path_factory):
    """A real chat model (SmolLM2-135M-Instruct) served on loopback by llama.cpp's OpenAI-compatible server,
    behind a recording proxy; fetched once into the user cache. Skips where it cannot be had."""
    from _support.chat_server import RecordingProxy, chat_model_file, llama_cpp_chat_server

    log = tmp_path_factory.mktemp("chat-server") / "server.log"
    with llama_cpp_chat_server(chat_model_file(), log) as upstream, RecordingProxy(upstream) as proxy:
        yield proxy
