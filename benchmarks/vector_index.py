"""Compressed vector indexes (``embeddinggemma.vector_index``): for each (dimensions x precision), the memory a
vector takes, index size and build time at 100k and 1M vectors, query latency at 1M, and retrieval quality
against float32 768-d on real labelled sets. One run, side by side, ratios printed.

- **Size and speed** use synthetic unit vectors (Gaussian, normalised; Matryoshka sizes cut from the 768-d
  ones and re-normalised): the bytes and milliseconds do not depend on what the vectors mean. The 1M x 256-d
  int8 index is also loaded from disk in a fresh process that answers queries: its peak RSS is what a laptop
  pays for it.
- **Quality** uses the real model through the LangChain adapter (default engine, float32) on real labels:
  ``sample-docs`` (the sample corpus's 35 documents and its 11 labelled questions,
  ``benchmarks/data/sample_questions.tsv``), ``stsb-paraphrase`` (every distinct STSBenchmark sentence is a
  document; each first sentence of a pair scored >= 4 of 5 is a query whose relevant document is its
  pair's second sentence; the query's own sentence is left out of its ranking) and any BEIR-format folder
  passed with ``--beir``. nDCG@10 and Recall@10 of each
  configuration are divided by float32 768-d's.

Run:  python -m benchmarks.vector_index                      # sizes 100k and 1M, quality with $EMBEDDINGGEMMA_MODEL
      python -m benchmarks.vector_index --sizes 20000 --no-quality    # a quick look
"""

from __future__ import annotations

if __name__ == "__main__" and not __package__:  # started by path: sys.path[0] is benchmarks/
    import _harness

    _harness.rerun_as_module(__file__)

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import _harness
from benchmarks.beir import load_beir, mean_metrics

DIMENSIONS = (768, 512, 256, 128)
CONFIGS = {
    "float32": {"index_precision": "float32"},
    "float16": {"index_precision": "float16"},
    "int8": {"index_precision": "int8"},
    "binary": {"index_precision": "binary", "rescore": "int8"},
    "binary+f32": {"index_precision": "binary", "rescore": "float32"},
}
"""Index configurations by label: ``binary`` re-ranks with int8 vectors in memory, ``binary+f32`` with float32
vectors memory-mapped from disk (in memory: the bits only)."""
PRECISIONS = tuple(CONFIGS)
K = 10
QUESTIONS = _harness.REPO / "benchmarks" / "data" / "sample_questions.tsv"


def unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def synthetic(count: int, dimensions: int, seed: int = 0) -> np.ndarray:
    """``count`` unit vectors: Gaussian 768-d, cut to ``dimensions`` and re-normalised (in blocks: 1M x 768
    float32 is 3 GB)."""
    rng = np.random.default_rng(seed)
    out = np.empty((count, dimensions), np.float32)
    for start in range(0, count, 100_000):
        block = rng.standard_normal((min(100_000, count - start), 768), dtype=np.float32)
        out[start : start + len(block)] = unit(block[:, :dimensions])
    return out


def _build(vectors: np.ndarray, label: str) -> Any:
    from embeddinggemma.vector_index import vector_index

    return vector_index(vectors, **CONFIGS[label])


def _bytes(dims: int, label: str) -> int:
    from embeddinggemma.vector_index import bytes_per_vector

    config = CONFIGS[label]
    return bytes_per_vector(dims, config["index_precision"], config.get("rescore", "int8"))


def _saved_bytes(index: Any) -> int:
    import faiss

    from embeddinggemma.vector_index import BinaryIndex

    with tempfile.TemporaryDirectory() as folder:
        if isinstance(index, BinaryIndex):
            files = index.save(folder)
            return sum(path.stat().st_size for path in files)
        path = Path(folder) / "index.faiss"
        faiss.write_index(index, str(path))
        return path.stat().st_size


def size_and_speed(sizes: list[int], dimensions: list[int], precisions: list[str], queries: int) -> list[dict]:
    rows = []
    for count in sizes:
        for dims in dimensions:
            vectors = synthetic(count, dims)
            asked = synthetic(queries, dims, seed=1)
            for precision in precisions:
                started = time.perf_counter()
                index = _build(vectors, precision)
                build_s = time.perf_counter() - started
                latencies = []
                for query in asked:
                    started = time.perf_counter()
                    index.search(query[None], K)
                    latencies.append(time.perf_counter() - started)
                row = {
                    "vectors": count,
                    "dimensions": dims,
                    "precision": precision,
                    "bytes_per_vector": _bytes(dims, precision),
                    "memory_mb": _bytes(dims, precision) * count / 2**20,
                    "file_mb": _saved_bytes(index) / 2**20,
                    "build_s": build_s,
                    "query_p50_ms": float(np.median(latencies) * 1000),
                }
                rows.append(row)
                print(
                    f"  {count:>9,} x {dims:>3} {precision:<10} {row['bytes_per_vector']:>5} B/vector "
                    f"{row['memory_mb']:>8.1f} MB  build {build_s:6.1f} s  query p50 {row['query_p50_ms']:7.2f} ms",
                    flush=True,
                )
                del index
            del vectors
    return rows


_LOADED = """
import json, os, sys, time
import numpy as np
from benchmarks import _harness
import faiss
from embeddinggemma.vector_index import BinaryIndex
before = _harness.rss_mb()
index = BinaryIndex.load(sys.argv[1]) if os.path.isdir(sys.argv[1]) else faiss.read_index(sys.argv[1])
loaded = _harness.rss_mb()
queries = np.load(sys.argv[2])
times = []
for q in queries:
    t = time.perf_counter(); index.search(q[None], 10); times.append(time.perf_counter() - t)
print(json.dumps({"rss_before_load_mb": before, "rss_after_load_mb": loaded, "peak_rss_mb": _harness.peak_rss_mb(),
                  "query_p50_ms": float(np.median(times) * 1000)}))
"""


def loaded_process(count: int, dims: int, label: str, queries: int) -> dict:
    """Save the index, then load it in a fresh process that answers ``queries``: its memory and latency (the
    saved files are in the OS page cache then: a cold disk reads the rescored rows more slowly)."""
    import faiss

    from embeddinggemma.vector_index import BinaryIndex

    with tempfile.TemporaryDirectory() as folder:
        index = _build(synthetic(count, dims), label)
        if isinstance(index, BinaryIndex):
            where = f"{folder}/index"
            index.save(where)
        else:
            where = f"{folder}/index.faiss"
            faiss.write_index(index, where)
        del index
        np.save(f"{folder}/queries.npy", synthetic(queries, dims, seed=1))
        env = _harness.worker_env(threads=None)
        out = subprocess.run(
            [sys.executable, "-c", _LOADED, where, f"{folder}/queries.npy"],
            capture_output=True,
            text=True,
            check=True,
            env=env,
            cwd=_harness.REPO,
        )
    return {"vectors": count, "dimensions": dims, "precision": label, **json.loads(out.stdout.splitlines()[-1])}


# -- quality ----------------------------------------------------------------------------------------------


LabelledSet = tuple[dict[str, tuple[str, str]], dict[str, str], dict[str, dict[str, int]], dict[str, str]]
"""Documents (id -> (title, text)), queries (id -> text), judgements (query id -> {document id: grade}), and
the document each query must not find (itself, where the queries are documents too)."""


def sample_docs_set() -> LabelledSet:
    documents = _harness.read_documents()
    corpus = {doc.source: (doc.title, doc.text) for doc in documents}
    queries, qrels = {}, {}
    for number, line in enumerate(QUESTIONS.read_text(encoding="utf-8").splitlines()[1:]):
        question, source = line.split("\t")
        queries[f"q{number}"], qrels[f"q{number}"] = question, {source: 1}
    return corpus, queries, qrels, {}


def stsb_paraphrase_set(eval_dir: Path) -> LabelledSet:
    rows = _harness.read_pair_rows(eval_dir / "stsbenchmark" / "pairs.tsv")
    sentences = list(dict.fromkeys(s for row in rows for s in (row["sentence1"], row["sentence2"])))
    ids = {sentence: f"s{i}" for i, sentence in enumerate(sentences)}
    corpus = {ids[s]: ("", s) for s in sentences}
    queries, qrels, itself = {}, {}, {}
    for number, row in enumerate(rows):
        if float(row["score"]) >= 4.0 and row["sentence1"] != row["sentence2"]:
            queries[f"p{number}"], qrels[f"p{number}"] = row["sentence1"], {ids[row["sentence2"]]: 1}
            itself[f"p{number}"] = ids[row["sentence1"]]
    return corpus, queries, qrels, itself


def quality(model: str, sets: dict[str, tuple], dimensions: list[int], precisions: list[str]) -> list[dict]:
    from langchain_embeddinggemma import EmbeddingGemmaEmbeddings

    embeddings = EmbeddingGemmaEmbeddings(model=model)
    rows = []
    for name, (corpus, queries, qrels, itself) in sets.items():
        doc_ids = list(corpus)
        titles = [corpus[i][0] or None for i in doc_ids]
        started = time.perf_counter()
        documents = np.asarray(embeddings.embed_documents([corpus[i][1] for i in doc_ids], titles=titles), np.float32)
        questions = np.asarray([embeddings.embed_query(queries[q]) for q in queries], np.float32)
        took = time.perf_counter() - started
        print(f"  {name}: {len(doc_ids)} documents, {len(queries)} queries embedded in {took:.0f} s")
        baseline = None
        for dims in dimensions:
            docs, asked = unit(documents[:, :dims]), unit(questions[:, :dims])  # what dimensions=dims gives
            for precision in precisions:
                index = _build(docs, precision)
                _, found = index.search(asked, min(K + 1, len(doc_ids)))
                rankings = {
                    q: [doc_ids[i] for i in row if i >= 0 and doc_ids[i] != itself.get(q)][:K]
                    for q, row in zip(queries, found, strict=True)
                }
                metrics = mean_metrics(rankings, qrels, K)
                baseline = baseline or metrics
                row = {"set": name, "dimensions": dims, "precision": precision, **metrics}
                row.update({f"{key} kept": metrics[key] / baseline[key] for key in metrics})
                rows.append(row)
                print(
                    f"    {dims:>3} {precision:<10} nDCG@10 {metrics['ndcg@10']:.4f} ({row['ndcg@10 kept']:.2%} of "
                    f"float32 768)  Recall@10 {metrics['recall@10']:.4f} ({row['recall@10 kept']:.2%})",
                    flush=True,
                )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _harness.add_common_arguments(parser, eval_data=True)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dimensions", type=int, nargs="+", default=list(DIMENSIONS), choices=DIMENSIONS)
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS)
    parser.add_argument("--queries", type=int, default=50, help="queries timed per configuration (default: 50)")
    parser.add_argument("--beir", type=Path, action="append", default=[], help="a BEIR-format folder (repeatable)")
    parser.add_argument("--no-quality", action="store_true", help="sizes and speed only (no model needed)")
    parser.add_argument("--no-stsb", action="store_true", help="leave out the STSBenchmark paraphrase set")
    args = parser.parse_args(argv)

    report: dict[str, Any] = _harness.report_header()
    print(_harness.machine_summary(report["machine"]))
    print(f"size and speed (synthetic unit vectors, k={K}, {args.queries} queries, one at a time):")
    report["size_and_speed"] = size_and_speed(args.sizes, args.dimensions, args.precisions, args.queries)
    largest = max(args.sizes)
    report["loaded"] = []
    for dims, label in ((256, "int8"), (768, "binary+f32")):
        if dims in args.dimensions and label in args.precisions:
            loaded = loaded_process(largest, dims, label, args.queries)
            report["loaded"].append(loaded)
            print(
                f"loaded in a fresh process: {largest:,} x {dims} {label}: RSS {loaded['rss_before_load_mb']:.0f} MB "
                f"before, {loaded['rss_after_load_mb']:.0f} MB after loading (peak {loaded['peak_rss_mb']:.0f} MB), "
                f"query p50 {loaded['query_p50_ms']:.1f} ms"
            )
    if not args.no_quality:
        sets = {"sample-docs": sample_docs_set()}
        if not args.no_stsb and (args.eval_dir / "stsbenchmark" / "pairs.tsv").is_file():
            sets["stsb-paraphrase"] = stsb_paraphrase_set(args.eval_dir)
        for folder in args.beir:
            data = load_beir(folder)
            sets[f"beir:{folder.name}"] = (data.corpus, data.queries, data.qrels, {})
        print(f"quality against float32 768-d ({args.model}):")
        report["quality"] = quality(args.model, sets, args.dimensions, args.precisions)
    _harness.write_json(args.json, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
