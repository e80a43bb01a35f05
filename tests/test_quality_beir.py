"""Retrieval-quality mode: metrics by hand, the BEIR loader, and the mode end to end (tiny and real model)."""

import json
import math
from pathlib import Path

import pytest

from benchmarks.beir import (  # noqa: E402
    load_beir,
    mean_metrics,
    ndcg_at_k,
    rank_with_langchain,
    rank_with_llama_index,
    rank_with_sentence_transformers,
    recall_at_k,
)
from benchmarks.quality import TINY_BEIR, evaluate_beir, main, make_adapter, runtime_settings  # noqa: E402

# --- metrics, computed by hand -------------------------------------------------------------------------


def test_ndcg_linear_gains_by_hand():
    grades = {"a": 2, "c": 1, "z": 0}
    # DCG = 2/log2(2) + 0 + 1/log2(4) = 2.5; ideal = 2/log2(2) + 1/log2(3)
    assert ndcg_at_k(["a", "b", "c"], grades) == pytest.approx(2.5 / (2 + 1 / math.log2(3)))
    # Swapping the two relevant documents costs: DCG = 1 + 2/log2(3)
    assert ndcg_at_k(["c", "a"], grades) == pytest.approx((1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3)))


def test_ndcg_bounds():
    grades = {"a": 2, "b": 1}
    assert ndcg_at_k(["a", "b", "x"], grades) == pytest.approx(1.0)
    assert ndcg_at_k(["x", "y"], grades) == 0.0
    assert ndcg_at_k([], grades) == 0.0
    assert ndcg_at_k(["a"], {"a": 0}) == 0.0  # judged, but not relevant


def test_ndcg_and_recall_cut_at_k():
    grades = {f"d{i}": 1 for i in range(12)}
    ranked = [f"d{i}" for i in range(12)]
    assert ndcg_at_k(ranked, grades, k=10) == pytest.approx(1.0)  # the ideal list is cut at 10 too
    assert recall_at_k(ranked, grades, k=10) == pytest.approx(10 / 12)
    late = [f"x{i}" for i in range(10)] + ["d0"]
    assert ndcg_at_k(late, {"d0": 2}, k=10) == 0.0
    assert recall_at_k(late, {"d0": 2}, k=10) == 0.0


def test_recall_counts_only_positive_grades():
    grades = {"a": 2, "c": 1, "d": 1, "e": 0}
    assert recall_at_k(["a", "b", "e"], grades) == pytest.approx(1 / 3)
    assert recall_at_k(["d", "c", "a"], grades) == pytest.approx(1.0)


def test_mean_metrics_scores_a_missing_ranking_as_zero():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    metrics = mean_metrics({"q1": ["a"]}, qrels)
    assert metrics == {"ndcg@10": pytest.approx(0.5), "recall@10": pytest.approx(0.5)}


# --- the BEIR loader -----------------------------------------------------------------------------------


def test_tiny_sample_is_a_graded_beir_collection():
    data = load_beir(TINY_BEIR)
    assert len(data.corpus) == 40 and len(data.queries) == 12
    grades = {g for judged in data.qrels.values() for g in judged.values()}
    assert grades == {0, 1, 2}
    assert all(doc in data.corpus for judged in data.qrels.values() for doc in judged)
    assert sum(1 for title, _ in data.corpus.values() if not title) == 2


def _write_beir(folder: Path, qrels: str, qrels_name: str = "qrels.tsv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    docs = [{"_id": "d1", "title": "T", "text": "one"}, {"_id": "d2", "text": "two"}]
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in docs) + "\n")
    queries = [{"_id": "q1", "text": "first"}, {"_id": "q2", "text": "second"}]
    (folder / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries) + "\n")
    (folder / qrels_name).parent.mkdir(exist_ok=True)
    (folder / qrels_name).write_text("query-id\tcorpus-id\tscore\n" + qrels)
    return folder


def test_loader_drops_queries_without_a_relevant_document(tmp_path):
    data = load_beir(_write_beir(tmp_path, "q1\td1\t1\nq2\td2\t0\n"))
    assert list(data.queries) == ["q1"] and list(data.qrels) == ["q1"]
    assert data.corpus["d2"] == ("", "two")  # a missing title is an empty one


def test_loader_reads_beir_qrels_subfolder(tmp_path):
    data = load_beir(_write_beir(tmp_path, "q2\td2\t1\n", qrels_name="qrels/test.tsv"))
    assert data.qrels == {"q2": {"d2": 1}}


def test_loader_errors_name_the_missing_piece(tmp_path):
    with pytest.raises(FileNotFoundError, match="corpus.jsonl"):
        load_beir(tmp_path)
    folder = _write_beir(tmp_path / "x", "q9\td1\t1\n")
    with pytest.raises(ValueError, match="q9"):
        load_beir(folder)
    (folder / "qrels.tsv").unlink()
    with pytest.raises(FileNotFoundError, match="qrels.tsv"):
        load_beir(folder)


# --- end to end on the tiny model ----------------------------------------------------------------------


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
    folder = _write_beir(tmp_path, "q1\td1\t1\n")
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


# --- the real model ------------------------------------------------------------------------------------


@pytest.mark.real_model
def test_real_model_adapters_match_sentence_transformers_on_tiny_beir(real_model):
    scores = evaluate_beir(TINY_BEIR, real_model, ["langchain", "llama_index"], [768], runtime_settings(device="cpu"))
    by_path = {s.path: s for s in scores}
    reference = by_path["sentence_transformers"]
    for path in ("langchain", "llama_index"):
        assert abs(by_path[path].ndcg_at_10 - reference.ndcg_at_10) <= 1e-3, by_path[path]
        assert abs(by_path[path].recall_at_10 - reference.recall_at_10) <= 1e-3, by_path[path]
    # The sample's answers are unambiguous: a working retrieval path finds nearly all of them.
    assert reference.ndcg_at_10 >= 0.8, reference
