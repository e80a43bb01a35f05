"""The real-model quality gates: STSBenchmark through the LangChain adapter and cross-lingual STS17 en-de through
LlamaIndex are within 0.005 of MTEB's published scores (skipped where the shared eval data is absent)."""

import pytest

from benchmarks.quality import DEFAULT_EVAL_DIR, evaluate, runtime_settings


@pytest.mark.parametrize(
    ("dataset", "adapter"),
    [("stsbenchmark", "langchain"), ("sts17_en_de", "llama_index")],  # English; English against German
)
def test_real_model_within_0005_of_published(real_model, dataset, adapter):
    pytest.importorskip("scipy", reason="the scores are scipy's Spearman correlations (the [dev] extra)")
    if not (DEFAULT_EVAL_DIR / dataset).is_dir():
        pytest.skip(f"{DEFAULT_EVAL_DIR / dataset} is not present")
    (score,) = evaluate(
        real_model, DEFAULT_EVAL_DIR, [dataset], [adapter], [768], runtime_settings(device="cpu"), progress=False
    )
    assert abs(score.difference) <= 0.005, score
