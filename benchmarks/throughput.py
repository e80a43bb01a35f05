"""Throughput, latency, memory and fidelity of every configuration on one corpus, each in its own process.

Configurations (run one after another, the peers first, each in a fresh interpreter started by this
script in ``--worker`` mode; ``pip install -e ".[bench]"`` installs the peers):

- ``peer:langchain``: LangChain's ``HuggingFaceEmbeddings(model_name=MODEL, model_kwargs={"device": "cpu"})``
- ``peer:llama_index``: LlamaIndex's ``HuggingFaceEmbedding(model_name=MODEL, device="cpu")``
- ``sentence_transformers``: ``SentenceTransformer(MODEL, device="cpu").encode_document`` (batch 32)
- ``langchain:RUNTIME`` / ``llama_index:RUNTIME``: ours through each adapter, for every runtime in
  :data:`RUNTIMES` (adapter keyword dicts; ``default`` is ``{}``). ``--extra 'NAME={"engine": "onnxruntime"}'``
  adds a runtime from the command line (both adapters), so runtimes that do not exist yet can be
  benchmarked without editing this file.

Corpora (``--corpus``):

- ``passages`` (default): ``--passages`` passages (default 48) of about ``--passage-tokens`` tokens
  (default 290; at most 512), alternately from the prose of ``examples/sample_docs`` and STSBenchmark
  sentences, in a fixed order. The reference run in RESULTS.md used ``--passages 256 --passage-tokens 480``.
- ``short``: the first ``--passages`` (default 400) distinct STSBenchmark sentences in file order (~11
  tokens each): short-text throughput, reported the same way.

Per configuration: docs/s and tokens/s over the corpus (one call), the ratio of docs/s to the LangChain
peer of the same run (``--baseline``; ``sentence_transformers`` gives "speed vs fp32"), query p50/p90
(single queries after a warm-up), load time and RSS after load (VmRSS after constructing the object and
embedding one short text, split into anonymous and file-backed pages), peak RSS (``VmHWM``, before the
optional STS pass), cold start (process start → imports + load + first query done), the model files the
configuration reads from disk (MiB; for ours the artifact's manifest), and the min / mean cosine of the
document vectors to plain sentence-transformers fp32, computed in a reference worker of its own: ours
and ``sentence_transformers`` against ``encode_document`` (the same prompts), the peers (which send no
prompt) against ``encode`` without a prompt. ``--sts`` adds STSBenchmark Spearman (slow; ``--sts-pairs``
takes the first N pairs) and its change from the baseline.

Tokens are counted once, with the model's own tokenizer (``Embedder.runtime.count_tokens``), prompt included
as ours sends it (``title: none | text: ``); tokens/s uses that one count for every configuration.

The machine may be shared and noisy: read the ratios, not the absolute timings. Run from the repository root:

    python -m benchmarks.throughput --model "$EMBEDDINGGEMMA_MODEL" --threads 2 --json /tmp/throughput.json
    python -m benchmarks.throughput --model "$EMBEDDINGGEMMA_MODEL" --configs peer:langchain int8
    python -m benchmarks.throughput --model "$EMBEDDINGGEMMA_MODEL" --corpus short --configs peer:langchain ours
    python -m benchmarks.throughput --model "$EMBEDDINGGEMMA_MODEL" --configs peer:langchain \\
        --extra 'onnx={"engine": "onnxruntime"}'
    python -m benchmarks.throughput --model "$EMBEDDINGGEMMA_MODEL" --threads 1 --passages 256 \\
        --configs sentence_transformers langchain:q8_0 langchain:q4_0 langchain:int8 langchain:int4 \\
        --baseline sentence_transformers --sts                 # every quantized mode against fp32

``python benchmarks/throughput.py ...`` works too (it re-runs itself as the module).
"""

from __future__ import annotations

if __name__ == "__main__" and not __package__:  # started by path: sys.path[0] is benchmarks/
    import _harness

    _harness.rerun_as_module(__file__)

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._harness import (
    SAMPLE_DOCS,
    add_common_arguments,
    add_worker_arguments,
    distinct_sentences,
    error_summary,
    eval_dir,
    load_pairs,
    machine_summary,
    memory_mb,
    peak_rss_mb,
    report_header,
    run_worker,
    sts_spearman,
    usable_cores,
    write_json,
    write_worker_result,
)

RUNTIMES: dict[str, dict[str, Any]] = {
    "default": {},
    "int8": {"quantization": "int8"},
    "int4": {"quantization": "int4"},
    "q8_0": {"quantization": "q8_0"},
    "q4_0": {"quantization": "q4_0"},
}
"""Our runtimes as adapter keyword dicts: a new runtime is one line here (or ``--extra`` on the command line)."""
ADAPTERS = ("langchain", "llama_index")
OURS_COMMON: dict[str, Any] = {"device": "cpu"}
"""Given to our adapters under every runtime (the peers are pinned to the CPU the same way)."""
PEERS = ("peer:langchain", "peer:llama_index")
ST = "sentence_transformers"
BASELINE = "peer:langchain"
ST_BATCH = 32
FIRST_TEXT = "What is EmbeddingGemma?"
WARMUP_QUERIES = ["warm-up query one", "a second warm-up query", "the third warm-up query"]
CORPORA = {"passages": 48, "short": 400}
"""Each ``--corpus`` and its default number of texts."""


# --- configurations ----------------------------------------------------------------------------------


def config_table(extra: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """Every known configuration by name, in the order they run: peers, sentence-transformers, ours."""
    table: dict[str, dict[str, Any]] = {
        "peer:langchain": {"kind": "peer", "adapter": "langchain"},
        "peer:llama_index": {"kind": "peer", "adapter": "llama_index"},
        ST: {"kind": "sentence_transformers", "adapter": None},
    }
    for runtime, kwargs in {**RUNTIMES, **(extra or {})}.items():
        for adapter in ADAPTERS:
            table[f"{adapter}:{runtime}"] = {"kind": "ours", "adapter": adapter, "runtime": runtime, "kwargs": kwargs}
    return table


def parse_extra(values: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``NAME={json object}`` → ``{NAME: kwargs}``."""
    extra = {}
    for value in values:
        name, sep, body = value.partition("=")
        name = name.strip()
        if not sep or not name or ":" in name:
            raise ValueError(f"--extra {value!r}: write NAME={{json object of adapter keywords}}")
        kwargs = json.loads(body)
        if not isinstance(kwargs, dict):
            raise ValueError(f"--extra {value!r}: the settings must be a JSON object")
        extra[name] = kwargs
    return extra


def select(table: dict[str, dict[str, Any]], wanted: Sequence[str] | None, extra: Sequence[str]) -> list[str]:
    """Names in table order. A runtime name (``int8``) selects it through both adapters, ``ours`` all of
    ours; a runtime in ``extra`` runs through both adapters unless ``wanted`` names one of them."""
    if not wanted:
        return list(table)
    chosen: set[str] = set()
    for want in wanted:
        matches = [
            name
            for name, spec in table.items()
            if want == name or want == spec.get("runtime") or (want == "ours" and spec["kind"] == "ours")
        ]
        if not matches:
            raise ValueError(f"--configs {want!r} is unknown; known: {', '.join(table)} (or a runtime name, or ours)")
        chosen.update(matches)
    for runtime in extra:  # a runtime given with --extra runs even when --configs does not name it
        if not any(table[name].get("runtime") == runtime for name in chosen):
            chosen.update(name for name, spec in table.items() if spec.get("runtime") == runtime)
    return [name for name in table if name in chosen]


# --- corpus ------------------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'`(\[])")


def markdown_sentences(folder: Path = SAMPLE_DOCS) -> list[str]:
    """Prose sentences of every markdown file, files in name order (headings, code and tables left out)."""
    sentences = []
    for path in sorted(folder.glob("*.md")):
        in_code, paragraph = False, []
        for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
            stripped = line.strip()
            if stripped.startswith("```"):
                in_code = not in_code
                continue
            if in_code or stripped.startswith(("#", "|", ">")):
                stripped = ""
            stripped = re.sub(r"^([-*+]|\d+\.)\s+", "", stripped)
            if stripped:
                paragraph.append(stripped)
                continue
            if paragraph:
                sentences += [s.strip() for s in _SENTENCE_END.split(" ".join(paragraph)) if s.strip()]
                paragraph = []
    return sentences


def short_queries(pool: Sequence[str], count: int) -> list[str]:
    """``count`` sentences of 3-20 words from the end of ``pool``: single queries."""
    return [s for s in reversed(pool) if 3 <= len(s.split()) <= 20][:count]


def build_corpus(
    count_tokens: Callable[[str], int],
    passages: int,
    sts_file: Path,
    target_tokens: int = 290,
    longest: int = 512,
    queries: int = 30,
) -> tuple[list[str], list[str]]:
    """The ``passages`` corpus: ``passages`` passages of about ``target_tokens`` tokens (never more than
    ``longest``, as ``count_tokens`` counts them), alternately from the sample docs and STSBenchmark, in a
    fixed order; and ``queries`` short STS sentences (from the end of the file) as single queries."""
    docs, sts = markdown_sentences(), distinct_sentences(sts_file)
    sources = [pool for pool in (docs, sts) if pool]
    if not sources:
        raise ValueError(f"no text: {SAMPLE_DOCS} and {sts_file} are both empty or missing")
    cursors = [0] * len(sources)
    corpus = []
    for index in range(passages):
        which = index % len(sources)
        pool, taken = sources[which], []
        while len(taken) < len(pool):
            sentence = pool[cursors[which] % len(pool)]
            if taken and count_tokens(" ".join([*taken, sentence])) > target_tokens:
                break
            taken.append(sentence)
            cursors[which] += 1
        words = " ".join(taken).split()
        while count_tokens(" ".join(words)) > longest:  # a single sentence longer than the limit
            words = words[: int(len(words) * 0.9)]
        corpus.append(" ".join(words))
    return corpus, short_queries(sts or docs, queries)


def short_corpus(sts_file: Path, passages: int = 400, queries: int = 30) -> tuple[list[str], list[str]]:
    """The ``short`` corpus: the first ``passages`` distinct STSBenchmark sentences in file order, and
    ``queries`` short sentences from the end of the file (never among the passages) as single queries."""
    sentences = distinct_sentences(sts_file)
    if len(sentences) < passages:
        raise ValueError(f"{sts_file} has {len(sentences)} distinct sentences; --corpus short needs {passages}")
    return sentences[:passages], short_queries(sentences[passages:], queries)


# --- measuring one configuration (worker) ------------------------------------------------------------


def _set_torch_threads(threads: int) -> int | None:
    if "torch" not in sys.modules:  # not loaded (quantized runtimes): OMP_NUM_THREADS covers a later import
        return None
    import torch

    torch.set_num_threads(threads)
    return torch.get_num_threads()


def _load(spec: dict[str, Any], model: str):
    """The object of one configuration and its (documents, query, sts) calls."""
    kind, adapter = spec["kind"], spec.get("adapter")
    if kind == "peer" and adapter == "langchain":
        from langchain_huggingface import HuggingFaceEmbeddings

        peer = HuggingFaceEmbeddings(model_name=model, model_kwargs={"device": "cpu"})
        return peer.embed_documents, peer.embed_query, peer.embed_documents
    if kind == "peer" and adapter == "llama_index":
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding

        peer = HuggingFaceEmbedding(model_name=model, device="cpu")
        return peer.get_text_embedding_batch, peer.get_query_embedding, peer.get_text_embedding_batch
    if kind in ("sentence_transformers", "reference"):
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(model, device="cpu")
        return (
            lambda texts: st.encode_document(texts, batch_size=ST_BATCH),
            st.encode_query,
            lambda texts: st.encode(texts, prompt_name="STS", batch_size=ST_BATCH),
        )
    if kind == "ours":
        kwargs = {"model": model, **OURS_COMMON, **spec["kwargs"]}
        if adapter == "langchain":
            from langchain_embeddinggemma import EmbeddingGemmaEmbeddings as Ours
        else:
            from llama_index_embeddinggemma import EmbeddingGemmaEmbedding as Ours
        ours = Ours(**kwargs)

        def sts(texts: list[str]) -> Any:  # STS wants its own task: a second object, built only with --sts
            other = Ours(**{"task": "semantic_similarity", **kwargs})
            return other.embed_documents(texts) if adapter == "langchain" else other.get_text_embedding_batch(texts)

        if adapter == "langchain":
            return ours.embed_documents, ours.embed_query, sts
        return ours.get_text_embedding_batch, ours.get_query_embedding, sts
    raise ValueError(f"unknown configuration {spec!r}")


def reference_worker(model: str, corpus: dict[str, Any], vectors_out: Path) -> dict[str, Any]:
    """Plain sentence-transformers fp32: documents with and without the prompt, queries likewise."""
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(model, device="cpu")
    passages, queries = corpus["passages"], corpus["queries"]
    arrays = {
        "docs_prompted": st.encode_document(passages, batch_size=ST_BATCH),
        "docs_plain": st.encode(passages, batch_size=ST_BATCH),
        "queries_prompted": st.encode_query(queries, batch_size=ST_BATCH),
        "queries_plain": st.encode(queries, batch_size=ST_BATCH),
    }
    np.savez(vectors_out, **{k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()})
    return {"name": "reference", "peak_rss_mb": round(peak_rss_mb(), 1)}


def time_queries(embed_query: Callable[[str], Any], queries: Sequence[str]) -> tuple[list[float], list[np.ndarray]]:
    """Seconds and vector of each single query, after a few unmeasured warm-up queries."""
    for text in WARMUP_QUERIES:
        embed_query(text)
    latencies, vectors = [], []
    for text in queries:
        started = time.perf_counter()
        vector = embed_query(text)
        latencies.append(time.perf_counter() - started)
        vectors.append(np.asarray(vector, dtype=np.float32))
    return latencies, vectors


def sts_row(embed_sts: Callable[[list[str]], Any], sts_dir: Path, sts_pairs: int | None) -> dict[str, Any]:
    """STSBenchmark Spearman (the first ``sts_pairs`` pairs if given) and the whole process's peak after it."""
    started = time.perf_counter()
    pairs = load_pairs(sts_dir / "stsbenchmark", limit=sts_pairs)
    return {
        "sts_spearman": round(sts_spearman(embed_sts, pairs, progress=False), 4),
        "sts_pairs": len(pairs.gold),
        "sts_seconds": round(time.perf_counter() - started, 1),
        "peak_rss_run_mb": round(peak_rss_mb(), 1),
    }


def measure(
    spec: dict[str, Any],
    model: str,
    corpus: dict[str, Any],
    threads: int,
    spawned_at: float,
    vectors_out: Path,
    rounds: int = 1,
    sts: bool = False,
    sts_dir: Path | None = None,
    sts_pairs: int | None = None,
) -> dict[str, Any]:
    """Load one configuration in this process and measure it (see the module docstring)."""
    started = time.perf_counter()
    embed_documents, embed_query, embed_sts = _load(spec, model)
    torch_threads = _set_torch_threads(threads)
    first = np.asarray(embed_query(FIRST_TEXT), dtype=np.float32)
    load_seconds = time.perf_counter() - started
    cold_start = time.time() - spawned_at
    after_load = memory_mb()
    torch_threads = _set_torch_threads(threads) or torch_threads

    latencies, query_vectors = time_queries(embed_query, corpus["queries"])
    passages = corpus["passages"]
    seconds = []
    for _ in range(rounds):
        started = time.perf_counter()
        doc_vectors = np.asarray(embed_documents(passages), dtype=np.float32)
        seconds.append(time.perf_counter() - started)
    best = min(seconds)
    peak = peak_rss_mb()
    np.savez(vectors_out, docs=doc_vectors, queries=np.stack(query_vectors) if query_vectors else first[None])
    row: dict[str, Any] = {
        "docs": len(passages),
        "dimensions": int(doc_vectors.shape[1]),
        "docs_per_s": len(passages) / best,
        "tokens_per_s": corpus["tokens"] / best,
        "docs_seconds": [round(s, 3) for s in seconds],
        "query_p50_ms": 1000 * float(np.percentile(latencies, 50)) if latencies else None,
        "query_p90_ms": 1000 * float(np.percentile(latencies, 90)) if latencies else None,
        "queries": len(latencies),
        "load_s": round(load_seconds, 3),
        "rss_after_load_mb": round(after_load["VmRSS"], 1),
        "rss_after_load_anon_mb": round(after_load["RssAnon"], 1),
        "rss_after_load_file_mb": round(after_load["RssFile"], 1),
        "peak_rss_mb": round(peak, 1),
        "cold_start_s": round(cold_start, 3),
        "torch_threads": torch_threads if torch_threads is not None else _set_torch_threads(threads),
    }
    if sts:
        row.update(sts_row(embed_sts, sts_dir or eval_dir(), sts_pairs))
    return row


def prepare_worker(model: str, specs: list[dict[str, Any]]) -> dict[str, Any]:
    """Load each of our configurations once and embed one text, unmeasured: whatever a first use builds
    (ONNX / GGUF artifacts) is built here, not in the measured process. Errors are left to that process."""
    import gc

    done = {}
    for spec in specs:
        try:
            _load(spec, model)[1](FIRST_TEXT)
            done[spec["name"]] = "ok"
        except Exception as error:
            done[spec["name"]] = error_summary(error)
        gc.collect()
    return done


def worker_main(args: argparse.Namespace) -> int:
    """``--worker``: measure one configuration, write its row (or its error) to ``--out``."""
    spec = json.loads(args.spec)
    corpus = json.loads(Path(args.corpus_file).read_text())
    spawned_at = args.spawned_at if args.spawned_at is not None else time.time()
    vectors = args.out.with_suffix(".npz")

    def run() -> dict[str, Any]:
        if spec["kind"] == "prepare":
            return prepare_worker(args.model, spec["configs"])
        if spec["kind"] == "reference":
            return reference_worker(args.model, corpus, vectors)
        return measure(
            spec,
            args.model,
            corpus,
            args.threads,
            spawned_at,
            vectors,
            args.rounds,
            args.sts,
            args.eval_dir,
            args.sts_pairs,
        )

    return write_worker_result(args.out, run)


# --- driver ------------------------------------------------------------------------------------------


def run_configuration(
    label: str, spec: dict[str, Any], args: argparse.Namespace, workdir: Path, index: int
) -> dict[str, Any]:
    """One configuration in a fresh interpreter; its row (or the error it died of) and where its vectors are."""
    out = workdir / f"{index:02d}.json"
    worker_args = [
        *("--model", args.model, "--spec", json.dumps(spec), "--corpus-file", str(workdir / "corpus.json")),
        *("--threads", str(args.threads), "--rounds", str(args.rounds), "--eval-dir", str(args.eval_dir)),
        *(["--sts"] if args.sts else []),
        *(["--sts-pairs", str(args.sts_pairs)] if args.sts_pairs else []),
    ]
    row = run_worker(__file__, worker_args, out, threads=args.threads, timeout=args.timeout, label=label)
    vectors = out.with_suffix(".npz")
    row["_vectors"] = str(vectors) if vectors.is_file() else None
    return row


def artifact_files(artifact: Path) -> list[Path]:
    """The files an artifact's manifest (``<artifact>.json``) lists, and those of any artifact made from it
    (the GGUF runtime copy), whose manifests name it as their source."""
    files = []
    for manifest in sorted(artifact.parent.glob("*.json")):
        record = json.loads(manifest.read_text())
        if manifest.name == artifact.name + ".json" or Path(str(record.get("source", ""))).resolve() == artifact:
            files += [manifest.parent / name for name in record.get("files", {})]
    return files


def files_on_disk(model: str, spec: dict[str, Any]) -> list[Path]:
    """The model files a configuration reads: the safetensors for sentence-transformers (the peers too); for
    ours the quantized artifact, or the float32 ONNX graph plus the safetensors it reads token rows from."""
    folder = Path(model)
    if not folder.is_dir():
        return []
    if spec["kind"] != "ours":
        return sorted(folder.rglob("*.safetensors"))
    from embeddinggemma import EmbeddingSettings
    from embeddinggemma.quantize import build

    settings = EmbeddingSettings(model=model, **{**OURS_COMMON, **spec["kwargs"]})
    if settings.backend != "local":
        return []
    if settings.quantization:
        return artifact_files(build(model, settings.quantization).resolve())
    if settings.engine in ("auto", "onnxruntime"):  # on the CPU, "auto" is ONNX Runtime float32
        return [*artifact_files(build(model, "onnx-f32").resolve()), folder / "model.safetensors"]
    return sorted(folder.rglob("*.safetensors"))


def add_files(rows: list[dict[str, Any]], model: str) -> None:
    """Files on disk (MiB, and their names) of each configuration that ran; artifacts are built by then."""
    for row in rows:
        if "error" in row:
            continue
        try:
            files = files_on_disk(model, row)
        except Exception as error:  # an odd --extra runtime: say so in the row, keep the measurements
            row["files_error"] = error_summary(error)
            continue
        row["files"] = [os.path.relpath(path, model) for path in files]
        row["files_mib"] = round(sum(path.stat().st_size for path in files) / 2**20, 1)


def _cosines(vectors: np.ndarray, reference: np.ndarray) -> np.ndarray:
    a = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    b = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    return (a * b).sum(1)


def add_cosines(rows: list[dict[str, Any]], reference: Path | None) -> None:
    """Min / mean cosine of each row's vectors to sentence-transformers fp32 (with or without prompts)."""
    ref = np.load(reference) if reference else None
    for row in rows:
        prompted = row["kind"] != "peer"
        row["cosine_reference"] = "encode_document / encode_query" if prompted else "encode without prompt"
        path = row.pop("_vectors", None)
        if ref is None or not path or "error" in row:
            continue
        mine = np.load(path)
        if mine["docs"].shape != ref["docs_prompted"].shape:
            row["cos_error"] = f"shape {mine['docs'].shape} vs reference {ref['docs_prompted'].shape}"
            continue
        docs = _cosines(mine["docs"], ref["docs_prompted" if prompted else "docs_plain"])
        row["cos_min"], row["cos_mean"] = float(docs.min()), float(docs.mean())
        reference_queries = ref["queries_prompted" if prompted else "queries_plain"]
        if mine["queries"].shape == reference_queries.shape:
            row["query_cos_min"] = float(_cosines(mine["queries"], reference_queries).min())


def add_ratios(rows: list[dict[str, Any]], baseline: str) -> str | None:
    """Ratios to the baseline row (the LangChain peer; else the first row that ran), and the change in STS."""
    ok = [r for r in rows if "error" not in r]
    base = next((r for r in ok if r["name"] == baseline), ok[0] if ok else None)
    if base is None:
        return None
    for row in ok:
        row["docs_per_s_vs_baseline"] = row["docs_per_s"] / base["docs_per_s"]
        if row.get("query_p50_ms") and base.get("query_p50_ms"):
            row["query_p50_speedup_vs_baseline"] = base["query_p50_ms"] / row["query_p50_ms"]
        row["rss_after_load_vs_baseline"] = row["rss_after_load_mb"] / base["rss_after_load_mb"]
        row["peak_rss_vs_baseline"] = row["peak_rss_mb"] / base["peak_rss_mb"]
        row["cold_start_vs_baseline"] = row["cold_start_s"] / base["cold_start_s"]
        if "sts_spearman" in row and "sts_spearman" in base:
            row["sts_spearman_diff_vs_baseline"] = round(row["sts_spearman"] - base["sts_spearman"], 4)
    return base["name"]


def _fmt(value: Any, spec: str = ".2f", suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "—"
    return f"{value:{spec}}{suffix}"


def table(rows: list[dict[str, Any]], baseline: str | None, sts: bool = False) -> str:
    """The results as a markdown table, ratios to the baseline beside the numbers."""
    short = baseline or "baseline"
    head = [
        "config",
        "docs/s",
        f"× {short}",
        "tokens/s",
        "query p50 / p90 (ms)",
        f"query speed × {short}",
        "RSS after load (MB)",
        "anon / file (MB)",
        "peak RSS (MB)",
        "cold start (s)",
        "files (MiB)",
        "cos to ST min / mean",
        *([f"STSB Spearman (Δ {short})"] if sts else []),
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if "error" in r:
            cells = [f"`{r['name']}`", f"failed: {r['error'][:200].replace('|', '/')}"] + [""] * (len(head) - 2)
        else:
            cos = f"{_fmt(r.get('cos_min'), '.4f')} / {_fmt(r.get('cos_mean'), '.4f')}"
            if r["kind"] == "peer" and "cos_min" in r:
                cos += " (no prompt)"
            sts_cell = f"{_fmt(r.get('sts_spearman'), '.4f')} ({_fmt(r.get('sts_spearman_diff_vs_baseline'), '+.4f')})"
            cells = [
                f"`{r['name']}`",
                _fmt(r["docs_per_s"]),
                _fmt(r.get("docs_per_s_vs_baseline"), ".2f", "×"),
                _fmt(r["tokens_per_s"], ",.0f"),
                f"{_fmt(r.get('query_p50_ms'), '.0f')} / {_fmt(r.get('query_p90_ms'), '.0f')}",
                _fmt(r.get("query_p50_speedup_vs_baseline"), ".2f", "×"),
                f"{r['rss_after_load_mb']:,.0f} ({_fmt(r.get('rss_after_load_vs_baseline'), '.2f', '×')})",
                f"{_fmt(r.get('rss_after_load_anon_mb'), ',.0f')} / {_fmt(r.get('rss_after_load_file_mb'), ',.0f')}",
                f"{r['peak_rss_mb']:,.0f} ({_fmt(r.get('peak_rss_vs_baseline'), '.2f', '×')})",
                f"{r['cold_start_s']:.1f} ({_fmt(r.get('cold_start_vs_baseline'), '.2f', '×')})",
                _fmt(r.get("files_mib"), ",.0f"),
                cos,
                *([sts_cell] if sts else []),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def token_counter(model: str) -> Callable[[Sequence[str]], list[int]]:
    """Tokens of each text as ours sends it as a document (prompt and special tokens included)."""
    from embeddinggemma import Embedder

    embedder = Embedder(model=model, **OURS_COMMON)
    return lambda texts: embedder.runtime.count_tokens(embedder.prompt(list(texts), "document"))


def make_corpus(args: argparse.Namespace, count_tokens: Callable[[Sequence[str]], list[int]]) -> dict[str, Any]:
    """The chosen corpus (texts, single queries, token count), as every worker reads it."""
    sts_file = args.sts_file or args.eval_dir / "stsbenchmark" / "pairs.tsv"
    if args.corpus == "short":
        passages, queries = short_corpus(sts_file, args.passages, args.queries)
    else:
        passages, queries = build_corpus(
            lambda text: count_tokens([text])[0], args.passages, sts_file, args.passage_tokens, queries=args.queries
        )
    lengths = count_tokens(passages)
    return {"passages": passages, "queries": queries, "tokens": sum(lengths), "lengths": lengths}


def driver_main(args: argparse.Namespace) -> dict[str, Any]:
    extra = parse_extra(args.extra)
    configs = config_table(extra)
    names = select(configs, args.configs, list(extra) if args.configs else [])
    corpus = make_corpus(args, token_counter(args.model))
    lengths = corpus.pop("lengths")
    workdir = Path(tempfile.mkdtemp(prefix="throughput-bench-"))
    (workdir / "corpus.json").write_text(json.dumps(corpus))
    header = report_header()
    load_before = os.getloadavg()
    print(
        f"{args.corpus} corpus: {len(lengths)} texts, {sum(lengths):,} tokens with the prompt "
        f"({min(lengths)}-{max(lengths)} each), {len(corpus['queries'])} queries, {args.threads} thread(s); "
        f"work folder {workdir}",
        file=sys.stderr,
        flush=True,
    )

    ours = [{"name": name, **configs[name]} for name in names if configs[name]["kind"] == "ours"]
    if ours and not args.no_prepare:
        prepare = {"kind": "prepare", "configs": ours}
        prepared = run_configuration("prepare (first use of ours, unmeasured)", prepare, args, workdir, 99)
        prepared.pop("_vectors", None)
        print(f"    {prepared}", file=sys.stderr, flush=True)
    rows = []
    for index, name in enumerate(names):
        spec = configs[name]
        row = run_configuration(name, spec, args, workdir, index)
        rows.append({"name": name, **{k: v for k, v in spec.items() if k != "runtime"}, **row})
    reference = None
    if not args.no_reference:
        ref = run_configuration("reference (sentence-transformers fp32)", {"kind": "reference"}, args, workdir, 98)
        reference = Path(ref["_vectors"]) if ref.get("_vectors") else None
        if reference is None:
            print(f"    reference failed: {ref.get('error')}", file=sys.stderr)
    add_cosines(rows, reference)
    add_files(rows, args.model)
    baseline = add_ratios(rows, args.baseline)
    report = {
        **header,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "settings": {
            "model": args.model,
            "corpus": args.corpus,
            "threads": args.threads,
            "passages": len(lengths),
            "passage_tokens": {"total": sum(lengths), "min": min(lengths), "max": max(lengths)},
            "token_count": "Embedder.runtime.count_tokens, prompt 'title: none | text: ' and special tokens included",
            "queries": len(corpus["queries"]),
            "rounds": args.rounds,
            "ours_common": OURS_COMMON,
            "sts": args.sts,
            "sts_pairs": args.sts_pairs,
        },
        "baseline": baseline,
        "results": rows,
    }
    print(f"\n{machine_summary(header['machine'])}; {args.threads} thread(s); ratios to {baseline}\n")
    print(table(rows, baseline, args.sts))
    write_json(args.json, report)
    return report


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    usable = usable_cores()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser, eval_data=True)
    parser.add_argument("--configs", nargs="+", metavar="NAME", help="configurations, runtimes, or 'ours'")
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar='NAME={"setting": value}',
        help="one more runtime of ours, as adapter keywords in JSON (both adapters; repeatable)",
    )
    parser.add_argument("--corpus", choices=CORPORA, default="passages", help="long passages or short sentences")
    defaults = ", ".join(f"{count} for {name}" for name, count in CORPORA.items())
    parser.add_argument("--passages", type=int, help=f"texts in the corpus (default: {defaults})")
    parser.add_argument("--passage-tokens", type=int, default=290, help="target tokens per passage (max 512)")
    parser.add_argument("--queries", type=int, default=30, help="single queries timed after a warm-up")
    parser.add_argument("--threads", type=int, default=usable, help=f"threads for every configuration ({usable})")
    parser.add_argument("--rounds", type=int, default=1, help="passes over the corpus; the fastest counts")
    parser.add_argument("--sts", action="store_true", help="also STSBenchmark Spearman (slow)")
    parser.add_argument("--sts-pairs", type=int, help="with --sts: only the first N pairs (default: all 1,379)")
    parser.add_argument("--sts-file", type=Path, help="pairs.tsv for the corpus (default: the eval dir's STSBenchmark)")
    parser.add_argument("--baseline", default=BASELINE, help="configuration the ratios are to")
    parser.add_argument("--no-reference", action="store_true", help="skip the sentence-transformers cosine worker")
    parser.add_argument(
        "--no-prepare", action="store_true", help="skip the unmeasured first use of ours (which builds artifacts)"
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per configuration")
    add_worker_arguments(parser)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--corpus-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.passages is None:
        args.passages = CORPORA[args.corpus]
    if args.threads < 1 or args.passages < 1 or args.rounds < 1 or args.queries < 0:
        parser.error("--threads, --passages and --rounds must be positive, --queries not negative")
    if args.sts_pairs is not None and args.sts_pairs < 2:
        parser.error("--sts-pairs needs at least 2 pairs")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker_main(args)
    report = driver_main(args)
    return 0 if any("error" not in r for r in report["results"]) else 1  # failures are rows, not exits


if __name__ == "__main__":
    sys.exit(main())
