"""STS quality mode: the benchmark's mechanics on the tiny model (the real-model gates, STSBenchmark and STS17
en-de against MTEB's published scores: ``tests/real_model/test_quality_gate_real.py``)."""

import json
from pathlib import Path

import pytest
from _support.eval_data import STS_ROWS, sts_eval_dir

from benchmarks.quality import (  # noqa: E402
    DATASETS,
    MULTILINGUAL,
    evaluate,
    main,
    runtime_settings,
)


def _eval_dir(folder: Path, sets: tuple[str, ...] = ("stsbenchmark",)) -> Path:
    """A miniature eval folder in the shared layout: STS sets (the same pairs) and the published-scores file."""
    sts_eval_dir(folder, sets, rows=STS_ROWS[:6])
    tasks = {key: {"cosine_spearman": 0.5} for key in DATASETS.values()}
    (folder / "published_scores.json").write_text(json.dumps({"tasks": tasks}))
    return folder


def test_sts_mode_through_both_adapters_on_tiny_model(tiny_model, tmp_path):
    eval_dir = _eval_dir(tmp_path / "eval")
    out = tmp_path / "sts.json"
    argv = ["--model", tiny_model, "--eval-dir", str(eval_dir), "--datasets", "stsbenchmark", "--device", "cpu"]
    assert main(argv + ["--dimensions", "768", "128", "--json", str(out), "--no-progress"]) == 0
    report = json.loads(out.read_text())
    scores = report["scores"]
    assert [(s["adapter"], s["dimensions"]) for s in scores] == [
        ("langchain", 768),
        ("langchain", 128),
        ("llama_index", 768),
        ("llama_index", 128),
    ]
    for s in scores:
        assert s["pairs"] == 6 and -1.0 <= s["spearman"] <= 1.0
        assert s["difference"] == pytest.approx(s["spearman"] - 0.5, abs=1e-6)
    # Same core pipeline behind both frameworks: the same score at the same size.
    assert scores[0]["spearman"] == scores[2]["spearman"] and scores[1]["spearman"] == scores[3]["spearman"]
    assert report["runtime"]["dtype"] == "float32" and "torch" in report["versions"]


def test_the_multilingual_group_runs_the_nine_sts17_sets(tiny_model, tmp_path):
    eval_dir = _eval_dir(tmp_path / "eval", tuple(MULTILINGUAL))
    out = tmp_path / "sts.json"
    argv = ["--model", tiny_model, "--eval-dir", str(eval_dir), "--datasets", "multilingual", "--adapters", "langchain"]
    assert main([*argv, "--json", str(out), "--no-progress"]) == 0
    scores = json.loads(out.read_text())["scores"]
    assert [s["dataset"] for s in scores] == list(MULTILINGUAL) and len(scores) == 9
    assert {s["spearman"] for s in scores} == {scores[0]["spearman"]}  # the same pairs: the same score


def test_derived_dimensions_equal_asking_the_adapter(tiny_model, tmp_path):
    eval_dir = _eval_dir(tmp_path / "eval")
    runtime = runtime_settings(device="cpu")
    args = (tiny_model, eval_dir, ["stsbenchmark"], ["langchain"], [768, 256, 128], runtime)
    direct = evaluate(*args, progress=False)
    derived = evaluate(*args, progress=False, derive_dimensions=True)
    assert [s.derived_from_768 for s in derived] == [False, True, True]
    for a, b in zip(direct, derived, strict=True):
        assert a.dimensions == b.dimensions
        assert a.spearman == pytest.approx(b.spearman, abs=1e-6) and a.pearson == pytest.approx(b.pearson, abs=1e-5)
