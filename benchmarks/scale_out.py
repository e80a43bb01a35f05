"""Ray scale-out: passages/s for 1 and 2 embedding actors against the single-process path, on one corpus.

Configurations, one after another in this process (the model loads once per process / actor, outside
the timings): the single-process ``Embedder`` with all threads; Ray with 1 actor of N CPUs; Ray with
N actors of 1 CPU. Ray's overhead per block is timed with an identity ``map_batches`` over the same
blocks. From the measured per-CPU rate, the number of CPU nodes that would embed 10 million chunks in
one hour is estimated (the estimate assumes the rate scales with cores, which these two points test).

Run from the repository root (``python benchmarks/scale_out.py`` works too):

    python -m benchmarks.scale_out --model "$EMBEDDINGGEMMA_MODEL" --passages 128 --json scale_out.json
"""

from __future__ import annotations

if __name__ == "__main__" and not __package__:  # started by path: sys.path[0] is benchmarks/
    import _harness

    _harness.rerun_as_module(__file__)

import argparse
import os
import time

from benchmarks._harness import (
    SAMPLE_DOCS,
    add_common_arguments,
    machine_summary,
    report_header,
    usable_cores,
    write_json,
)

TARGET_CHUNKS, TARGET_SECONDS = 10_000_000, 3600


def corpus(count: int) -> list[str]:
    """Passages of ~100-250 words from the sample documents' prose, in a fixed order."""
    words = " ".join(p.read_text(encoding="utf-8") for p in sorted(SAMPLE_DOCS.glob("*.md"))).split()
    out, start = [], 0
    for i in range(count):
        size = 100 + (i * 37) % 150
        out.append(" ".join(words[(start + j) % len(words)] for j in range(size)))
        start += size
    return out


def time_single_process(model: str, texts: list[str], cpus: int) -> dict[str, float]:
    """The single-process ``Embedder`` with ``cpus`` threads, model loaded and warm before the timing."""
    from embeddinggemma import Embedder

    os.environ["EMBEDDINGGEMMA_THREADS"] = str(cpus)
    local = Embedder(model=model)
    local.embed(["warm-up"])
    started = time.perf_counter()
    local.embed(texts)
    return {"actors": 0, "cpus": cpus, "seconds": time.perf_counter() - started}


def ray_overhead_per_block(dataset, batch_size: int, blocks: int) -> float:
    """Seconds per block of an identity ``map_batches`` over the same blocks, worker processes warm."""
    identity = dataset.map_batches(lambda batch: batch, batch_size=batch_size)
    identity.materialize()  # starts the worker processes
    started = time.perf_counter()
    identity.materialize()
    return (time.perf_counter() - started) / blocks


def time_actor_pool(dataset, rows: int, model: str, actors: int, cpus: int, args: argparse.Namespace) -> dict:
    """One pool of ``actors`` x ``cpus``: its start-up (pool and model load) and its steady embedding time."""
    from embeddinggemma.ray import embed_dataset

    settings, gpus = {"model": model}, {"gpus_per_actor": args.gpus_per_actor}
    warm = embed_dataset(dataset.limit(actors), settings, actors=actors, cpus_per_actor=cpus, batch_size=1, **gpus)
    started = time.perf_counter()
    warm.materialize()  # a pool's start-up and model load: every run of a pipeline pays it once
    startup = time.perf_counter() - started
    run = embed_dataset(dataset, settings, actors=actors, cpus_per_actor=cpus, batch_size=args.batch_size, **gpus)
    started = time.perf_counter()
    count = run.materialize().count()
    total = time.perf_counter() - started
    if count != rows:
        raise RuntimeError(f"Ray returned {count} rows for {rows}")
    return {
        "actors": actors,
        "cpus": cpus,
        "seconds": max(total - startup, 1e-9),  # steady state: the run less its pool's start-up
        "total_seconds": total,
        "startup_seconds": startup,
    }


def time_ray(texts: list[str], args: argparse.Namespace) -> tuple[dict[str, dict[str, float]], float]:
    """Every Ray configuration (1 actor of all CPUs; one actor per CPU) and Ray's overhead per block."""
    import ray

    rows = [{"id": i, "text": text} for i, text in enumerate(texts)]
    blocks = max(1, len(rows) // args.batch_size)
    results = {}
    ray.init(num_cpus=args.cpus, include_dashboard=False, configure_logging=False, log_to_driver=False)
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        dataset = ray.data.from_items(rows, override_num_blocks=blocks).materialize()
        overhead = ray_overhead_per_block(dataset, args.batch_size, blocks)
        for actors, cpus in dict.fromkeys(((1, args.cpus), (args.cpus, 1))):  # one pool when --cpus 1
            row = time_actor_pool(dataset, len(rows), args.model, actors, cpus, args)
            results[f"Ray, {actors} actor(s) x {cpus} CPU"] = row
    finally:
        ray.shutdown()
    return results, overhead


def print_results(results: dict[str, dict[str, float]], args: argparse.Namespace, overhead: float) -> float:
    """The table and the cluster estimate; returns the best passages/s per CPU core."""
    passages, batch_size = args.passages, args.batch_size
    base = results["single process"]["seconds"]
    print("| configuration | passages/s (steady) | × single process | passages/s (with start-up) | start-up (s) |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        rate = passages / r["seconds"]
        r["passages_per_second"] = rate
        startup = f"{r['startup_seconds']:.1f}" if "startup_seconds" in r else "—"
        overall = passages / r.get("total_seconds", r["seconds"])
        print(f"| {name} | {rate:.2f} | {base / r['seconds']:.2f}× | {overall:.2f} | {startup} |")
    print(f"Ray overhead per block of {batch_size} (identity map_batches): {overhead * 1000:.0f} ms")
    per_cpu = max(r["passages_per_second"] / args.cpus for r in results.values())  # each used all --cpus
    needed = TARGET_CHUNKS / TARGET_SECONDS / per_cpu
    print(
        f"Estimate: {per_cpu:.2f} passages/s per CPU core here -> {needed:,.0f} cores "
        f"(~{needed / 32:,.0f} nodes of 32 cores) to embed {TARGET_CHUNKS:,} chunks in one hour on CPUs."
    )
    return per_cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--passages", type=int, default=128)
    parser.add_argument("--cpus", type=int, default=usable_cores())
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--gpus-per-actor", type=float, default=0, help="a GPU per actor: torch on it")
    args = parser.parse_args(argv)

    header = report_header()
    texts = corpus(args.passages)
    results = {"single process": time_single_process(args.model, texts, args.cpus)}
    ray_results, overhead = time_ray(texts, args)
    results.update(ray_results)

    print(f"{machine_summary(header['machine'])}; {args.cpus} CPUs; {args.passages} passages of 100-250 words")
    per_cpu = print_results(results, args, overhead)
    settings = {"model": args.model, "passages": args.passages, "cpus": args.cpus, "batch_size": args.batch_size}
    report = {**header, "settings": settings, "results": results, "overhead_per_block_s": overhead}
    write_json(args.json, {**report, "per_cpu": per_cpu})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
