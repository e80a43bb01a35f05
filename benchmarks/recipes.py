"""Quantization recipes against the float32 graph, in one process: how exact, how fast, how big.

Each recipe (:data:`VARIANTS`: the shipped ``int8`` / ``int4`` recipes, their block-wise fallbacks, and the
variants they were chosen over) is written from the model's float32 graph by
``embeddinggemma._engines.onnx_nbits.quantize_graph_nbits`` into a scratch folder and run by ONNX Runtime
in this process, on the same token rows as the float32 graph (so the weights' recipe is all that differs;
the shipped modes also round the token table to 8 bits). Per recipe: min / mean cosine to the float32
graph's vectors (document prompt) on short STSBenchmark sentences and on passages of about
``--passage-tokens`` tokens, docs/s on each as a ratio to the float32 graph's (timed in turn, in this
process: read the ratios), and the size of its weights file. Also printed: whether this CPU has the
integer GEMM the recipes rely on (``integer_gemm_is_exact``).

Run from the repository root (``python benchmarks/recipes.py`` works too):

    python -m benchmarks.recipes --model "$EMBEDDINGGEMMA_MODEL" --json recipes.json
    python -m benchmarks.recipes --recipes int8 "int8 block-wise" --short 100 --passages 8
"""

from __future__ import annotations

if __name__ == "__main__" and not __package__:  # started by path: sys.path[0] is benchmarks/
    import _harness

    _harness.rerun_as_module(__file__)

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._harness import (
    add_common_arguments,
    distinct_sentences,
    eval_dir,
    machine_summary,
    report_header,
    write_json,
)
from benchmarks.throughput import build_corpus
from embeddinggemma import Embedder
from embeddinggemma._engines.onnx_nbits import (
    BLOCK_WISE,
    RECIPES,
    Blocks,
    Recipe,
    integer_gemm_is_exact,
    quantize_graph_nbits,
)


def _integer(outliers: int) -> Blocks:
    return Blocks(8, 0, integer=True, outliers=outliers)


_EIGHT_BIT_KINDS = ("v", "o", "down", "dense")
VARIANTS: dict[str, Recipe] = {
    "int8": RECIPES["int8"],
    "int8 block-wise": BLOCK_WISE["int8"],
    "int8 integer, no outlier channels": Recipe("x", _integer(0)),
    "int8 integer, no channel scales": Recipe("x", _integer(0), smooth=False),
    "int8 integer, 8 outlier channels": Recipe("x", _integer(8)),
    "int8 integer, 16 outlier channels": Recipe("x", _integer(16)),
    "int4": RECIPES["int4"],
    "int4 block-wise": BLOCK_WISE["int4"],
    "int4 level 4, integer 8-bit": Recipe("x", Blocks(4, 32, clip=True), dict.fromkeys(_EIGHT_BIT_KINDS, _integer(32))),
    **{
        f"int4, {count} outlier channels": Recipe(
            "x", Blocks(4, 32, accuracy_level=0, clip=True), dict.fromkeys(_EIGHT_BIT_KINDS, _integer(count))
        )
        for count in (0, 8, 16)
    },
}
"""Recipe name → recipe; the first of each pair of names is what ``quantization=`` builds on a CPU with VNNI."""


class _Runner:
    """The float32 engine of ``model``, whose session is swapped for each recipe's graph."""

    def __init__(self, model: str) -> None:
        self.embedder = Embedder(model=model)
        self.model = self.embedder.runtime._model
        self.float_session = self.model._session

    def run(self, session: Any, texts: list[str]) -> tuple[np.ndarray, float]:
        self.model._session = session
        start = time.perf_counter()
        vectors = self.model.encode(texts, max_seq_length=2048, batch_size=32, show_progress=False)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True), time.perf_counter() - start


def _session(path: Path) -> Any:
    import onnxruntime as ort

    from embeddinggemma._threads import threads

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads(), 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def measure(model: str, names: list[str], short: list[str], passages: list[str]) -> list[dict[str, Any]]:
    runner = _Runner(model)
    corpora = {
        "short": runner.embedder.prompt(short, "document"),
        "passages": runner.embedder.prompt(passages, "document"),
    }
    runner.run(runner.float_session, corpora["short"][:8])  # warm-up
    reference = {name: runner.run(runner.float_session, texts) for name, texts in corpora.items()}
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in names:
            target = Path(scratch) / f"recipe{len(rows)}.onnx"
            started = time.perf_counter()
            quantize_graph_nbits(
                Path(runner.model.artifact),
                target,
                model_folder=Path(model),
                data_name=target.name + ".data",
                recipe=VARIANTS[name],
            )
            row: dict[str, Any] = {
                "recipe": name,
                "build_s": time.perf_counter() - started,
                "weights_mb": target.with_name(target.name + ".data").stat().st_size / 1e6,
            }
            session = _session(target)
            runner.run(session, corpora["short"][:8])
            for corpus, texts in corpora.items():
                vectors, seconds = runner.run(session, texts)
                cosines = (vectors * reference[corpus][0]).sum(1)
                row[corpus] = {
                    "min": float(cosines.min()),
                    "mean": float(cosines.mean()),
                    "speed": reference[corpus][1] / seconds,
                }
            rows.append(row)
            del session
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser, eval_data=True)
    parser.add_argument("--recipes", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--short", type=int, default=300, help="STSBenchmark sentences (default 300)")
    parser.add_argument("--passages", type=int, default=24, help="passages (default 24)")
    parser.add_argument("--passage-tokens", type=int, default=450, help="tokens per passage (default 450)")
    args = parser.parse_args(argv)
    sts_file = eval_dir(args.eval_dir) / "stsbenchmark" / "pairs.tsv"
    count = Embedder(model=args.model).runtime.count_tokens
    short = distinct_sentences(sts_file)[: args.short]
    passages, _ = build_corpus(lambda text: count([text])[0], args.passages, sts_file, args.passage_tokens)
    exact = integer_gemm_is_exact()
    print(f"{machine_summary()}\ninteger GEMM exact on this CPU: {exact}")
    print(f"{len(short)} short sentences, {len(passages)} passages of about {args.passage_tokens} tokens")
    rows = measure(args.model, args.recipes, short, passages)
    print(
        "\n| recipe | short: min / mean cosine | × float32 | passages: min / mean cosine | × float32 | weights (MB) |"
    )
    print("|---|---|---|---|---|---|")
    for row in rows:
        s, p = row["short"], row["passages"]
        print(
            f"| {row['recipe']} | {s['min']:.5f} / {s['mean']:.5f} | {s['speed']:.2f}× | "
            f"{p['min']:.5f} / {p['mean']:.5f} | {p['speed']:.2f}× | {row['weights_mb']:.0f} |"
        )
    write_json(args.json, {**report_header(), "integer_gemm_exact": exact, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
