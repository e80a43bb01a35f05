"""Re-indexing a corpus after one document changed: with the vector cache and without it.

Through the LangChain adapter and splitter (the RAG app's path): the corpus (default: the sample docs,
read as the RAG examples read a plain folder) is split into EmbeddingGemma chunks and embedded with titles
once, to fill a fresh cache; then one document is edited (a sentence appended) and the whole corpus is
split and embedded again, once with the cache and once without. Printed: chunks, texts that reached the
model, seconds, and the ratio. Run from the repository root (``python benchmarks/reindex.py`` works too):

    python -m benchmarks.reindex --model "$EMBEDDINGGEMMA_MODEL"
    python -m benchmarks.reindex --model "$EMBEDDINGGEMMA_MODEL" --docs ~/notes --json reindex.json
"""

from __future__ import annotations

if __name__ == "__main__" and not __package__:  # started by path: sys.path[0] is benchmarks/
    import _harness

    _harness.rerun_as_module(__file__)

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks._harness import (
    SAMPLE_DOCS,
    add_common_arguments,
    machine_summary,
    read_documents,
    report_header,
    write_json,
)

if TYPE_CHECKING:
    from langchain_embeddinggemma import EmbeddingGemmaEmbeddings, EmbeddingGemmaTextSplitter

EDIT = "\n\nAn edited paragraph: this sentence was added after the index was built.\n"


def index_folder(
    docs: Path, splitter: EmbeddingGemmaTextSplitter, embeddings: EmbeddingGemmaEmbeddings
) -> tuple[int, float]:
    """Read, split and embed (with titles) every document of ``docs``: the chunk count and the seconds."""
    from langchain_core.documents import Document

    started = time.perf_counter()
    documents = [Document(d.text, metadata={"source": d.source, "title": d.title}) for d in read_documents(docs)]
    chunks = splitter.split_documents(documents)
    embeddings.embed_documents_with_titles(chunks)
    return len(chunks), time.perf_counter() - started


def measure(model: str, source: Path, chunk_size: int, chunk_overlap: int) -> list[dict[str, Any]]:
    """A first index into a fresh cache, then one edit and a re-index without and with the cache."""
    from embeddinggemma import VectorCache
    from langchain_embeddinggemma import EmbeddingGemmaEmbeddings, EmbeddingGemmaTextSplitter

    work = Path(tempfile.mkdtemp(prefix="reindex-bench-"))
    try:
        docs = work / "docs"
        shutil.copytree(source, docs)
        splitter = EmbeddingGemmaTextSplitter(tokenizer=model, chunk_size=chunk_size, chunk_overlap=chunk_overlap)
        plain = EmbeddingGemmaEmbeddings(model=model)
        plain.embed_query("warm-up: load the model before timing")
        cache = VectorCache(work / "vectors")
        cached = EmbeddingGemmaEmbeddings(model=model, cache=cache)

        chunks, first_seconds = index_folder(docs, splitter, cached)  # fills the cache
        first_writes = cache.writes
        edited = sorted(docs.rglob("*.md"))[0]
        edited.write_text(edited.read_text(encoding="utf-8") + EDIT, encoding="utf-8")
        cache.writes = cache.hits = cache.misses = 0
        chunks_after, cached_seconds = index_folder(docs, splitter, cached)
        _, plain_seconds = index_folder(docs, splitter, plain)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return [
        {"run": "first index (fills the cache)", "chunks": chunks, "embedded": first_writes, "seconds": first_seconds},
        {
            "run": f"after editing {edited.name}, no cache",
            "chunks": chunks_after,
            "embedded": chunks_after,
            "seconds": plain_seconds,
        },
        {
            "run": f"after editing {edited.name}, with the cache",
            "chunks": chunks_after,
            "embedded": cache.writes,
            "seconds": cached_seconds,
        },
    ]


def print_table(rows: list[dict[str, Any]]) -> None:
    print("| run | chunks | texts embedded | seconds |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['run']} | {row['chunks']} | {row['embedded']} | {row['seconds']:.2f} |")
    plain, cached = rows[1], rows[2]
    print(
        f"re-index with the cache: {plain['seconds'] / cached['seconds']:.1f}x faster; "
        f"{cached['embedded']} of {cached['chunks']} chunks embedded"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--docs", type=Path, default=SAMPLE_DOCS, help="folder of .md/.txt files (the sample docs)")
    parser.add_argument("--chunk-size", type=int, default=512)
    parser.add_argument("--chunk-overlap", type=int, default=64)
    args = parser.parse_args(argv)

    header = report_header()
    rows = measure(args.model, args.docs, args.chunk_size, args.chunk_overlap)
    print(
        f"{machine_summary(header['machine'])}; model {args.model}; chunk size {args.chunk_size}, "
        f"overlap {args.chunk_overlap}"
    )
    print_table(rows)
    settings = {
        "model": args.model,
        "docs": str(args.docs),
        "chunk_size": args.chunk_size,
        "chunk_overlap": args.chunk_overlap,
    }
    write_json(args.json, {**header, "settings": settings, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
