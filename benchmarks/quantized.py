"""Every local runtime against fp32: memory, speed and quality, each mode in its own process.

Per mode (fp32 sentence-transformers, GGUF q8_0 / q4_0 on llama.cpp, ONNX int8) a fresh interpreter
loads the model through the core pipeline (the code both adapters call) and reports:

- files: the artifacts the mode reads from disk (MiB); RSS after load; peak RSS (VmHWM) over the run,
  which embeds 256 passages of 16-512 tokens (prompt included) in batches of 32
- query p50: median latency of ``embed_query`` for single short queries
- passages/s and tokens/s while embedding the passages; the ratio of passages/s to fp32
- mean / min cosine to the fp32 vectors of the same queries and passages
- STSBenchmark test Spearman (task="semantic_similarity", all 1,379 pairs)

Artifacts are built beforehand (``python -m embeddinggemma quantize``) so load times are not build
times. All modes run with the same thread count (``--threads``, default 1) one after another.

    python benchmarks/quantized.py --model "$EMBEDDINGGEMMA_MODEL" --json /tmp/quantized.json
    python benchmarks/quantized.py --model "$EMBEDDINGGEMMA_MODEL" --modes q8_0 int8 --sts-pairs 300
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
STS = REPO.parent / "shared" / "eval" / "stsbenchmark" / "pairs.tsv"
from embeddinggemma import QUANTIZATIONS  # noqa: E402

MODES = ("fp32", *QUANTIZATIONS)
QUERIES = [
    "Which planet is known as the Red Planet?",
    "how do vaccines train the immune system",
    "best way to store fresh basil",
    "What causes the northern lights?",
    "python list comprehension with condition",
    "who wrote the theory of general relativity",
    "symptoms of vitamin D deficiency",
    "how far is the moon from earth",
]


def _status() -> dict[str, int]:
    values = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                values[key] = int(rest.split()[0]) // 1024
    return values


def _sts_pairs(limit: int | None) -> tuple[list[str], list[str], np.ndarray]:
    with open(STS, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))[:limit]
    return [r["sentence1"] for r in rows], [r["sentence2"] for r in rows], np.array([float(r["score"]) for r in rows])


def _passages(count_tokens, n: int = 256, longest: int = 512) -> list[str]:
    """n passages of evenly spread lengths (16 … ``longest`` tokens, prompt included), from STS sentences."""
    first, second, _ = _sts_pairs(None)
    pool = first + second
    targets = np.linspace(16, longest, n).astype(int)
    passages, cursor = [], 0
    for target in targets:
        words: list[str] = []
        while True:
            candidate = words + pool[cursor % len(pool)].split()
            cursor += 1
            if count_tokens([" ".join(candidate)])[0] > target - 10:  # leave room for the prompt
                break
            words = candidate
        passages.append(" ".join(words) or pool[cursor % len(pool)])
    return passages


def _files(mode: str, model: str) -> list[Path]:
    folder = Path(model)
    if mode == "fp32":
        return [p for p in folder.rglob("*.safetensors")]
    cache = folder / "quantized"
    if mode == "int8":
        return sorted(cache.glob("embeddinggemma-int8-*.onnx")) + sorted(cache.glob("embeddinggemma-int8-*.npy"))
    return sorted(cache.glob(f"embeddinggemma-{mode}-*.gguf"))


def worker(mode: str, model: str, threads: int, sts_pairs: int | None, out: Path) -> None:
    """One mode, in this process: load, time, measure, save vectors."""
    os.environ["EMBEDDINGGEMMA_THREADS"] = str(threads)
    if mode == "fp32":
        import torch

        torch.set_num_threads(threads)
    from embeddinggemma import Embedder

    settings = {"model": model, "device": "cpu", "dtype": "float32"} if mode == "fp32" else {"model": model}
    quantization = None if mode == "fp32" else mode
    retrieval = Embedder(quantization=quantization, **settings)
    started = time.perf_counter()
    backend = retrieval.backend
    load_seconds = time.perf_counter() - started
    after_load = _status()

    retrieval.embed_query("warm up")
    latencies = []
    for _ in range(3):
        for query in QUERIES:
            t = time.perf_counter()
            retrieval.embed_query(query)
            latencies.append(time.perf_counter() - t)
    query_vectors = np.array(retrieval.embed(QUERIES, side="query"), dtype=np.float32)

    passages = json.loads((out.parent / "passages.json").read_text())
    tokens = sum(backend.count_tokens(retrieval.prompt(passages, "document")))
    t = time.perf_counter()
    passage_vectors = np.array(retrieval.embed(passages, side="document"), dtype=np.float32)
    passage_seconds = time.perf_counter() - t
    after_passages = _status()

    first, second, gold = _sts_pairs(sts_pairs)
    sts = Embedder(quantization=quantization, task="semantic_similarity", **settings)
    unique = sorted(set(first) | set(second), key=len)
    vectors = dict(zip(unique, np.array(sts.embed(unique), dtype=np.float32), strict=True))
    cos = np.array([vectors[a] @ vectors[b] for a, b in zip(first, second, strict=True)])
    from scipy.stats import spearmanr

    np.save(out.with_suffix(".npy"), np.concatenate([query_vectors, passage_vectors]))
    out.write_text(
        json.dumps(
            {
                "mode": mode,
                "files_mib": round(sum(p.stat().st_size for p in _files(mode, model)) / 2**20, 1),
                "files": [p.name for p in _files(mode, model)],
                "load_s": round(load_seconds, 2),
                "rss_after_load_mb": after_load["VmRSS"],
                "rss_after_load_anon_mb": after_load["RssAnon"],
                "rss_after_load_file_mb": after_load["RssFile"],
                "peak_rss_passages_mb": after_passages["VmHWM"],
                "peak_rss_run_mb": _status()["VmHWM"],
                "query_p50_ms": round(1000 * float(np.median(latencies)), 1),
                "passages": len(passages),
                "passage_tokens": tokens,
                "passages_per_s": round(len(passages) / passage_seconds, 2),
                "tokens_per_s": round(tokens / passage_seconds, 1),
                "sts_pairs": len(gold),
                "sts_spearman": round(float(spearmanr(gold, cos).statistic), 4),
                "threads": threads,
            }
        )
    )


def _table(results: list[dict]) -> str:
    base = next((r for r in results if r["mode"] == "fp32"), None)
    head = (
        "| mode | files (MiB) | RSS after load (MB) | peak RSS (MB) | query p50 (ms) | passages/s | tokens/s "
        "| speed vs fp32 | mean cos | min cos | STSB Spearman | Δ STSB |"
    )
    lines = [head, "|" + "---|" * 12]
    for r in results:
        speed = r["passages_per_s"] / base["passages_per_s"] if base else float("nan")
        delta = r["sts_spearman"] - base["sts_spearman"] if base else float("nan")
        lines.append(
            f"| {r['mode']} | {r['files_mib']:,.0f} | {r['rss_after_load_mb']:,} | {r['peak_rss_passages_mb']:,} "
            f"| {r['query_p50_ms']} | {r['passages_per_s']} | {r['tokens_per_s']:,.0f} | {speed:.2f} "
            f"| {r.get('mean_cos', 1):.4f} | {r.get('min_cos', 1):.4f} | {r['sts_spearman']:.4f} | {delta:+.4f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=os.environ.get("EMBEDDINGGEMMA_MODEL"), help="local model folder")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sts-pairs", type=int, default=None, help="first N STSBenchmark pairs (default: all)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.model:
        parser.error("pass --model or set EMBEDDINGGEMMA_MODEL")
    if args.worker:
        worker(args.worker, args.model, args.threads, args.sts_pairs, args.out)
        return 0

    from embeddinggemma.quantize import build

    for mode in args.modes:  # build outside the measured processes
        if mode in QUANTIZATIONS:
            build(args.model, mode)
    workdir = Path(tempfile.mkdtemp(prefix="quantized-bench-"))
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(args.model) / "tokenizer.json"))
    passages = _passages(lambda texts: [len(tokenizer.encode(t).ids) for t in texts])
    (workdir / "passages.json").write_text(json.dumps(passages))

    results = []
    for mode in args.modes:
        out = workdir / f"{mode}.json"
        command = [sys.executable, __file__, "--worker", mode, "--model", args.model, "--out", str(out)]
        command += ["--threads", str(args.threads)] + (["--sts-pairs", str(args.sts_pairs)] if args.sts_pairs else [])
        print(f"[{time.strftime('%H:%M:%S')}] {mode} …", file=sys.stderr, flush=True)
        subprocess.run(command, check=True)
        results.append(json.loads(out.read_text()))
    if "fp32" in args.modes:
        reference = np.load(workdir / "fp32.npy")
        for r in results:
            cos = (np.load(workdir / f"{r['mode']}.npy") * reference).sum(1)
            r["mean_cos"], r["min_cos"] = round(float(cos.mean()), 5), round(float(cos.min()), 5)
    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"\n{machine}, {args.threads} thread(s), {time.strftime('%Y-%m-%d')}\n")
    print(_table(results))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "threads": args.threads, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
