"""Re-indexing a corpus after one document changed: with the vector cache and without it.

Through the LangChain adapter and splitter (the RAG app's path): the corpus (default: the sample docs)
is split into EmbeddingGemma chunks and embedded with titles once, to fill a fresh cache; then one
document is edited (a sentence appended) and the whole corpus is split and embedded again, once with
the cache and once without. Printed: chunks, texts that reached the model, seconds, and the ratio.

    python benchmarks/reindex.py --model "$EMBEDDINGGEMMA_MODEL"
    python benchmarks/reindex.py --model "$EMBEDDINGGEMMA_MODEL" --docs ~/notes --json reindex.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "examples"))  # the apps' corpus loader: the same files, titles and order

from rag_corpus import load_corpus  # noqa: E402

EDIT = "\n\nAn edited paragraph: this sentence was added after the index was built.\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=os.environ.get("EMBEDDINGGEMMA_MODEL", "google/embeddinggemma-300m"))
    parser.add_argument("--docs", type=Path, default=REPO / "examples" / "sample_docs")
    parser.add_argument("--chunk-size", type=int, default=512)
    parser.add_argument("--chunk-overlap", type=int, default=64)
    parser.add_argument("--json", type=Path, help="write the results, machine and date here")
    args = parser.parse_args(argv)

    from langchain_core.documents import Document

    from embeddinggemma import VectorCache
    from langchain_embeddinggemma import EmbeddingGemmaEmbeddings, EmbeddingGemmaTextSplitter

    work = Path(tempfile.mkdtemp(prefix="reindex-bench-"))
    try:
        docs = work / "docs"
        shutil.copytree(args.docs, docs)
        splitter = EmbeddingGemmaTextSplitter(
            tokenizer=args.model, chunk_size=args.chunk_size, chunk_overlap=args.chunk_overlap
        )

        def index(embeddings: EmbeddingGemmaEmbeddings) -> tuple[int, float]:
            started = time.perf_counter()
            corpus = load_corpus(docs)
            documents = [Document(d.text, metadata={"source": d.source, "title": d.title}) for d in corpus]
            chunks = splitter.split_documents(documents)
            embeddings.embed_documents_with_titles(chunks)
            return len(chunks), time.perf_counter() - started

        plain = EmbeddingGemmaEmbeddings(model=args.model)
        plain.embed_query("warm-up: load the model before timing")
        cache = VectorCache(work / "vectors")
        cached = EmbeddingGemmaEmbeddings(model=args.model, cache=cache)

        chunks, first_seconds = index(cached)  # fills the cache
        first_writes = cache.writes
        edited = sorted(docs.rglob("*.md"))[0]
        edited.write_text(edited.read_text(encoding="utf-8") + EDIT, encoding="utf-8")
        cache.writes = cache.hits = cache.misses = 0
        chunks_after, cached_seconds = index(cached)
        _, plain_seconds = index(plain)
        rows = [
            ("first index (fills the cache)", chunks, first_writes, first_seconds),
            (f"after editing {edited.name}, no cache", chunks_after, chunks_after, plain_seconds),
            (f"after editing {edited.name}, with the cache", chunks_after, cache.writes, cached_seconds),
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    when = f"{datetime.now(UTC):%Y-%m-%dT%H:%MZ}"
    print(f"{machine}, {when}; model {args.model}; chunk size {args.chunk_size}, overlap {args.chunk_overlap}")
    print("| run | chunks | texts embedded | seconds |")
    print("|---|---|---|---|")
    for name, total, embedded, seconds in rows:
        print(f"| {name} | {total} | {embedded} | {seconds:.2f} |")
    speedup = plain_seconds / cached_seconds
    print(f"re-index with the cache: {speedup:.1f}x faster; {rows[2][2]} of {chunks_after} chunks embedded")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
