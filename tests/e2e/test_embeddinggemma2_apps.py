"""EmbeddingGemma 2 in the RAG apps (``--model``) and on Ray Data, with a tiny random-weight version-2 model
built from transformers' own classes (the real weights cannot be fetched here)."""

from __future__ import annotations

import numpy as np
import pytest
from _support import tiny_model_path, tiny_v2_model_path
from _support.apps import APPS, SAMPLE_DOCS, check_answer, closed_port_url, run_app
from _support.ollama import OllamaServer

from embeddinggemma import Embedder


@pytest.mark.parametrize("app", APPS)
def test_the_apps_answer_from_a_version_2_index_and_rebuild_it_for_version_1(app, tmp_path):
    index = tmp_path / "index"
    with OllamaServer() as server:
        first = run_app(app, index, "-k", "3", url=server.url, model=tiny_v2_model_path())
        assert first.returncode == 0, first.stderr
        assert "building a new index" in first.stdout
        assert len(check_answer(first.stdout, SAMPLE_DOCS, server)) == 3
    again = run_app(app, index, "--retrieval-only", url=closed_port_url(), model=tiny_v2_model_path())
    assert "reusing the index" in again.stdout, again.stderr
    other = run_app(app, index, "--retrieval-only", url=closed_port_url(), model=tiny_model_path())
    assert other.returncode == 0, other.stderr
    assert "rebuilding" in other.stdout and "embedding settings changed" in other.stdout


def test_ray_gives_the_single_process_vectors_for_version_2(ray_cluster):
    from embeddinggemma.ray import embed_dataset, vectors_of

    model = tiny_v2_model_path()
    rows = [
        {"id": f"doc-{i:02d}", "text": f"Passage {i} is about planet number {i % 7}. " * (1 + i % 9)} for i in range(24)
    ]
    out = sorted(
        embed_dataset(ray_cluster.data.from_items(rows, override_num_blocks=4), {"model": model}, actors=2).take_all(),
        key=lambda row: row["id"],
    )
    assert [row["id"] for row in out] == [row["id"] for row in rows]
    expected = Embedder(model=model).embed([row["text"] for row in rows])
    np.testing.assert_allclose(vectors_of(out), expected, atol=1e-6)
