"""The output checks refuse vectors that are not one finite, non-zero row per input."""

import numpy as np
import pytest

from embeddinggemma import OutputCheckError, shape_vectors


def test_output_checks_refuse_bad_vectors():
    good = np.ones((2, 768), np.float32)
    with pytest.raises(OutputCheckError, match="2 vectors for 3 inputs"):
        shape_vectors(good, 768, 3)
    with pytest.raises(OutputCheckError, match="NaN"):
        shape_vectors(np.full((1, 768), np.nan, np.float32), 768, 1)
    with pytest.raises(OutputCheckError, match="zero vectors for inputs \\[1\\]"):
        shape_vectors(np.stack([good[0], np.zeros(768, np.float32)]), 768, 2)
