"""Throughput, latency, memory and fidelity of every configuration on one corpus, each in its own process.

Configurations (run one after another, the peers first, each in a fresh interpreter started by this
script in ``--worker`` mode):

- ``peer:langchain``: LangChain's ``HuggingFaceEmbeddings(model_name=MODEL, model_kwargs={"device": "cpu"})``
- ``peer:llama_index``: LlamaIndex's ``HuggingFaceEmbedding(model_name=MODEL, device="cpu")``
- ``sentence_transformers``: ``SentenceTransformer(MODEL, device="cpu").encode_document`` (batch 32)
- ``langchain:RUNTIME`` / ``llama_index:RUNTIME``: ours through each adapter, for every runtime in
  :data:`RUNTIMES` (adapter keyword dicts; ``default`` is ``{}``). ``--extra 'NAME={"engine": "onnxruntime"}'``
  adds a runtime from the command line (both adapters), so runtimes that do not exist yet can be
  benchmarked without editing this file.

Per configuration: docs/s and tokens/s over the corpus (one call), the ratio of docs/s to the LangChain
peer of the same run, query p50/p90 (single queries after a warm-up), RSS after load (VmRSS after
constructing the object and embedding one short text), peak RSS (``VmHWM``, before the optional STS
pass), cold start (process start → imports + load + first query done), and the min / mean cosine of the
document vectors to plain sentence-transformers fp32, computed in a reference worker of its own: ours
and ``sentence_transformers`` against ``encode_document`` (the same prompts), the peers (which send no
prompt) against ``encode`` without a prompt. ``--sts`` adds STSBenchmark Spearman (slow).

Tokens are counted once, with the model's ``tokenizer.json``, prompt included as ours sends it
(``title: none | text: ``); tokens/s uses that one count for every configuration.

The machine may be shared and noisy: read the ratios, not the absolute timings.

    python benchmarks/throughput.py --model "$EMBEDDINGGEMMA_MODEL" --threads 2 --json /tmp/throughput.json
    python benchmarks/throughput.py --model "$EMBEDDINGGEMMA_MODEL" --configs peer:langchain int8
    python benchmarks/throughput.py --model "$EMBEDDINGGEMMA_MODEL" --configs peer:langchain \\
        --extra 'onnx={"engine": "onnxruntime"}'
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DOCS = REPO / "examples" / "sample_docs"
DEFAULT_MODEL = os.environ.get("EMBEDDINGGEMMA_MODEL", "google/embeddinggemma-300m")

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
THREAD_ENV = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "RAYON_NUM_THREADS",
    "EMBEDDINGGEMMA_THREADS",
)
PACKAGES = (
    "embeddinggemma",
    "torch",
    "transformers",
    "sentence-transformers",
    "tokenizers",
    "numpy",
    "langchain-core",
    "langchain-huggingface",
    "llama-index-core",
    "llama-index-embeddings-huggingface",
    "llama-cpp-python",
    "onnxruntime",
)


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


def sts_sentences(pairs_file: Path) -> list[str]:
    """Every distinct STSBenchmark sentence, in file order (sentence1, sentence2 of each row)."""
    if not pairs_file.is_file():
        return []
    seen: dict[str, None] = {}
    with open(pairs_file, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            for key in ("sentence1", "sentence2"):
                seen.setdefault(" ".join(row[key].split()), None)
    return [s for s in seen if s]


def build_corpus(
    count_tokens: Callable[[str], int],
    passages: int,
    sts_file: Path,
    target_tokens: int = 290,
    longest: int = 512,
    queries: int = 30,
) -> tuple[list[str], list[str]]:
    """``passages`` passages of about ``target_tokens`` tokens (never more than ``longest``, as
    ``count_tokens`` counts them), alternately from the sample docs and STSBenchmark, in a fixed order;
    and ``queries`` short STS sentences (from the end of the file) as single queries."""
    docs, sts = markdown_sentences(), sts_sentences(sts_file)
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
    pool = sts or docs
    short = [s for s in reversed(pool) if 3 <= len(s.split()) <= 20]
    return corpus, short[:queries]


# --- measuring one configuration (worker) ------------------------------------------------------------


def _proc_status_mb(field: str) -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _vm_rss_mb() -> float:
    return _proc_status_mb("VmRSS")


def _peak_rss_mb() -> float:
    # VmHWM belongs to this process image; ru_maxrss survives exec and would report the driver's peak
    # whenever the driver was bigger than the worker.
    peak = _proc_status_mb("VmHWM")
    if peak == peak:
        return peak
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux (no /proc elsewhere)


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
    return {"name": "reference", "peak_rss_mb": round(_peak_rss_mb(), 1)}


def measure(
    spec: dict[str, Any],
    model: str,
    corpus: dict[str, Any],
    threads: int,
    spawned_at: float,
    vectors_out: Path,
    rounds: int = 1,
    sts: bool = False,
) -> dict[str, Any]:
    """Load one configuration in this process and measure it (see the module docstring)."""
    embed_documents, embed_query, embed_sts = _load(spec, model)
    torch_threads = _set_torch_threads(threads)
    first = np.asarray(embed_query(FIRST_TEXT), dtype=np.float32)
    cold_start = time.time() - spawned_at
    rss_after_load = _vm_rss_mb()
    torch_threads = _set_torch_threads(threads) or torch_threads

    for text in WARMUP_QUERIES:
        embed_query(text)
    latencies, query_vectors = [], []
    for text in corpus["queries"]:
        started = time.perf_counter()
        vector = embed_query(text)
        latencies.append(time.perf_counter() - started)
        query_vectors.append(np.asarray(vector, dtype=np.float32))

    passages = corpus["passages"]
    seconds = []
    for _ in range(rounds):
        started = time.perf_counter()
        doc_vectors = np.asarray(embed_documents(passages), dtype=np.float32)
        seconds.append(time.perf_counter() - started)
    best = min(seconds)
    peak = _peak_rss_mb()
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
        "rss_after_load_mb": round(rss_after_load, 1),
        "peak_rss_mb": round(peak, 1),
        "cold_start_s": round(cold_start, 3),
        "torch_threads": torch_threads if torch_threads is not None else _set_torch_threads(threads),
    }
    if sts:
        from benchmarks.quality import DEFAULT_EVAL_DIR, load_pairs, sts_spearman

        started = time.perf_counter()
        pairs = load_pairs(DEFAULT_EVAL_DIR / "stsbenchmark")
        row["sts_spearman"] = round(sts_spearman(embed_sts, pairs, progress=False), 4)
        row["sts_seconds"] = round(time.perf_counter() - started, 1)
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


def error_summary(error: BaseException) -> str:
    """The error on one line (pydantic's multi-line messages included, its doc links left out)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("For further information")]
    return f"{type(error).__name__}: {' '.join(lines)}"


def worker_main(args: argparse.Namespace) -> int:
    """``--worker``: measure one configuration, write its row (or its error) to ``--out``."""
    spec = json.loads(args.spec)
    corpus = json.loads(Path(args.corpus).read_text())
    out = Path(args.out)
    try:
        if spec["kind"] == "prepare":
            row = prepare_worker(args.model, spec["configs"])
        elif spec["kind"] == "reference":
            row = reference_worker(args.model, corpus, out.with_suffix(".npz"))
        else:
            row = measure(
                spec, args.model, corpus, args.threads, args.spawned_at, out.with_suffix(".npz"), args.rounds, args.sts
            )
    except BaseException as error:  # record it in the row, let the driver go on
        out.write_text(json.dumps({"error": error_summary(error), "traceback": traceback.format_exc()}))
        traceback.print_exc()
        return 1
    out.write_text(json.dumps(row))
    return 0


# --- driver ------------------------------------------------------------------------------------------


def _worker_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update({name: str(threads) for name in THREAD_ENV})
    env.update(
        {
            "TOKENIZERS_PARALLELISM": "true",
            "HF_HUB_OFFLINE": env.get("HF_HUB_OFFLINE", "1"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        }
    )
    return env


def run_worker(name: str, spec: dict[str, Any], args: argparse.Namespace, workdir: Path, index: int) -> dict[str, Any]:
    """One configuration in a fresh interpreter; its row, or the error it died of."""
    out = workdir / f"{index:02d}.json"
    log = workdir / f"{index:02d}.log"
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        "--model",
        args.model,
        "--spec",
        json.dumps(spec),
        "--corpus",
        str(workdir / "corpus.json"),
        "--out",
        str(out),
        "--threads",
        str(args.threads),
        "--rounds",
        str(args.rounds),
        *(["--sts"] if args.sts else []),
    ]
    print(f"[{time.strftime('%H:%M:%S')}] {name} …", file=sys.stderr, flush=True)
    with open(log, "w") as handle:
        command += ["--spawned-at", repr(time.time())]
        try:
            code = subprocess.run(
                command, env=_worker_env(args.threads), stdout=handle, stderr=subprocess.STDOUT, timeout=args.timeout
            ).returncode
        except subprocess.TimeoutExpired:
            code = None
    row: dict[str, Any] = {}
    if out.is_file():
        row = json.loads(out.read_text())
    if code != 0 and "error" not in row:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        reason = f"timed out after {args.timeout}s" if code is None else f"exit code {code}"
        row = {"error": f"{reason}: {' | '.join(tail)}"}
    if "error" in row:
        print(f"    failed: {row['error'][:300]}", file=sys.stderr, flush=True)
    row.pop("traceback", None)
    vectors = out.with_suffix(".npz")
    row["_vectors"] = str(vectors) if vectors.is_file() else None
    return row


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
    """Ratios to the baseline row (the LangChain peer; else the first row that ran)."""
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
    return base["name"]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = ""
    try:
        memory = Path("/proc/meminfo").read_text().splitlines()[0].split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "memory": memory,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
    }


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
        "peak RSS (MB)",
        "cold start (s)",
        "cos to ST min / mean",
        *(["STSB Spearman"] if sts else []),
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if "error" in r:
            cells = [f"`{r['name']}`", f"failed: {r['error'][:200].replace('|', '/')}"] + [""] * (len(head) - 2)
        else:
            cos = f"{_fmt(r.get('cos_min'), '.4f')} / {_fmt(r.get('cos_mean'), '.4f')}"
            if r["kind"] == "peer" and "cos_min" in r:
                cos += " (no prompt)"
            cells = [
                f"`{r['name']}`",
                _fmt(r["docs_per_s"]),
                _fmt(r.get("docs_per_s_vs_baseline"), ".2f", "×"),
                _fmt(r["tokens_per_s"], ",.0f"),
                f"{_fmt(r.get('query_p50_ms'), '.0f')} / {_fmt(r.get('query_p90_ms'), '.0f')}",
                _fmt(r.get("query_p50_speedup_vs_baseline"), ".2f", "×"),
                f"{r['rss_after_load_mb']:,.0f} ({_fmt(r.get('rss_after_load_vs_baseline'), '.2f', '×')})",
                f"{r['peak_rss_mb']:,.0f} ({_fmt(r.get('peak_rss_vs_baseline'), '.2f', '×')})",
                f"{r['cold_start_s']:.1f} ({_fmt(r.get('cold_start_vs_baseline'), '.2f', '×')})",
                cos,
                *([_fmt(r.get("sts_spearman"), ".4f")] if sts else []),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def driver_main(args: argparse.Namespace) -> dict[str, Any]:
    from tokenizers import Tokenizer

    from benchmarks.quality import DEFAULT_EVAL_DIR
    from embeddinggemma import TASKS, apply_prompt

    extra = parse_extra(args.extra)
    configs = config_table(extra)
    names = select(configs, args.configs, list(extra) if args.configs else [])
    tokenizer_file = Path(args.model) / "tokenizer.json"
    if not tokenizer_file.is_file():
        raise SystemExit(f"{tokenizer_file} not found: pass --model a local model folder")
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    prompt = TASKS["retrieval"].document

    def count(text: str) -> int:
        return len(tokenizer.encode(apply_prompt(text, prompt)).ids)

    sts_file = args.sts_file or DEFAULT_EVAL_DIR / "stsbenchmark" / "pairs.tsv"
    passages, queries = build_corpus(count, args.passages, sts_file, args.passage_tokens, queries=args.queries)
    lengths = [count(p) for p in passages]
    corpus = {"passages": passages, "queries": queries, "tokens": sum(lengths)}
    workdir = Path(tempfile.mkdtemp(prefix="throughput-bench-"))
    (workdir / "corpus.json").write_text(json.dumps(corpus))
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    load_before = os.getloadavg()
    print(
        f"{len(passages)} passages, {sum(lengths):,} tokens with the prompt ({min(lengths)}-{max(lengths)} each), "
        f"{len(queries)} queries, {args.threads} thread(s); work folder {workdir}",
        file=sys.stderr,
        flush=True,
    )

    ours = [{"name": name, **configs[name]} for name in names if configs[name]["kind"] == "ours"]
    if ours and not args.no_prepare:
        prepared = run_worker(
            "prepare (first use of ours, unmeasured)", {"kind": "prepare", "configs": ours}, args, workdir, 99
        )
        prepared.pop("_vectors", None)
        print(f"    {prepared}", file=sys.stderr, flush=True)
    rows = []
    for index, name in enumerate(names):
        spec = configs[name]
        row = run_worker(name, spec, args, workdir, index)
        rows.append({"name": name, **{k: v for k, v in spec.items() if k != "runtime"}, **row})
    reference = None
    if not args.no_reference:
        ref = run_worker("reference (sentence-transformers fp32)", {"kind": "reference"}, args, workdir, len(names))
        reference = Path(ref["_vectors"]) if ref.get("_vectors") else None
        if reference is None:
            print(f"    reference failed: {ref.get('error')}", file=sys.stderr)
    add_cosines(rows, reference)
    baseline = add_ratios(rows, args.baseline)
    report = {
        "date": started,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(),
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "settings": {
            "model": args.model,
            "threads": args.threads,
            "passages": len(passages),
            "passage_tokens": {"total": sum(lengths), "min": min(lengths), "max": max(lengths)},
            "token_count": "tokenizer.json, prompt 'title: none | text: ' and special tokens included",
            "queries": len(queries),
            "rounds": args.rounds,
            "ours_common": OURS_COMMON,
            "sts": args.sts,
        },
        "baseline": baseline,
        "results": rows,
    }
    m = report["machine"]
    print(
        f"\n{m['cpu']}, {m['usable_cores']} usable cores, Python {m['python']}, {args.threads} thread(s), "
        f"{started}; ratios to {baseline}\n"
    )
    print(table(rows, baseline, args.sts))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return report


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL, help="local model folder (with tokenizer.json)")
    parser.add_argument("--configs", nargs="+", metavar="NAME", help="configurations, runtimes, or 'ours'")
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar='NAME={"setting": value}',
        help="one more runtime of ours, as adapter keywords in JSON (both adapters; repeatable)",
    )
    parser.add_argument("--passages", type=int, default=48)
    parser.add_argument("--passage-tokens", type=int, default=290, help="target tokens per passage (max 512)")
    parser.add_argument("--queries", type=int, default=30, help="single queries timed after a warm-up")
    parser.add_argument("--threads", type=int, default=usable, help=f"threads for every configuration ({usable})")
    parser.add_argument("--rounds", type=int, default=1, help="passes over the corpus; the fastest counts")
    parser.add_argument("--sts", action="store_true", help="also STSBenchmark Spearman (slow)")
    parser.add_argument("--sts-file", type=Path, help="pairs.tsv for the corpus (default: the shared STSBenchmark)")
    parser.add_argument("--baseline", default=BASELINE, help="configuration the ratios are to")
    parser.add_argument("--no-reference", action="store_true", help="skip the sentence-transformers cosine worker")
    parser.add_argument(
        "--no-prepare", action="store_true", help="skip the unmeasured first use of ours (which builds artifacts)"
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per configuration")
    parser.add_argument("--json", type=Path, help="write the results, machine and date to this file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--spawned-at", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads < 1 or args.passages < 1 or args.rounds < 1 or args.queries < 0:
        parser.error("--threads, --passages and --rounds must be positive, --queries not negative")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        if args.spawned_at is None:
            args.spawned_at = time.time()
        return worker_main(args)
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    report = driver_main(args)
    return 0 if any("error" not in r for r in report["results"]) else 1  # failures are rows, not exits


if __name__ == "__main__":
    sys.exit(main())
