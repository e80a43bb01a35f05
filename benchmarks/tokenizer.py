"""The torch-free tokenizer against the libraries it stands in for: memory, load time and speed, each in its
own process, and whether every text gets the same ids.

Implementations:

- ``ours``: ``embeddinggemma._tokenizer.Tokenizer`` (SentencePiece reads ``tokenizer.model``; its BPE runs on
  the compact tables of ``_bpe``);
- ``sentencepiece``: ``SentencePieceProcessor`` on ``tokenizer.model``, one text at a time and as one batch
  call on every usable core (what ours ran before the compact tables);
- ``tokenizers``: ``tokenizers.Tokenizer`` on ``tokenizer.json`` (what ``AutoTokenizer`` runs).

Corpora: the distinct STSBenchmark sentences (short) and the prose of ``examples/sample_docs`` cut into
passages of ~2,000 characters (long). Per implementation: RSS growth from loading (after the imports),
the peak while loading, load seconds, and tokens/s on each corpus: on the first pass (new texts) and
on passes again over the same texts (where ours' memo of words already holds them). The library ids are compared to ours
on the text alone (SentencePiece adds no ``<bos>``/``<eos>``; ``tokenizers`` does: cut off). Run from the
repository root:

    python -m benchmarks.tokenizer --model "$EMBEDDINGGEMMA_MODEL" --json tokenizer.json
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

from benchmarks._harness import (
    SAMPLE_DOCS,
    add_common_arguments,
    add_worker_arguments,
    distinct_sentences,
    eval_dir,
    machine_summary,
    memory_mb,
    read_documents,
    report_header,
    run_worker,
    usable_cores,
    write_json,
    write_worker_result,
)
from embeddinggemma._model_files import resolve_model_dir

IMPLEMENTATIONS = ("ours", "sentencepiece", "sentencepiece batch", "tokenizers")
PASSAGE_CHARS = 2000


def corpora(eval_folder: Path, short: int) -> dict[str, list[str]]:
    pairs = eval_folder / "stsbenchmark" / "pairs.tsv"
    sentences = distinct_sentences(pairs)[:short]
    if not sentences:
        raise SystemExit(f"no STSBenchmark sentences in {pairs}: pass --eval-dir (the folder of the STS sets)")
    prose = "\n\n".join(document.text for document in read_documents(SAMPLE_DOCS))
    passages = [prose[i : i + PASSAGE_CHARS] for i in range(0, len(prose), PASSAGE_CHARS)]
    return {"short": sentences, "long": passages}


def _loader(name: str, folder: Path) -> Any:
    """A function from texts to the ids of the text alone, for implementation ``name``."""
    if name == "ours":
        from embeddinggemma._tokenizer import Tokenizer

        tokenizer = Tokenizer(folder)
        return lambda texts: [ids[1:-1] for ids in tokenizer.encode(texts, 1 << 30)]
    if name.startswith("sentencepiece"):
        import sentencepiece

        processor = sentencepiece.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
        if name == "sentencepiece batch":
            cores = usable_cores()
            return lambda texts: processor.encode(texts, out_type=int, num_threads=cores)
        return lambda texts: [processor.encode(text, out_type=int) for text in texts]
    from tokenizers import Tokenizer as FastTokenizer

    fast = FastTokenizer.from_file(str(folder / "tokenizer.json"))
    return lambda texts: [encoding.ids[1:-1] for encoding in fast.encode_batch(texts)]


def measure(name: str, folder: Path, texts: dict[str, list[str]], seconds: float) -> dict[str, Any]:
    if name == "ours" or name.startswith("sentencepiece"):
        import sentencepiece  # noqa: F401  (imports are not the tokenizer's memory)
    if name == "ours":
        import embeddinggemma._tokenizer  # noqa: F401
    else:
        import tokenizers  # noqa: F401
    before = memory_mb()
    started = time.perf_counter()
    encode = _loader(name, folder)
    loaded = time.perf_counter() - started
    after = memory_mb()
    result: dict[str, Any] = {
        "implementation": name,
        "load_s": loaded,
        "rss_growth_mb": after["VmRSS"] - before["VmRSS"],
        "load_peak_growth_mb": after["VmHWM"] - before["VmRSS"],
    }
    for corpus, batch in texts.items():
        started = time.perf_counter()
        ids = encode(batch)  # new texts: ours' memo of words starts empty
        result[f"{corpus}_first_tokens_per_s"] = sum(map(len, ids)) / (time.perf_counter() - started)
        rounds, started = 0, time.perf_counter()
        while rounds == 0 or time.perf_counter() - started < seconds:
            encode(batch)
            rounds += 1
        elapsed = (time.perf_counter() - started) / rounds
        result[f"{corpus}_tokens_per_s"] = sum(map(len, ids)) / elapsed
        result[f"{corpus}_ids"] = ids
    return result


def _speeds(row: dict[str, Any], corpus: str) -> str:
    return f"{row[f'{corpus}_first_tokens_per_s']:,.0f} / {row[f'{corpus}_tokens_per_s']:,.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser, eval_data=True)
    add_worker_arguments(parser)
    parser.add_argument("--implementations", nargs="+", choices=IMPLEMENTATIONS, default=list(IMPLEMENTATIONS))
    parser.add_argument("--short", type=int, default=2000, help="STSBenchmark sentences (default 2,000)")
    parser.add_argument("--seconds", type=float, default=2.0, help="time per implementation and corpus")
    parser.add_argument("--implementation", choices=IMPLEMENTATIONS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    folder = Path(resolve_model_dir(args.model))
    texts = corpora(eval_dir(args.eval_dir), args.short)
    if args.worker:
        return write_worker_result(args.out, lambda: measure(args.implementation, folder, texts, args.seconds))

    print(f"{machine_summary()}\n{len(texts['short'])} short texts, {len(texts['long'])} passages")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.implementations:
            common = ["--model", str(folder), "--short", str(args.short), "--seconds", str(args.seconds)]
            if args.eval_dir:
                common += ["--eval-dir", str(args.eval_dir)]
            out = Path(scratch) / f"{name.replace(' ', '_')}.json"
            rows.append(run_worker(__file__, [*common, "--implementation", name], out, label=name))
    ours = next((row for row in rows if row.get("implementation") == "ours"), {})
    reference = {corpus: ours.get(f"{corpus}_ids") for corpus in texts}
    for row in rows:
        for corpus in texts:
            ids = row.pop(f"{corpus}_ids", None)
            if row is not ours and ids is not None and reference[corpus] is not None:
                row[f"{corpus}_same_ids"] = ids == reference[corpus]
    print(
        "\n| implementation | RSS growth (MB) | load peak growth (MB) | load (s) | short tokens/s, first / again "
        "| long tokens/s, first / again | same ids as ours |\n|---|---|---|---|---|---|---|"
    )
    for row in rows:
        if "error" in row:
            print(f"| {row.get('implementation', '?')} | failed: {row['error'][:120]} |")
            continue
        same = "—" if row["implementation"] == "ours" else str(all(row.get(f"{c}_same_ids") for c in texts))
        print(
            f"| {row['implementation']} | {row['rss_growth_mb']:.1f} | {row['load_peak_growth_mb']:.1f} "
            f"| {row['load_s']:.2f} | {_speeds(row, 'short')} | {_speeds(row, 'long')} | {same} |"
        )
    write_json(args.json, {**report_header(), "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
