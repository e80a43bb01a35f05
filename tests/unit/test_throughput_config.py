"""The throughput benchmark's pieces, without a model: its configurations are a table of adapter keywords, and its
corpora (passages and short STS sentences) are deterministic and bounded."""

import pytest
from _support.eval_data import sts_eval_dir

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


def test_short_corpus_is_the_first_distinct_sts_sentences(tmp_path) -> None:
    pairs_file = sts_eval_dir(tmp_path) / "stsbenchmark" / "pairs.tsv"
    passages, queries = throughput.short_corpus(pairs_file, 5, queries=3)
    assert passages == [
        "a man is playing a guitar .",
        "a man plays the guitar .",
        "a woman is slicing an onion .",
        "the cat sits on the mat .",
        "a cat is sitting on a mat .",
    ]
    assert len(queries) == 3 and not set(queries) & set(passages)
    assert queries[0] == "an airplane departs from the runway ."  # from the end of the file
    with pytest.raises(ValueError, match="distinct sentences"):
        throughput.short_corpus(pairs_file, 500)
