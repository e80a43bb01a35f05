"""benchmarks/throughput.py end to end on the tiny model: every configuration in its own process, the
JSON fields present and sane. Timings are never asserted (they depend on the machine's load)."""

from __future__ import annotations

import json

import pytest

from benchmarks import throughput


def test_configurations_are_a_table_of_adapter_keywords() -> None:
    extra = throughput.parse_extra(['onnx={"engine": "onnxruntime"}'])
    assert extra == {"onnx": {"engine": "onnxruntime"}}
    table = throughput.config_table(extra)
    names = list(table)
    assert names[:3] == ["peer:langchain", "peer:llama_index", "sentence_transformers"]  # peers measured first
    assert table["langchain:default"]["kwargs"] == {} and table["llama_index:int8"]["kwargs"] == {
        "quantization": "int8"
    }
    assert table["llama_index:onnx"] == {
        "kind": "ours",
        "adapter": "llama_index",
        "runtime": "onnx",
        "kwargs": {"engine": "onnxruntime"},
    }
    assert throughput.select(table, ["int8", "peer:langchain"], []) == [
        "peer:langchain",
        "langchain:int8",
        "llama_index:int8",
    ]
    assert throughput.select(table, ["sentence_transformers"], ["onnx"])[-2:] == ["langchain:onnx", "llama_index:onnx"]
    assert throughput.select(table, ["langchain:onnx"], ["onnx"]) == ["langchain:onnx"]
    with pytest.raises(ValueError, match="unknown"):
        throughput.select(table, ["nope"], [])
    with pytest.raises(ValueError):
        throughput.parse_extra(["no-equals-sign"])


def test_corpus_is_deterministic_and_bounded(tmp_path) -> None:
    def words(text: str) -> int:
        return len(text.split())

    first = throughput.build_corpus(words, 6, tmp_path / "missing.tsv", target_tokens=60, longest=80, queries=4)
    again = throughput.build_corpus(words, 6, tmp_path / "missing.tsv", target_tokens=60, longest=80, queries=4)
    assert first == again
    passages, queries = first
    assert len(passages) == 6 and len(queries) == 4
    assert all(0 < words(p) <= 80 for p in passages)


def test_throughput_on_the_tiny_model(tiny_model: str, tmp_path) -> None:
    out = tmp_path / "throughput.json"
    argv = ["--model", tiny_model, "--passages", "4", "--queries", "3", "--threads", "1", "--json", str(out)]
    argv += ["--configs", "langchain:default", "sentence_transformers", "langchain:bad"]
    argv += ["--extra", 'bad={"colour": "red"}']
    assert throughput.main(argv) == 0
    report = json.loads(out.read_text())

    assert report["date"] and report["settings"]["passages"] == 4 and report["settings"]["threads"] == 1
    assert report["settings"]["passage_tokens"]["total"] > 0
    machine = report["machine"]
    assert machine["cpu"] and machine["cores"] >= 1 and machine["python"] and "torch" in machine["versions"]

    rows = {row["name"]: row for row in report["results"]}
    assert list(rows) == ["sentence_transformers", "langchain:default", "langchain:bad"]
    assert "colour" in rows["langchain:bad"]["error"]  # a failing configuration is a row, the run goes on
    assert report["baseline"] == "sentence_transformers"  # no LangChain peer in this run: the first row
    for name in ("sentence_transformers", "langchain:default"):
        row = rows[name]
        assert "error" not in row, row
        assert row["docs"] == 4 and row["dimensions"] == 768 and row["queries"] == 3
        for field in ("docs_per_s", "tokens_per_s", "query_p50_ms", "cold_start_s"):
            assert row[field] > 0, field
        assert row["query_p90_ms"] >= row["query_p50_ms"]
        for field in ("docs_per_s", "query_p50_speedup", "rss_after_load", "peak_rss", "cold_start"):
            assert row[f"{field}_vs_baseline"] > 0, field
        assert 0 < row["rss_after_load_mb"] <= row["peak_rss_mb"] * 1.01
        assert row["cosine_reference"] == "encode_document / encode_query"  # ours and ST send the prompts
        assert row["cos_min"] >= 0.9999 and row["cos_mean"] >= row["cos_min"]
        assert row["query_cos_min"] >= 0.9999
    assert rows["sentence_transformers"]["docs_per_s_vs_baseline"] == pytest.approx(1.0)
