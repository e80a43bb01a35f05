"""The retrieval-quality benchmark's pieces, by hand: nDCG and recall, and the BEIR loader (the mode end to end:
``tests/integration/test_quality_beir.py``)."""

import math

import pytest
from _support.eval_data import write_beir

from benchmarks.beir import load_beir, mean_metrics, ndcg_at_k, recall_at_k
from benchmarks.quality import TINY_BEIR


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


def test_tiny_sample_is_a_graded_beir_collection():
    data = load_beir(TINY_BEIR)
    assert len(data.corpus) == 40 and len(data.queries) == 12
    grades = {g for judged in data.qrels.values() for g in judged.values()}
    assert grades == {0, 1, 2}
    assert all(doc in data.corpus for judged in data.qrels.values() for doc in judged)
    assert sum(1 for title, _ in data.corpus.values() if not title) == 2


def test_loader_drops_queries_without_a_relevant_document(tmp_path):
    data = load_beir(write_beir(tmp_path, "q1\td1\t1\nq2\td2\t0\n"))
    assert list(data.queries) == ["q1"] and list(data.qrels) == ["q1"]
    assert data.corpus["d2"] == ("", "two")  # a missing title is an empty one


def test_loader_reads_beir_qrels_subfolder(tmp_path):
    data = load_beir(write_beir(tmp_path, "q2\td2\t1\n", qrels_name="qrels/test.tsv"))
    assert data.qrels == {"q2": {"d2": 1}}


def test_loader_errors_name_the_missing_piece(tmp_path):
    with pytest.raises(FileNotFoundError, match="corpus.jsonl"):
        load_beir(tmp_path)
    folder = write_beir(tmp_path / "x", "q9\td1\t1\n")
    with pytest.raises(ValueError, match="q9"):
        load_beir(folder)
    (folder / "qrels.tsv").unlink()
    with pytest.raises(FileNotFoundError, match="qrels.tsv"):
        load_beir(folder)
