"""Reproduce EmbeddingGemma-300m's published quality through the LangChain and LlamaIndex adapters.

STS mode (default): each dataset's sentences are embedded with task="semantic_similarity" (MTEB's STS
prompt ``task: sentence similarity | query: `` on both sides) through an adapter's public API
(LangChain ``embed_documents``, LlamaIndex ``get_text_embedding_batch``); the score is the Spearman
correlation between the gold scores and the cosine of each pair, next to the published MTEB score.

Retrieval mode (``--beir FOLDER``): each adapter indexes a BEIR-format corpus into FAISS through its
framework's own vector store (inner product), retrieves the top 10 for every query, and reports
nDCG@10 / Recall@10 beside plain sentence-transformers ``encode_query`` / ``encode_document``.

Run from the repository root (``python benchmarks/quality.py ...`` works too: it re-runs itself as the module):

    python -m benchmarks.quality --model "$EMBEDDINGGEMMA_MODEL"                 # all STS sets, 768, both adapters
    python -m benchmarks.quality --datasets stsbenchmark --dimensions 768 512 256 128 --json out.json
    python -m benchmarks.quality --datasets stsbenchmark --quantization q8_0      # a quantized runtime
    python -m benchmarks.quality --datasets stsbenchmark --max-pairs 200          # a quick slice
    python -m benchmarks.quality --beir benchmarks/data/tiny_beir                 # retrieval quality
"""

from __future__ import annotations

if __name__ == "__main__" and not __package__:  # started by path: sys.path[0] is benchmarks/
    import _harness

    _harness.rerun_as_module(__file__)

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from benchmarks._harness import (
    TINY_BEIR,  # noqa: F401  (tests import it from here)
    EmbedFn,
    Pairs,  # noqa: F401  (tests import it from here)
    add_common_arguments,
    cosines_of,
    embed_sentences,
    eval_dir,
    load_pairs,
    pair_cosines,
    report_header,
    write_json,
)
from benchmarks.beir import (
    load_beir,
    mean_metrics,
    rank_with_langchain,
    rank_with_llama_index,
    rank_with_sentence_transformers,
)
from embeddinggemma import DIMENSIONS, EmbeddingSettings
from embeddinggemma.cli import add_options, chosen

if TYPE_CHECKING:
    from langchain_embeddinggemma import EmbeddingGemmaEmbeddings
    from llama_index_embeddinggemma import EmbeddingGemmaEmbedding

DEFAULT_EVAL_DIR = eval_dir()
"""``--eval-dir``'s default: ``$EMBEDDINGGEMMA_EVAL_DIR``, else ``../shared/eval`` beside the repository."""
DATASETS = {  # folder → key in published_scores.json
    "stsbenchmark": "STSBenchmark",
    "sickr": "SICK-R",
    "sts12": "STS12",
    "sts13": "STS13",
    "sts14": "STS14",
    "sts15": "STS15",
    "sts17_en_en": "STS17",
}
ENGLISH = tuple(DATASETS)
MULTILINGUAL = {  # STS17 cross-lingual and monolingual: "xx_yy" = first sentence in xx, second in yy
    f"sts17_{pair}": f"STS17_{pair}"
    for pair in ("ar_ar", "en_ar", "en_de", "en_tr", "es_en", "es_es", "fr_en", "it_en", "nl_en")
}
DATASETS.update(MULTILINGUAL)
DATASET_GROUPS = {"english": ENGLISH, "multilingual": tuple(MULTILINGUAL), "all": tuple(DATASETS)}
"""Names ``--datasets`` also takes for several sets at once."""
ADAPTERS = ("langchain", "llama_index")
REFERENCE = "sentence_transformers"

RUNTIME_SETTINGS = ("dtype", "device", "backend", "engine", "quantization", "base_url", "max_seq_length", "batch_size")
"""The settings that decide how the adapters run the model (everything but the task and the size)."""


def runtime_settings(**settings: object) -> EmbeddingSettings:
    """How the adapters run the model; float32 unless asked otherwise (the published scores are fp32)."""
    return EmbeddingSettings(**{"dtype": "float32", **settings})


def make_adapter(
    adapter: str, model: str, *, task: str, dimensions: int, runtime: EmbeddingSettings
) -> EmbeddingGemmaEmbeddings | EmbeddingGemmaEmbedding:
    """A LangChain ``EmbeddingGemmaEmbeddings`` or LlamaIndex ``EmbeddingGemmaEmbedding``, configured."""
    settings = {**runtime.model_dump(include=set(RUNTIME_SETTINGS)), "model": model, "task": task}
    if adapter == "langchain":
        from langchain_embeddinggemma import EmbeddingGemmaEmbeddings

        return EmbeddingGemmaEmbeddings(**settings, dimensions=dimensions)
    if adapter == "llama_index":
        from llama_index_embeddinggemma import EmbeddingGemmaEmbedding

        return EmbeddingGemmaEmbedding(**settings, dimensions=dimensions)
    raise ValueError(f"adapter={adapter!r} is unknown; use one of {', '.join(ADAPTERS)}")


def adapter_embed_fn(adapter: str, model: str, dimensions: int, runtime: EmbeddingSettings) -> EmbedFn:
    """The public document-embedding call of each framework adapter, with the STS task."""
    embedder = make_adapter(adapter, model, task="semantic_similarity", dimensions=dimensions, runtime=runtime)
    return embedder.embed_documents if adapter == "langchain" else embedder.get_text_embedding_batch


# --- STS ---------------------------------------------------------------------------------------------


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
    pearson: float | None = None
    backend: str = "local"
    quantization: str | None = None
    max_seq_length: int | None = None
    derived_from_768: bool = False


def matryoshka_cut(vectors: Mapping[str, np.ndarray], dimensions: int) -> dict[str, np.ndarray]:
    """The package's own Matryoshka step (cut + re-normalise + checks) applied to full-size vectors:
    what the adapters return when asked for ``dimensions`` (tests/real_model/test_real_model.py checks it)."""
    from embeddinggemma import shape_vectors

    texts = list(vectors)
    cut = shape_vectors(np.stack([vectors[t] for t in texts]), dimensions, len(texts))
    return dict(zip(texts, cut, strict=True))


def published_scores(eval_dir: Path) -> dict[str, float]:
    tasks = json.loads((eval_dir / "published_scores.json").read_text())["tasks"]
    return {folder: tasks[key]["cosine_spearman"] for folder, key in DATASETS.items()}


def evaluate(
    model: str,
    eval_dir: Path,
    datasets: Sequence[str],
    adapters: Sequence[str],
    dimensions: Sequence[int],
    runtime: EmbeddingSettings | None = None,
    progress: bool = True,
    derive_dimensions: bool = False,
    max_pairs: int | None = None,
) -> list[Score]:
    """STS scores for every dataset × adapter × Matryoshka size, printed as they finish.

    ``derive_dimensions`` embeds once at 768 through the adapter and cuts the smaller sizes with the
    package's own Matryoshka step instead of embedding again at each size (same vectors, 1/n the time).
    ``max_pairs`` scores only each set's first pairs (a quick check; not comparable to the published score).
    """
    from scipy.stats import pearsonr, spearmanr

    runtime = runtime or runtime_settings()
    published = published_scores(eval_dir)
    scores = []
    for name in datasets:
        pairs = load_pairs(eval_dir / name, limit=max_pairs)
        for adapter in adapters:
            full: dict[str, np.ndarray] = {}
            if derive_dimensions:
                started = time.perf_counter()
                full = embed_sentences(adapter_embed_fn(adapter, model, 768, runtime), pairs, progress=progress)
                embed_seconds = time.perf_counter() - started
            for dims in dimensions:
                started = time.perf_counter()
                if derive_dimensions:
                    cosine = cosines_of(matryoshka_cut(full, dims), pairs)
                else:
                    cosine = pair_cosines(adapter_embed_fn(adapter, model, dims, runtime), pairs, progress=progress)
                rho = float(spearmanr(pairs.gold, cosine).statistic)
                seconds = time.perf_counter() - started + (embed_seconds if derive_dimensions else 0.0)
                s = Score(
                    name,
                    adapter,
                    dims,
                    runtime.dtype,
                    round(rho, 6),
                    published[name],
                    round(rho - published[name], 6),
                    len(pairs.gold),
                    round(seconds, 1),
                    pearson=round(float(pearsonr(pairs.gold, cosine).statistic), 6),
                    backend=runtime.backend,
                    quantization=runtime.quantization,
                    max_seq_length=runtime.max_seq_length,
                    derived_from_768=derive_dimensions and dims != 768,
                )
                scores.append(s)
                mode = runtime.quantization or runtime.dtype
                print(
                    f"{name:13s} {adapter:11s} {dims:4d} {mode:8s} spearman {s.spearman:.4f} "
                    f"published {s.published:.4f} diff {s.difference:+.4f}  ({s.seconds:.0f}s)",
                    flush=True,
                )
    return scores


# --- retrieval ---------------------------------------------------------------------------------------


@dataclass
class RetrievalScore:
    dataset: str
    path: str
    """``langchain`` / ``llama_index`` (through the adapter and the framework's FAISS store) or the reference."""
    dimensions: int
    ndcg_at_10: float
    recall_at_10: float
    queries: int
    documents: int
    seconds: float
    dtype: str = "float32"
    backend: str = "local"
    quantization: str | None = None


def evaluate_beir(
    folder: Path,
    model: str,
    adapters: Sequence[str],
    dimensions: Sequence[int],
    runtime: EmbeddingSettings | None = None,
    reference: bool = True,
    progress: bool = True,
) -> list[RetrievalScore]:
    """nDCG@10 / Recall@10 through each adapter's vector store, and for sentence-transformers itself."""
    runtime = runtime or runtime_settings()
    data = load_beir(folder)
    paths = list(adapters) + ([REFERENCE] if reference else [])
    scores = []
    for dims in dimensions:
        for path in paths:
            started = time.perf_counter()
            if path == REFERENCE:
                rankings = rank_with_sentence_transformers(
                    model,
                    data,
                    dimensions=dims,
                    max_seq_length=runtime.max_seq_length,
                    device=None if runtime.device == "auto" else runtime.device,
                    dtype=runtime.dtype if runtime.dtype in ("float32", "bfloat16") else "float32",
                    batch_size=runtime.batch_size,
                    progress=progress,
                )
            else:
                adapter = make_adapter(path, model, task="retrieval", dimensions=dims, runtime=runtime)
                rank = rank_with_langchain if path == "langchain" else rank_with_llama_index
                rankings = rank(adapter, data, progress=progress)
            metrics = mean_metrics(rankings, data.qrels, k=10)
            s = RetrievalScore(
                folder.name,
                path,
                dims,
                round(metrics["ndcg@10"], 6),
                round(metrics["recall@10"], 6),
                len(data.queries),
                len(data.corpus),
                round(time.perf_counter() - started, 1),
                dtype=runtime.dtype,
                backend="local" if path == REFERENCE else runtime.backend,
                quantization=None if path == REFERENCE else runtime.quantization,
            )
            scores.append(s)
            print(
                f"{s.dataset:13s} {path:21s} {dims:4d} nDCG@10 {s.ndcg_at_10:.4f} Recall@10 {s.recall_at_10:.4f}"
                f"  ({s.queries} queries, {s.documents} docs, {s.seconds:.0f}s)",
                flush=True,
            )
    return scores


# --- command line ------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser, eval_data=True)
    parser.add_argument(
        "--datasets",
        nargs="+",
        default=["english"],
        choices=[*DATASETS, *DATASET_GROUPS],
        help="sets, or the groups english (default), multilingual, all",
    )
    parser.add_argument("--beir", type=Path, metavar="FOLDER", help="retrieval mode on this BEIR-format folder")
    parser.add_argument("--no-reference", action="store_true", help="retrieval mode: skip sentence-transformers")
    parser.add_argument("--adapters", nargs="+", default=list(ADAPTERS), choices=ADAPTERS)
    parser.add_argument("--dimensions", nargs="+", type=int, default=[768], choices=DIMENSIONS)
    add_options(parser, EmbeddingSettings, RUNTIME_SETTINGS, defaults={"dtype": "float32"})
    parser.add_argument(
        "--derive-dimensions",
        action="store_true",
        help="STS: embed once at 768 and cut the other sizes with the package's Matryoshka step",
    )
    parser.add_argument("--max-pairs", type=int, metavar="N", help="STS: only each set's first N pairs (quick check)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.max_pairs is not None and args.max_pairs < 2:
        parser.error("--max-pairs needs at least 2 pairs (a Spearman correlation)")
    runtime = runtime_settings(**chosen(parser, args, EmbeddingSettings, RUNTIME_SETTINGS))
    progress = not args.no_progress
    if args.beir:
        scores = evaluate_beir(
            args.beir, args.model, args.adapters, args.dimensions, runtime, not args.no_reference, progress
        )
    else:
        scores = evaluate(
            args.model,
            args.eval_dir,
            list(dict.fromkeys(name for arg in args.datasets for name in DATASET_GROUPS.get(arg, (arg,)))),
            args.adapters,
            args.dimensions,
            runtime,
            progress,
            args.derive_dimensions,
            args.max_pairs,
        )
    if args.json:
        header = report_header()
        write_json(
            args.json,
            {
                **header,
                "versions": header["machine"]["versions"],  # where earlier reports had them
                "command": sys.argv if argv is None else list(argv),
                "runtime": runtime.model_dump(),
                "scores": [asdict(s) for s in scores],
            },
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
