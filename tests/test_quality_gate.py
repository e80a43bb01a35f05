"""Quality gate with the real model: STSBenchmark through the LangChain adapter matches MTEB."""

import sys
from pathlib import Path

import pytest
from conftest import REAL_MODEL, requires_real_model

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.quality import DEFAULT_EVAL_DIR, evaluate  # noqa: E402

pytestmark = [requires_real_model, pytest.mark.real_model]


@pytest.mark.skipif(not (DEFAULT_EVAL_DIR / "stsbenchmark").is_dir(), reason="../shared/eval is not present")
def test_stsbenchmark_through_langchain_within_0005_of_published():
    (score,) = evaluate(REAL_MODEL, DEFAULT_EVAL_DIR, ["stsbenchmark"], ["langchain"], [768], progress=False)
    assert abs(score.difference) <= 0.005, score
