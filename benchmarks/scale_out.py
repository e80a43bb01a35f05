"""Ray scale-out: passages/s for 1 and 2 embedding actors against the single-process path, on one corpus.

Configurations, one after another in this process (the model loads once per process / actor, outside
the timings): the single-process ``Embedder`` with all threads; Ray with 1 actor of N CPUs; Ray with
N actors of 1 CPU. Ray's overhead per block is timed with an identity ``map_batches`` over the same
blocks. From the measured per-CPU rate, the number of CPU nodes that would embed 10 million chunks in
one hour is estimated (the estimate assumes the rate scales with cores, which these two points test).

    python benchmarks/scale_out.py --model "$EMBEDDINGGEMMA_MODEL" --passages 128 --json scale_out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_CHUNKS, TARGET_SECONDS = 10_000_000, 3600


def corpus(count: int) -> list[str]:
    """Passages of ~100-250 words from the sample documents' prose, in a fixed order."""
    words = " ".join(p.read_text(encoding="utf-8") for p in sorted((REPO / "examples" / "sample_docs").glob("*.md")))
    words = words.split()
    out, start = [], 0
    for i in range(count):
        size = 100 + (i * 37) % 150
        out.append(" ".join(words[(start + j) % len(words)] for j in range(size)))
        start += size
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=os.environ.get("EMBEDDINGGEMMA_MODEL", "google/embeddinggemma-300m"))
    parser.add_argument("--passages", type=int, default=128)
    parser.add_argument("--cpus", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--gpus-per-actor", type=float, default=0, help="a GPU per actor: torch on it")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    import ray

    from embeddinggemma import Embedder
    from embeddinggemma.ray import embed_dataset

    texts = corpus(args.passages)
    rows = [{"id": i, "text": text} for i, text in enumerate(texts)]
    blocks = max(1, args.passages // args.batch_size)
    results: dict[str, dict[str, float]] = {}

    os.environ["EMBEDDINGGEMMA_THREADS"] = str(args.cpus)
    local = Embedder(model=args.model)
    local.embed(["warm-up"])
    started = time.perf_counter()
    local.embed(texts)
    results["single process"] = {"actors": 0, "cpus": args.cpus, "seconds": time.perf_counter() - started}

    ray.init(num_cpus=args.cpus, include_dashboard=False, configure_logging=False, log_to_driver=False)
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        dataset = ray.data.from_items(rows, override_num_blocks=blocks).materialize()
        identity = dataset.map_batches(lambda batch: batch, batch_size=args.batch_size)
        identity.materialize()  # starts the worker processes
        started = time.perf_counter()
        identity.materialize()
        overhead = (time.perf_counter() - started) / blocks
        for actors, cpus in ((1, args.cpus), (args.cpus, 1)):
            gpus = {"gpus_per_actor": args.gpus_per_actor}
            warm = embed_dataset(
                dataset.limit(actors), {"model": args.model}, actors=actors, cpus_per_actor=cpus, batch_size=1, **gpus
            )
            started = time.perf_counter()
            warm.materialize()  # a pool's start-up and model load: every run of a pipeline pays it once
            startup = time.perf_counter() - started
            run = embed_dataset(
                dataset, {"model": args.model}, actors=actors, cpus_per_actor=cpus, batch_size=args.batch_size, **gpus
            )
            started = time.perf_counter()
            count = run.materialize().count()
            assert count == len(rows)
            total = time.perf_counter() - started
            results[f"Ray, {actors} actor(s) x {cpus} CPU"] = {
                "actors": actors,
                "cpus": cpus,
                "seconds": max(total - startup, 1e-9),  # steady state: the run less its pool's start-up
                "total_seconds": total,
                "startup_seconds": startup,
            }
    finally:
        ray.shutdown()

    base = results["single process"]["seconds"]
    when = f"{datetime.now(UTC):%Y-%m-%dT%H:%MZ}"
    print(f"{platform.machine()}, {args.cpus} CPUs, {when}; {args.passages} passages of 100-250 words")
    print("| configuration | passages/s (steady) | × single process | passages/s (with start-up) | start-up (s) |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        rate = args.passages / r["seconds"]
        r["passages_per_second"] = rate
        startup = f"{r['startup_seconds']:.1f}" if "startup_seconds" in r else "—"
        overall = args.passages / r.get("total_seconds", r["seconds"])
        print(f"| {name} | {rate:.2f} | {base / r['seconds']:.2f}× | {overall:.2f} | {startup} |")
    print(f"Ray overhead per block of {args.batch_size} (identity map_batches): {overhead * 1000:.0f} ms")
    per_cpu = max(r["passages_per_second"] / args.cpus for r in results.values())
    needed = TARGET_CHUNKS / TARGET_SECONDS / per_cpu
    print(
        f"Estimate: {per_cpu:.2f} passages/s per CPU core here -> {needed:,.0f} cores "
        f"(~{needed / 32:,.0f} nodes of 32 cores) to embed {TARGET_CHUNKS:,} chunks in one hour on CPUs."
    )
    if args.json:
        args.json.write_text(json.dumps({"results": results, "overhead_per_block_s": overhead, "per_cpu": per_cpu}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
