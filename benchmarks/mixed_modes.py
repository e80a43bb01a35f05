"""Mixed modes across an index: documents embedded in one mode, queries in another.

Users build an index on one machine and query it on another, where a smaller mode may be all that fits.
For every pair (document mode, query mode) among float32 (the default), ``int8`` and ``int4`` this
measures, through the core pipeline (both adapters give its vectors):

- STSBenchmark Spearman with the first sentence of each pair embedded in the document mode and the second
  in the query mode (the similarity prompt on both sides, as MTEB does);
- retrieval agreement on the sample corpus: its documents cut into EmbeddingGemma chunks, the sample
  questions (``benchmarks/data/sample_questions.tsv``: English, and across languages) ranked against them;
  the mean overlap of each question's top 10 with float32's top 10, and how often the top chunk comes
  from the document that answers the question.

Run from the repository root (``python benchmarks/mixed_modes.py`` works too):

    python -m benchmarks.mixed_modes --model "$EMBEDDINGGEMMA_MODEL" --json mixed.json
    python -m benchmarks.mixed_modes --modes default int8 --sts-pairs 200     # a quick slice
"""

from __future__ import annotations

if __name__ == "__main__" and not __package__:  # started by path: sys.path[0] is benchmarks/
    import _harness

    _harness.rerun_as_module(__file__)

import argparse
import csv
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._harness import (
    REPO,
    add_common_arguments,
    eval_dir,
    load_pairs,
    machine_summary,
    read_documents,
    report_header,
    write_json,
)

MODES = {"default": None, "int8": "int8", "int4": "int4"}
"""Mode name → ``quantization=`` (``default``: the exact float32 engine)."""
QUESTIONS = REPO / "benchmarks" / "data" / "sample_questions.tsv"
TOP = 10
CHUNK_TOKENS = 128


def read_questions(path: Path = QUESTIONS) -> list[tuple[str, str]]:
    """(question, the sample document that answers it)."""
    with open(path, newline="", encoding="utf-8") as handle:
        return [(row["question"], row["source"]) for row in csv.DictReader(handle, delimiter="\t")]


def embed_mode(model: str, quantization: str | None, sts: Any, chunks: list[tuple[str, str, str]], questions):
    """Everything one mode embeds: the STS sentences (similarity prompt), the chunks (document prompt, with
    titles) and the questions (query prompt)."""
    from embeddinggemma import Embedder

    similarity = Embedder(model=model, quantization=quantization, task="semantic_similarity")
    retrieval = Embedder(model=model, quantization=quantization)
    sentences = sorted(set(sts.first) | set(sts.second), key=len)
    by_sentence = dict(zip(sentences, np.asarray(similarity.embed(sentences)), strict=True))
    return {
        "first": np.stack([by_sentence[s] for s in sts.first]),
        "second": np.stack([by_sentence[s] for s in sts.second]),
        "chunks": np.asarray(retrieval.embed([text for _, _, text in chunks], titles=[t for _, t, _ in chunks])),
        "questions": np.asarray(retrieval.embed([q for q, _ in questions], side="query")),
    }


def corpus_chunks(model: str) -> list[tuple[str, str, str]]:
    """(source, title, chunk text) for every chunk of the sample documents."""
    from embeddinggemma import TextChunker

    chunker = TextChunker(model, chunk_size=CHUNK_TOKENS)
    return [
        (document.source, document.title, chunk.text)
        for document in read_documents()
        for chunk in chunker.split(document.text, title=document.title)
    ]


def measure(vectors: dict[str, dict[str, np.ndarray]], gold: np.ndarray, chunks, questions) -> list[dict[str, Any]]:
    from scipy.stats import spearmanr

    reference = np.argsort(-(vectors["default"]["questions"] @ vectors["default"]["chunks"].T), axis=1)[:, :TOP]
    rows = []
    for documents, document_vectors in vectors.items():
        for queries, query_vectors in vectors.items():
            spearman = float(spearmanr(gold, (document_vectors["first"] * query_vectors["second"]).sum(1)).statistic)
            ranked = np.argsort(-(query_vectors["questions"] @ document_vectors["chunks"].T), axis=1)[:, :TOP]
            overlap = np.mean([len(set(a) & set(b)) / TOP for a, b in zip(ranked, reference, strict=True)])
            right = np.mean([chunks[r[0]][0] == source for r, (_, source) in zip(ranked, questions, strict=True)])
            rows.append(
                {
                    "documents": documents,
                    "queries": queries,
                    "stsbenchmark": round(spearman, 4),
                    "top10_overlap": round(float(overlap), 3),
                    "top1_right_document": round(float(right), 3),
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser, eval_data=True)
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    parser.add_argument("--sts-pairs", type=int, help="only the first N STSBenchmark pairs (default: all)")
    args = parser.parse_args(argv)
    if "default" not in args.modes:
        parser.error("--modes needs 'default': agreement is measured against float32")
    sts = load_pairs(eval_dir(args.eval_dir) / "stsbenchmark", limit=args.sts_pairs)
    chunks, questions = corpus_chunks(args.model), read_questions()
    print(f"{machine_summary()}\n{len(sts.gold)} STS pairs, {len(chunks)} chunks, {len(questions)} questions")
    vectors = {mode: embed_mode(args.model, MODES[mode], sts, chunks, questions) for mode in args.modes}
    rows = measure(vectors, sts.gold, chunks, questions)
    print("\n| documents | queries | STSBenchmark | top-10 overlap with float32 | top chunk from the right document |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['documents']} | {row['queries']} | {row['stsbenchmark']:.4f} | {row['top10_overlap']:.3f} | "
            f"{row['top1_right_document']:.3f} |"
        )
    write_json(args.json, {**report_header(), "rows": rows, "chunks": len(chunks), "questions": len(questions)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
