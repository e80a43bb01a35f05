"""Every benchmark script end to end on the tiny model, at its smallest sizes, so none of them rots: the
output fields present and sane. Timings are never asserted (they depend on the machine's load). The scripts'
pure pieces are checked in ``tests/unit`` (``test_throughput_config.py``, ``test_quality_helpers.py``,
``test_beir_metrics.py``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _support.eval_data import sts_eval_dir

from benchmarks import _harness, kernels, mixed_modes, quality, recipes, reindex, scale_out, throughput, vector_index

SCRIPTS = (
    "throughput",
    "quality",
    "reindex",
    "scale_out",
    "mixed_modes",
    "vector_index",
    "recipes",
    "kernels",
    "tokenizer",
)


def _assert_machine(machine: dict) -> None:
    assert machine["cpu"] and machine["cores"] >= 1 and machine["usable_cores"] >= 1 and machine["python"]
    assert isinstance(machine["cpu_flags"], list) and set(machine["cpu_flags"]) <= set(_harness.CPU_FLAGS)
    assert machine["date"] and "embeddinggemma" in machine["versions"]


# --- the harness -------------------------------------------------------------------------------------


def test_harness_reads_the_machine_memory_and_documents(tmp_path, monkeypatch) -> None:
    _assert_machine(_harness.machine_info())
    assert "cores" in _harness.machine_summary()
    memory = _harness.memory_mb()
    assert set(memory) == {"VmRSS", "VmHWM", "RssAnon", "RssFile"}
    assert 0 < memory["RssAnon"] <= memory["VmRSS"] <= memory["VmHWM"] and memory["RssFile"] > 0
    assert _harness.peak_rss_mb() >= _harness.rss_mb() > 0

    monkeypatch.delenv(_harness.EVAL_DIR_ENV, raising=False)
    assert _harness.eval_dir() == _harness.REPO.parent / "shared" / "eval"
    monkeypatch.setenv(_harness.EVAL_DIR_ENV, str(tmp_path))
    assert _harness.eval_dir() == tmp_path and _harness.eval_dir("/elsewhere") == Path("/elsewhere")

    documents = _harness.read_documents(_harness.SAMPLE_DOCS)
    assert len(documents) >= 10 and all(d.title and d.text.strip() for d in documents)
    assert [d.source for d in documents] == sorted(d.source for d in documents)


def test_harness_worker_protocol_returns_results_and_errors(tmp_path) -> None:
    ok = tmp_path / "ok.json"
    assert _harness.write_worker_result(ok, lambda: {"value": 1}) == 0
    assert json.loads(ok.read_text()) == {"value": 1}
    failed = tmp_path / "failed.json"
    assert _harness.write_worker_result(failed, lambda: 1 / 0) == 1
    assert json.loads(failed.read_text())["error"].startswith("ZeroDivisionError")
    # A worker that dies before writing: the parent gets an error row, not an exception.
    row = _harness.run_worker(throughput.__file__, ["--spec", "not json"], tmp_path / "dead.json", timeout=120)
    assert "error" in row and "traceback" not in row


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_script_runs_by_path_and_as_a_module(script: str, tmp_path) -> None:
    by_path = [sys.executable, str(_harness.REPO / "benchmarks" / f"{script}.py"), "--help"]
    as_module = [sys.executable, "-m", f"benchmarks.{script}", "--help"]
    for command in (by_path, as_module):
        env = _harness.worker_env() if command is as_module else None
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "usage:" in done.stdout and "--model" in done.stdout and "--json" in done.stdout


# --- throughput.py -----------------------------------------------------------------------------------


def test_throughput_on_the_tiny_model(tiny_model: str, tmp_path) -> None:
    out = tmp_path / "throughput.json"
    argv = ["--model", tiny_model, "--passages", "4", "--queries", "3", "--threads", "1", "--json", str(out)]
    argv += ["--configs", "langchain:default", "sentence_transformers", "langchain:bad"]
    argv += ["--extra", 'bad={"colour": "red"}']
    assert throughput.main(argv) == 0
    report = json.loads(out.read_text())

    settings = report["settings"]
    assert report["date"] and settings["corpus"] == "passages" and settings["passages"] == 4
    assert settings["threads"] == 1 and settings["passage_tokens"]["total"] > 0
    _assert_machine(report["machine"])
    assert "torch" in report["machine"]["versions"]

    rows = {row["name"]: row for row in report["results"]}
    assert list(rows) == ["sentence_transformers", "langchain:default", "langchain:bad"]
    assert "colour" in rows["langchain:bad"]["error"]  # a failing configuration is a row, the run goes on
    assert report["baseline"] == "sentence_transformers"  # no LangChain peer in this run: the first row
    for name in ("sentence_transformers", "langchain:default"):
        row = rows[name]
        assert "error" not in row, row
        assert row["docs"] == 4 and row["dimensions"] == 768 and row["queries"] == 3
        for field in ("docs_per_s", "tokens_per_s", "query_p50_ms", "cold_start_s", "load_s", "files_mib"):
            assert row[field] > 0, field
        assert row["query_p90_ms"] >= row["query_p50_ms"] and row["load_s"] <= row["cold_start_s"]
        for field in ("docs_per_s", "query_p50_speedup", "rss_after_load", "peak_rss", "cold_start"):
            assert row[f"{field}_vs_baseline"] > 0, field
        assert 0 < row["rss_after_load_mb"] <= row["peak_rss_mb"] * 1.01
        anon, file_backed = row["rss_after_load_anon_mb"], row["rss_after_load_file_mb"]
        assert anon > 0 and file_backed > 0 and anon + file_backed <= row["rss_after_load_mb"] + 1  # + shmem
        assert row["cosine_reference"] == "encode_document / encode_query"  # ours and ST send the prompts
        assert row["cos_min"] >= 0.9999 and row["cos_mean"] >= row["cos_min"]
        assert row["query_cos_min"] >= 0.9999
    assert rows["sentence_transformers"]["docs_per_s_vs_baseline"] == pytest.approx(1.0)
    assert "model.safetensors" in rows["sentence_transformers"]["files"]
    ours = rows["langchain:default"]["files"]  # the float32 ONNX graph, and the safetensors for token rows
    assert "model.safetensors" in ours and any(name.endswith(".onnx") for name in ours)


def test_throughput_short_corpus_with_sts_on_the_tiny_model(tiny_model: str, tmp_path) -> None:
    out = tmp_path / "short.json"
    eval_dir = sts_eval_dir(tmp_path / "eval")
    argv = ["--model", tiny_model, "--corpus", "short", "--passages", "6", "--queries", "2", "--threads", "1"]
    argv += ["--configs", "langchain:default", "--no-prepare", "--no-reference", "--eval-dir", str(eval_dir)]
    argv += ["--sts", "--sts-pairs", "8", "--json", str(out)]
    assert throughput.main(argv) == 0
    report = json.loads(out.read_text())

    assert report["settings"]["corpus"] == "short" and report["settings"]["passages"] == 6
    assert report["settings"]["passage_tokens"]["max"] < 64  # prompt and special tokens included
    (row,) = report["results"]
    assert "error" not in row, row
    assert row["docs"] == 6 and row["queries"] == 2 and row["docs_per_s"] > 0 and row["query_p50_ms"] > 0
    assert row["docs_per_s_vs_baseline"] == pytest.approx(1.0) and row["peak_rss_mb"] > 0
    assert row["sts_pairs"] == 8 and -1.0 <= row["sts_spearman"] <= 1.0
    assert row["sts_spearman_diff_vs_baseline"] == 0.0 and row["peak_rss_run_mb"] >= row["peak_rss_mb"]
    assert "cos_min" not in row  # no reference worker was asked for


# --- quality.py (and beir.py through it) --------------------------------------------


def test_quality_on_a_slice_of_stsbenchmark(tiny_model: str, tmp_path) -> None:
    eval_dir = _harness.eval_dir()
    if not (eval_dir / "stsbenchmark" / "pairs.tsv").is_file():
        pytest.skip(f"{eval_dir} has no STSBenchmark (set {_harness.EVAL_DIR_ENV})")
    out = tmp_path / "quality.json"
    argv = ["--model", tiny_model, "--datasets", "stsbenchmark", "--max-pairs", "12", "--adapters", "langchain"]
    argv += ["--dimensions", "768", "128", "--device", "cpu", "--no-progress", "--json", str(out)]
    assert quality.main(argv) == 0
    report = json.loads(out.read_text())

    _assert_machine(report["machine"])
    assert report["date"] and report["versions"] == report["machine"]["versions"]
    assert report["runtime"]["dtype"] == "float32" and report["command"] == argv
    scores = report["scores"]
    assert [(s["dataset"], s["adapter"], s["dimensions"]) for s in scores] == [
        ("stsbenchmark", "langchain", 768),
        ("stsbenchmark", "langchain", 128),
    ]
    for score in scores:
        assert score["pairs"] == 12 and -1.0 <= score["spearman"] <= 1.0 and 0.8 < score["published"] < 0.9
        assert score["difference"] == pytest.approx(score["spearman"] - score["published"], abs=1e-6)


def test_quality_retrieval_mode_on_tiny_beir(tiny_model: str, tmp_path) -> None:
    out = tmp_path / "beir.json"
    argv = ["--model", tiny_model, "--beir", str(_harness.TINY_BEIR), "--adapters", "langchain", "--device", "cpu"]
    assert quality.main([*argv, "--dimensions", "128", "--no-progress", "--json", str(out)]) == 0
    rows = {row["path"]: row for row in json.loads(out.read_text())["scores"]}
    assert set(rows) == {"langchain", "sentence_transformers"}
    for row in rows.values():
        assert row["queries"] == 12 and row["documents"] == 40 and row["dimensions"] == 128
        assert 0.0 <= row["ndcg_at_10"] <= 1.0 and 0.0 <= row["recall_at_10"] <= 1.0
    assert rows["langchain"]["ndcg_at_10"] == rows["sentence_transformers"]["ndcg_at_10"]


# --- mixed_modes.py ---------------------------------------------------------------------------------


def test_mixed_modes_measures_every_pair_of_modes(tiny_768_model: str, tmp_path) -> None:
    eval_dir = _harness.eval_dir()
    if not (eval_dir / "stsbenchmark" / "pairs.tsv").is_file():
        pytest.skip(f"{eval_dir} has no STSBenchmark (set {_harness.EVAL_DIR_ENV})")
    out = tmp_path / "mixed.json"
    assert mixed_modes.main(["--model", tiny_768_model, "--sts-pairs", "12", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    _assert_machine(report["machine"])
    modes = list(mixed_modes.MODES)
    assert [(r["documents"], r["queries"]) for r in report["rows"]] == [(d, q) for d in modes for q in modes]
    assert report["questions"] == len(mixed_modes.read_questions()) >= 10 and report["chunks"] > 35
    for row in report["rows"]:
        assert (
            -1 <= row["stsbenchmark"] <= 1 and 0 <= row["top10_overlap"] <= 1 and 0 <= row["top1_right_document"] <= 1
        )
    assert report["rows"][0]["top10_overlap"] == 1.0  # float32 against itself


# --- recipes.py and kernels.py ----------------------------------------------------------------------


def test_recipes_measures_each_recipe_against_float32(tiny_768_model: str, tmp_path) -> None:
    if not (_harness.eval_dir() / "stsbenchmark" / "pairs.tsv").is_file():
        pytest.skip(f"{_harness.eval_dir()} has no STSBenchmark (set {_harness.EVAL_DIR_ENV})")
    out = tmp_path / "recipes.json"
    names = ["int8", "int4 block-wise"]
    argv = [
        "--model",
        tiny_768_model,
        "--recipes",
        *names,
        "--short",
        "12",
        "--passages",
        "2",
        "--passage-tokens",
        "60",
    ]
    assert recipes.main([*argv, "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    _assert_machine(report["machine"])
    assert [row["recipe"] for row in report["rows"]] == names and isinstance(report["integer_gemm_exact"], bool)
    for row in report["rows"]:
        assert row["weights_mb"] > 0
        for corpus in ("short", "passages"):
            assert 0.9 < row[corpus]["min"] <= row[corpus]["mean"] <= 1 + 1e-6 and row[corpus]["speed"] > 0


def test_kernels_times_each_kernel_against_float32(tiny_768_model: str, tmp_path) -> None:
    out = tmp_path / "kernels.json"
    assert kernels.main(["--model", tiny_768_model, "--rows", "4", "--seconds", "0.01", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    _assert_machine(report["machine"])
    rows = {row["kernel"]: row for row in report["rows"]}
    assert set(rows) == {"float32", *(name for name in rows if name.startswith(("MatMulNBits", "integer")))}
    assert len(rows) == 8 and rows["float32"]["speed"] == 1.0 and rows["float32"]["error"] < 1e-5
    assert all(row["ms"] > 0 and 0 <= row["error"] < 0.2 for row in rows.values())


# --- vector_index.py ---------------------------------------------------------------------------------


def test_vector_index_sizes_speed_and_quality_on_the_tiny_model(tiny_model: str, tmp_path) -> None:
    out = tmp_path / "vector_index.json"
    argv = ["--model", tiny_model, "--sizes", "3000", "--queries", "3", "--no-stsb", "--beir", str(_harness.TINY_BEIR)]
    assert vector_index.main([*argv, "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    _assert_machine(report["machine"])
    configs = [(d, p) for d in vector_index.DIMENSIONS for p in vector_index.PRECISIONS]
    assert [(r["dimensions"], r["precision"]) for r in report["size_and_speed"]] == configs
    for row in report["size_and_speed"]:
        assert row["vectors"] == 3000 and row["file_mb"] > 0 and row["query_p50_ms"] > 0
        assert row["memory_mb"] == pytest.approx(row["bytes_per_vector"] * 3000 / 2**20)
    assert [(r["dimensions"], r["precision"]) for r in report["loaded"]] == [(256, "int8"), (768, "binary+f32")]
    assert all(r["peak_rss_mb"] > 0 and r["query_p50_ms"] > 0 for r in report["loaded"])
    sets = {row["set"] for row in report["quality"]}
    assert sets == {"sample-docs", "beir:tiny_beir"}
    for row in report["quality"]:
        assert 0 <= row["ndcg@10"] <= 1 and 0 <= row["recall@10"] <= 1
    firsts = [r for r in report["quality"] if r["dimensions"] == 768 and r["precision"] == "float32"]
    assert all(r["ndcg@10 kept"] == 1.0 for r in firsts)  # float32 768 is the baseline


# --- reindex.py --------------------------------------------------------------------------------------


def test_reindex_embeds_only_the_edited_document_with_the_cache(tiny_model: str, tmp_path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for path in sorted(_harness.SAMPLE_DOCS.glob("*.md"))[:3]:
        (docs / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    out = tmp_path / "reindex.json"
    argv = ["--model", tiny_model, "--docs", str(docs), "--chunk-size", "128", "--chunk-overlap", "16"]
    assert reindex.main([*argv, "--json", str(out)]) == 0
    report = json.loads(out.read_text())

    _assert_machine(report["machine"])
    first, plain, cached = report["rows"]
    assert first["chunks"] >= 3 and first["embedded"] == first["chunks"]  # a fresh cache: every chunk
    assert plain["embedded"] == plain["chunks"] >= first["chunks"]
    assert 1 <= cached["embedded"] < cached["chunks"]  # only the edited document's chunks
    assert all(row["seconds"] > 0 for row in report["rows"])


# --- scale_out.py ------------------------------------------------------------------------------------


def test_scale_out_on_ray_with_the_tiny_model(tiny_model: str, tmp_path) -> None:
    out = tmp_path / "scale_out.json"
    argv = ["--model", tiny_model, "--passages", "8", "--cpus", "2", "--batch-size", "4", "--json", str(out)]
    assert scale_out.main(argv) == 0
    report = json.loads(out.read_text())

    _assert_machine(report["machine"])
    results = report["results"]
    assert list(results) == ["single process", "Ray, 1 actor(s) x 2 CPU", "Ray, 2 actor(s) x 1 CPU"]
    for row in results.values():
        assert row["seconds"] > 0 and row["passages_per_second"] > 0
    assert results["Ray, 2 actor(s) x 1 CPU"]["startup_seconds"] > 0
    assert report["overhead_per_block_s"] > 0 and report["per_cpu"] > 0
    assert report["settings"] == {"model": tiny_model, "passages": 8, "cpus": 2, "batch_size": 4}
