"""Ray ingestion meets the rows real datasets have: a column that mixes strings and other types (which Ray
cannot put into one Arrow batch) is named row by row, or skipped and reported; and EmbedBatches answers
in whatever batch format it is given."""

from __future__ import annotations

import numpy as np
import pytest

from embeddinggemma import Embedder
from embeddinggemma.ray import EmbedBatches, RowOptions, embed_dataset, summarize, vectors_of

MIXED = [{"id": f"row-{i}", "text": (f"Moon number {i} is small." if i % 3 else i), "title": "Moons"} for i in range(9)]


@pytest.mark.parametrize("blocks", [1, 3, None], ids=["one-block", "three-blocks", "a-block-per-row"])
def test_a_column_mixing_strings_and_numbers_names_each_bad_row(ray_cluster, tiny_model, blocks):
    dataset = ray_cluster.data.from_items(MIXED, override_num_blocks=blocks)
    with pytest.raises(Exception, match=r"id='row-[036]' \(text is a int, not a string\)"):
        embed_dataset(dataset, {"model": tiny_model}, title_column="title", batch_size=4).materialize()
    embedded = embed_dataset(dataset, {"model": tiny_model}, title_column="title", batch_size=4, on_bad_row="skip")
    report = summarize(embedded.materialize())
    assert report.rows == 9 and report.embedded == 6
    assert report.skipped == {f"row-{i}": "text is a int, not a string" for i in (0, 3, 6)}
    kept = sorted((row for row in embedded.take_all() if not row["error"]), key=lambda row: row["id"])
    expected = Embedder(model=tiny_model).embed([row["text"] for row in kept], titles=["Moons"] * len(kept))
    np.testing.assert_allclose(vectors_of(kept), expected, atol=1e-6)


@pytest.mark.parametrize("batch_format", ["pyarrow", "pandas", "numpy"])
def test_embed_batches_answers_in_the_batch_format_it_is_given(ray_cluster, tiny_model, batch_format):
    rows = [{"id": i, "text": f"Passage {i} about moons."} for i in range(6)]
    out = (
        ray_cluster.data.from_items(rows, override_num_blocks=2)
        .map_batches(
            EmbedBatches,
            fn_constructor_kwargs={"settings": {"model": tiny_model, "dimensions": 128}},
            batch_format=batch_format,
            batch_size=3,
            compute=ray_cluster.data.ActorPoolStrategy(size=1),
        )
        .take_all()
    )
    out = sorted(out, key=lambda row: row["id"])
    expected = Embedder(model=tiny_model, dimensions=128).embed([row["text"] for row in rows])
    np.testing.assert_allclose(vectors_of(out), expected, atol=1e-6)
    assert all(row["tokens"] > 0 and row["error"] == "" for row in out)


def test_row_options_are_declared_once_and_checked():
    with pytest.raises(ValueError, match="on_bad_row='drop' is unknown"):
        RowOptions(on_bad_row="drop")
    with pytest.raises(TypeError, match="titel_column"):
        RowOptions(titel_column="title")
    assert RowOptions().problem({"text": "x\ud800"}) == "text holds a lone surrogate"
