"""Reproduce EmbeddingGemma-300m's published STS scores through the LangChain and LlamaIndex adapters.

Each dataset's sentences are embedded with task="semantic_similarity" (MTEB's STS prompt
``task: sentence similarity | query: `` on both sides) through an adapter's public API; the score
is the Spearman correlation between the gold scores and the cosine of each pair.

    python benchmarks/quality.py --model "$EMBEDDINGGEMMA_MODEL"                 # all sets, 768, both adapters
    python benchmarks/quality.py --datasets stsbenchmark --dimensions 768 512 256 128 --json out.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_EVAL_DIR = REPO.parent / "shared" / "eval"
DATASETS = {  # folder → key in published_scores.json
    "stsbenchmark": "STSBenchmark",
    "sickr": "SICK-R",
    "sts12": "STS12",
    "sts13": "STS13",
    "sts14": "STS14",
    "sts15": "STS15",
    "sts17_en_en": "STS17",
}
ADAPTERS = ("langchain", "llama_index")

EmbedFn = Callable[[list[str]], list[list[float]]]


@dataclass
class Pairs:
    first: list[str]
    second: list[str]
    gold: np.ndarray


@dataclass
class Score:
    dataset: str
    adapter: str
    dimensions: int
    dtype: str
    spearman: float
    published: float
    difference: float
    pairs: int
    seconds: float


def load_pairs(folder: Path) -> Pairs:
    with open(folder / "pairs.tsv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return Pairs(
        [r["sentence1"] for r in rows], [r["sentence2"] for r in rows], np.array([float(r["score"]) for r in rows])
    )


def sts_spearman(embed: EmbedFn, pairs: Pairs, chunk: int = 256, progress: bool = True) -> float:
    """Spearman of gold scores vs cosine similarity; each unique sentence is embedded once."""
    from scipy.stats import spearmanr
    from tqdm import tqdm

    unique = sorted(set(pairs.first) | set(pairs.second), key=len)
    vectors: dict[str, np.ndarray] = {}
    for start in tqdm(range(0, len(unique), chunk), desc="embedding", unit="chunk", disable=not progress):
        batch = unique[start : start + chunk]
        for text, vector in zip(batch, embed(batch), strict=True):
            vectors[text] = np.asarray(vector, dtype=np.float32)
    a = np.stack([vectors[t] for t in pairs.first])
    b = np.stack([vectors[t] for t in pairs.second])
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return float(spearmanr(pairs.gold, cosine).statistic)


def adapter_embed_fn(adapter: str, model: str, dimensions: int, dtype: str, batch_size: int) -> EmbedFn:
    """The public document-embedding call of each framework adapter, with the STS task."""
    settings = dict(task="semantic_similarity", dimensions=dimensions, dtype=dtype, device="cpu")
    if adapter == "langchain":
        from langchain_embeddinggemma import EmbeddingGemmaEmbeddings

        lc = EmbeddingGemmaEmbeddings(model=model, batch_size=batch_size, **settings)
        return lc.embed_documents
    if adapter == "llama_index":
        from llama_index_embeddinggemma import EmbeddingGemmaEmbedding

        li = EmbeddingGemmaEmbedding(model_name=model, embed_batch_size=batch_size, **settings)
        return li.get_text_embedding_batch
    raise ValueError(f"adapter={adapter!r} is unknown; use one of {', '.join(ADAPTERS)}")


def published_scores(eval_dir: Path) -> dict[str, float]:
    tasks = json.loads((eval_dir / "published_scores.json").read_text())["tasks"]
    return {folder: tasks[key]["cosine_spearman"] for folder, key in DATASETS.items()}


def evaluate(
    model: str,
    eval_dir: Path,
    datasets: Sequence[str],
    adapters: Sequence[str],
    dimensions: Sequence[int],
    dtype: str = "float32",
    batch_size: int = 32,
    progress: bool = True,
) -> list[Score]:
    published = published_scores(eval_dir)
    scores = []
    for name in datasets:
        pairs = load_pairs(eval_dir / name)
        for adapter in adapters:
            for dims in dimensions:
                started = time.perf_counter()
                rho = sts_spearman(adapter_embed_fn(adapter, model, dims, dtype, batch_size), pairs, progress=progress)
                scores.append(
                    Score(
                        name,
                        adapter,
                        dims,
                        dtype,
                        round(rho, 6),
                        published[name],
                        round(rho - published[name], 6),
                        len(pairs.gold),
                        round(time.perf_counter() - started, 1),
                    )
                )
                s = scores[-1]
                print(
                    f"{name:13s} {adapter:11s} {dims:4d} {dtype:8s} spearman {s.spearman:.4f} "
                    f"published {s.published:.4f} diff {s.difference:+.4f}  ({s.seconds:.0f}s)",
                    flush=True,
                )
    return scores


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.environ.get("EMBEDDINGGEMMA_MODEL", "google/embeddinggemma-300m"))
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL_DIR)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--adapters", nargs="+", default=list(ADAPTERS), choices=ADAPTERS)
    parser.add_argument("--dimensions", nargs="+", type=int, default=[768])
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "auto"])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--json", type=Path, help="write the scores and the machine to this file")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    scores = evaluate(
        args.model,
        args.eval_dir,
        args.datasets,
        args.adapters,
        args.dimensions,
        args.dtype,
        args.batch_size,
        progress=not args.no_progress,
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": f"{platform.machine()} {os.cpu_count()} cpus, {platform.platform()}",
                    "python": sys.version.split()[0],
                    "date": time.strftime("%Y-%m-%d"),
                    "scores": [asdict(s) for s in scores],
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
