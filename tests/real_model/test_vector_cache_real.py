"""The vector cache with the real model: the model card's example read back from the cache is the computed one."""

import numpy as np
from _support import MODEL_CARD_SIMILARITIES
from quickstart import DOCUMENTS, QUERY

from embeddinggemma import Embedder, VectorCache


def test_real_model_card_example_from_the_cache_is_the_computed_one(real_model, tmp_path):
    cache = VectorCache(tmp_path)
    first = Embedder(model=real_model, cache=cache)
    documents, query = first.embed(DOCUMENTS), first.embed([QUERY], side="query")[0]
    again = Embedder(model=real_model, cache=cache)
    assert again.embed(DOCUMENTS) == documents and again.embed([QUERY], side="query")[0] == query
    assert again._runtime is None and cache.hits == len(DOCUMENTS) + 1
    np.testing.assert_allclose(np.asarray(documents) @ np.asarray(query), MODEL_CARD_SIMILARITIES, atol=0.01)
