"""Ray Data ingestion with the real model: the model card's example embedded on a local cluster gives the model
card's similarities."""

import numpy as np
import pytest
from _support import MODEL_CARD_SIMILARITIES
from quickstart import DOCUMENTS, QUERY

pytest.importorskip("ray.data", reason="needs Ray Data (pip install -e '.[ray]')")

from embeddinggemma import Embedder  # noqa: E402
from embeddinggemma.ray import embed_dataset, vectors_of  # noqa: E402


def test_real_model_card_example_through_ray(ray_cluster, real_model):
    rows = [{"id": i, "text": text} for i, text in enumerate(DOCUMENTS)]
    out = sorted(
        embed_dataset(ray_cluster.data.from_items(rows), {"model": real_model}).take_all(), key=lambda r: r["id"]
    )
    query = np.asarray(Embedder(model=real_model).embed([QUERY], side="query")[0])
    np.testing.assert_allclose(vectors_of(out) @ query, MODEL_CARD_SIMILARITIES, atol=0.01)
