"""Ingestion on Ray Data, on a local cluster (``ray.init(num_cpus=2)``) with the tiny model: the same vectors
as the single-process path row for row, bad rows named by id, a killed actor retried without losing or
duplicating rows, and LlamaIndex's own RayIngestionPipeline with titles in the prompt (the real model:
``tests/real_model/test_ray_real.py``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="needs Ray (pip install -e '.[ray]')")
pytest.importorskip("ray.data", reason="needs Ray Data (pip install -e '.[ray]')")

from embeddinggemma import Embedder  # noqa: E402
from embeddinggemma.ray import EmbedBatches, embed_dataset, summarize, vectors_of  # noqa: E402

ROWS = [
    {"id": f"doc-{i:03d}", "text": f"Passage {i} is about planet number {i % 7} and its {i % 3} moons.", "title": None}
    for i in range(60)
]
for row in ROWS[::5]:
    row["title"] = f"Planet {row['id']}"


def _by_id(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda row: row["id"])


def test_vectors_equal_the_single_process_path_row_for_row(ray_cluster, tiny_model):
    dataset = ray.data.from_items(ROWS, override_num_blocks=6)
    out = _by_id(
        embed_dataset(
            dataset, {"model": tiny_model, "dimensions": 256}, title_column="title", actors=2, batch_size=8
        ).take_all()
    )
    assert [row["id"] for row in out] == [row["id"] for row in ROWS]  # every row once, none lost or repeated
    expected = Embedder(model=tiny_model, dimensions=256).embed(
        [row["text"] for row in ROWS], titles=[row["title"] for row in ROWS]
    )
    np.testing.assert_allclose(vectors_of(out), expected, atol=1e-6)
    assert all(row["tokens"] > 0 and not row["truncated"] and row["error"] == "" for row in out)


def test_a_bad_row_stops_the_run_naming_its_id_or_is_skipped_and_reported(ray_cluster, tiny_model):
    rows = [dict(row) for row in ROWS[:12]]
    rows[7]["text"] = None
    dataset = ray.data.from_items(rows, override_num_blocks=3)
    with pytest.raises(Exception, match="id='doc-007' \\(text is None\\)"):
        embed_dataset(dataset, {"model": tiny_model}, batch_size=4).materialize()
    skipped = embed_dataset(dataset, {"model": tiny_model}, batch_size=4, on_bad_row="skip").materialize()
    report = summarize(skipped)
    assert (report.rows, report.embedded, report.skipped) == (12, 11, {"doc-007": "text is None"})
    kept = [row for row in skipped.take_all() if not row["error"]]
    assert len(kept) == 11 and all(len(row["vector"]) == 768 for row in kept)


def test_truncation_counts_come_back_to_the_driver(ray_cluster, tiny_model):
    rows = [dict(row) for row in ROWS[:6]]
    rows[2]["text"] = "planets " * 200
    settings = {"model": tiny_model, "max_seq_length": 64, "truncation": "silent"}
    report = summarize(embed_dataset(ray.data.from_items(rows), settings, batch_size=2).materialize())
    assert report.truncated == ("doc-002",) and report.embedded == 6


class _DiesOnce(EmbedBatches):
    """Kills its own actor process on its first batch, once per marker file: what an OOM kill or a lost node does."""

    marker: Path

    def __call__(self, batch):
        if not self.marker.exists():
            self.marker.touch()
            os._exit(1)
        return super().__call__(batch)


def test_a_killed_actor_is_retried_without_losing_or_duplicating_rows(ray_cluster, tiny_model, tmp_path):
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the actor class lives in this test file
    _DiesOnce.marker = tmp_path / "died"
    dataset = ray.data.from_items(ROWS, override_num_blocks=4).map_batches(
        _DiesOnce,
        fn_constructor_kwargs={"settings": {"model": tiny_model}, "title_column": "title"},
        batch_size=10,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=1),
    )
    out = _by_id(dataset.take_all())
    assert _DiesOnce.marker.exists()  # an actor did die
    assert [row["id"] for row in out] == [row["id"] for row in ROWS]
    expected = Embedder(model=tiny_model).embed([row["text"] for row in ROWS], titles=[row["title"] for row in ROWS])
    np.testing.assert_allclose(vectors_of(out), expected, atol=1e-6)


def test_llama_index_ray_ingestion_pipeline_embeds_with_titles(ray_cluster, tiny_model):
    from llama_index.core import Document
    from llama_index.ingestion.ray import RayIngestionPipeline, RayTransformComponent

    from llama_index_embeddinggemma import EmbeddingGemmaEmbedding, EmbeddingGemmaNodeParser

    documents = [
        Document(text=row["text"], id_=row["id"], metadata={"title": row["title"] or "none-given"}) for row in ROWS[:8]
    ]
    for doc in documents:
        doc.excluded_embed_metadata_keys = ["title"]
    pipeline = RayIngestionPipeline(
        transformations=[
            RayTransformComponent(EmbeddingGemmaNodeParser, tokenizer=tiny_model, chunk_size=64, chunk_overlap=8),
            RayTransformComponent(
                EmbeddingGemmaEmbedding,
                map_batches_kwargs={"batch_size": 4, "compute": ray.data.ActorPoolStrategy(size=1)},
                model_name=tiny_model,
            ),
        ]
    )
    nodes = sorted(pipeline.run(documents=documents), key=lambda node: node.ref_doc_id)
    assert [node.ref_doc_id for node in nodes] == [doc.doc_id for doc in documents]
    expected = Embedder(model=tiny_model).embed(
        [d.text for d in documents], titles=[d.metadata["title"] for d in documents]
    )
    np.testing.assert_allclose([node.embedding for node in nodes], expected, atol=1e-6)
