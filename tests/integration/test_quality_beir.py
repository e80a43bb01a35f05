"""Retrieval-quality mode end to end on the tiny model: both adapters rank exactly like sentence-transformers (the
metrics and the loader: ``tests/unit/test_beir_metrics.py``; the real model: ``tests/real_model``)."""

import json

from _support.eval_data import write_beir

from benchmarks.beir import (  # noqa: E402
    load_beir,
    rank_with_langchain,
    rank_with_llama_index,
    rank_with_sentence_transformers,
)
from benchmarks.quality import TINY_BEIR, main, make_adapter, runtime_settings  # noqa: E402


def test_adapters_rank_exactly_like_sentence_transformers(tiny_model):
    """Both frameworks' FAISS stores, fed by the adapters (titles in the prompt), give the reference's
    top 10 for every query: prompts, titles, ids and inner-product search all line up."""
    data = load_beir(TINY_BEIR)
    runtime = runtime_settings(device="cpu")
    reference = rank_with_sentence_transformers(tiny_model, data, dimensions=256, device="cpu")
    lc = rank_with_langchain(
        make_adapter("langchain", tiny_model, task="retrieval", dimensions=256, runtime=runtime), data
    )
    li = rank_with_llama_index(
        make_adapter("llama_index", tiny_model, task="retrieval", dimensions=256, runtime=runtime), data
    )
    assert set(reference) == set(data.queries)
    assert all(len(ranked) == 10 for ranked in reference.values())
    assert lc == reference
    assert li == reference


def test_query_id_is_never_its_own_hit(tiny_model, tmp_path):
    # ArguAna-style: the query is also a document with the same id; BEIR and MTEB drop that hit.
    folder = write_beir(tmp_path, "q1\td1\t1\n")
    with open(folder / "corpus.jsonl", "a") as handle:
        handle.write(json.dumps({"_id": "q1", "title": "", "text": "first"}) + "\n")
    data = load_beir(folder)
    embeddings = make_adapter(
        "langchain", tiny_model, task="retrieval", dimensions=128, runtime=runtime_settings(device="cpu")
    )
    assert rank_with_langchain(embeddings, data)["q1"] in (["d1", "d2"], ["d2", "d1"])


def test_beir_command_line_writes_json(tiny_model, tmp_path):
    out = tmp_path / "beir.json"
    code = main(
        ["--beir", str(TINY_BEIR), "--model", tiny_model, "--device", "cpu", "--dimensions", "128"]
        + ["--json", str(out), "--no-progress"]
    )
    assert code == 0
    report = json.loads(out.read_text())
    rows = {row["path"]: row for row in report["scores"]}
    assert set(rows) == {"langchain", "llama_index", "sentence_transformers"}
    for row in rows.values():
        assert row["dataset"] == "tiny_beir" and row["queries"] == 12 and row["documents"] == 40
        assert 0.0 <= row["ndcg_at_10"] <= 1.0 and 0.0 <= row["recall_at_10"] <= 1.0
    assert rows["langchain"]["ndcg_at_10"] == rows["sentence_transformers"]["ndcg_at_10"]
    assert report["runtime"]["dtype"] == "float32" and report["date"]
