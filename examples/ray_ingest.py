"""Embed a folder of documents on Ray and write the index that a RAG app then loads without re-embedding.

The documents are read and chunked exactly as the app reads and chunks them (same files, titles, token-
exact chunks); the chunks are embedded by a pool of Ray actors (``embeddinggemma.ray``, the same prompts,
titles and checks as in-process); the vectors, in chunk order, are written in the app's own index format
with its manifest. ``langchain_rag.py`` / ``llama_index_rag.py`` with the same ``--docs``, ``--index-dir``
and embedding options then reuse the index as their own.

Run:  pip install "embeddinggemma[examples,ray]"
      python examples/ray_ingest.py --app langchain_rag --index-dir ./index --actors 2
      python examples/langchain_rag.py --index-dir ./index --retrieval-only -q "What is Matryoshka learning?"
      python examples/ray_ingest.py --ray-address auto ...      # an existing cluster instead of a local one
"""

from __future__ import annotations

import argparse

from rag_corpus import fingerprint, load_corpus
from rag_index import clear_index, index_settings, write_manifest
from rag_options import parse_args
from rag_output import run

APPS = ("langchain_rag", "llama_index_rag")


def _ray_options(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--app", choices=APPS, required=True, help="the app whose index format to write")
    add("--actors", type=int, default=1, help="embedding actors (default: 1)")
    add("--cpus-per-actor", type=float, default=1, help="CPUs (and threads) per actor (default: 1)")
    add("--gpus-per-actor", type=float, default=0, help="GPUs per actor (default: 0)")
    add("--batch-size", type=int, default=32, help="chunks per Ray batch (default: 32)")
    add("--ray-address", help="an existing Ray cluster ('auto'); default: start a local one")
    add("--skip-bad-rows", action="store_true", help="report unembeddable chunks and go on (default: stop)")


def main(argv: list[str] | None = None) -> int:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--app", choices=APPS)
    app = pre.parse_known_args(argv)[0].app or APPS[0]  # the app's own default --index-dir
    args = parse_args(app, __doc__.splitlines()[0], argv, more=_ray_options)
    if args.actors < 1 or args.batch_size < 1:
        raise SystemExit("error: --actors and --batch-size must be at least 1")

    import ray

    import embeddinggemma.ray as ray_embedding  # the public Ray module (extra [ray])

    corpus = load_corpus(args.docs, follow_links=args.follow_links)
    options = args.embedding
    chunks, texts, titles, embedding_model, splitter = _chunks(args, options, corpus)
    rows = [{"id": i, "text": text, "title": title} for i, (text, title) in enumerate(zip(texts, titles, strict=True))]

    ray.init(address=args.ray_address, include_dashboard=False, configure_logging=False, log_to_driver=False)
    try:
        # Every actor gets the same settings; a cache folder is shared (a path, not this process's object).
        actor_settings = {**options, "cache": None if args.cache_dir is None else str(args.cache_dir)}
        dataset = ray_embedding.embed_dataset(
            ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows) // args.batch_size, 64))),
            actor_settings,
            title_column="title",
            on_bad_row="skip" if args.skip_bad_rows else "error",
            actors=args.actors,
            cpus_per_actor=args.cpus_per_actor,
            gpus_per_actor=args.gpus_per_actor,
            batch_size=args.batch_size,
        ).materialize()
        report = ray_embedding.summarize(dataset)
        embedded = sorted(dataset.take_all(), key=lambda row: row["id"])  # Ray keeps no order: ids do
    finally:
        ray.shutdown()
    if report.skipped:
        print(f"ray: skipped {len(report.skipped)} chunk(s): {dict(list(report.skipped.items())[:10])}")
    if report.truncated:
        print(f"ray: {len(report.truncated)} chunk(s) were longer than max_seq_length and cut: {report.truncated[:10]}")
    kept = [row for row in embedded if not row["error"]]
    vectors = ray_embedding.vectors_of(kept)
    settings = index_settings(embedding_model, splitter, args.index)
    clear_index(args.index_dir, args.app)
    written = _write(args, embedding_model, [row["id"] for row in kept], vectors, chunks)
    write_manifest(args.index_dir, args.app, settings, fingerprint(corpus), chunks=len(kept), index=written)
    print(
        f"index: {len(kept)} chunks from {len(corpus)} documents embedded on Ray "
        f"({args.actors} actor(s)) and saved in {args.index_dir} for {args.app}.py"
    )
    return 0


def _chunks(args: argparse.Namespace, options: dict, corpus: list) -> tuple[list, list, list, object, object]:
    """The app's own chunks (LangChain documents or LlamaIndex nodes), the texts and titles its adapter
    embeds, its embedding object and its splitter."""
    if args.app == "langchain_rag":
        from langchain_core.documents import Document

        from langchain_embeddinggemma import EmbeddingGemmaEmbeddings, EmbeddingGemmaTextSplitter

        embeddings = EmbeddingGemmaEmbeddings(**options)
        splitter = EmbeddingGemmaTextSplitter.from_embeddings(embeddings, **args.chunking)
        docs = [Document(doc.text, metadata={"source": doc.source, "title": doc.title}) for doc in corpus]
        chunks = splitter.split_documents(docs)
        return chunks, [c.page_content for c in chunks], [c.metadata["title"] for c in chunks], embeddings, splitter

    from llama_index.core.schema import MetadataMode
    from rag_llama_index_store import to_documents

    from llama_index_embeddinggemma import EmbeddingGemmaEmbedding, EmbeddingGemmaNodeParser

    embed_model = EmbeddingGemmaEmbedding(**options)
    parser = EmbeddingGemmaNodeParser.from_embedding(embed_model, **args.chunking)
    nodes = parser.get_nodes_from_documents(to_documents(corpus))
    texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]  # what the adapter embeds
    return nodes, texts, [n.metadata.get(embed_model.title_key) for n in nodes], embed_model, parser


def _write(args: argparse.Namespace, embedding_model: object, ids: list[int], vectors, chunks: list) -> dict:
    """Write the app's index; returns its description for the manifest."""
    from embeddinggemma.vector_index import describe

    if args.app == "langchain_rag":
        from rag_langchain_store import build_store, index_of, save_store

        pairs = [(chunks[i].page_content, vector.tolist()) for i, vector in zip(ids, vectors, strict=True)]
        store = build_store(pairs, [chunks[i].metadata for i in ids], embedding_model, args.index, args.top_k)
        save_store(store, args.index_dir)
        return describe(index_of(store))
    from rag_llama_index_store import build_index, persist_index, vectors_of

    nodes = [chunks[i] for i in ids]
    for node, vector in zip(nodes, vectors, strict=True):
        node.embedding = vector.tolist()
    index = build_index(nodes, embedding_model, args.index)
    persist_index(index, args.index_dir)
    return describe(vectors_of(index))


if __name__ == "__main__":
    run(main)
