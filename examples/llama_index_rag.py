"""Retrieval-augmented generation with LlamaIndex, EmbeddingGemma and a local LLM (Ollama, or any
OpenAI-compatible chat server).

Read a folder of .md/.txt files into ``Document`` objects, split them into nodes of EmbeddingGemma
tokens and embed each node with its document's title in an ``IngestionPipeline``, store the vectors in
a ``FaissVectorStore`` (inner product of unit vectors = cosine similarity) inside a ``StorageContext``,
persist it (JSON and FAISS's own format: nothing is pickled), and answer questions with a query engine
over the LLM, printing the source nodes with their scores, streaming the answer, and saying which of its
citations name retrieved nodes. A re-run reloads the persisted index unless the documents or the
embedding settings changed.

Run:  pip install "embeddinggemma[examples]"
      ollama serve & ollama pull gemma3:1b          # the LLM; --retrieval-only works without it
      python examples/llama_index_rag.py -q "What does Matryoshka learning give me?"
      python examples/llama_index_rag.py --llm-url http://127.0.0.1:8080/v1   # llama-server, LM Studio, vLLM
      python examples/llama_index_rag.py --help     # docs folder, top-k, dimensions, backend, LLM, ...
"""

from __future__ import annotations

import sys

from rag_corpus import fingerprint, load_corpus
from rag_index import check_loaded, clear_index, index_damaged, index_settings, plan_index, write_manifest
from rag_llama_index_store import build_index, load_index, persist_index, retriever_of, to_documents, vectors_of
from rag_llm import citations_line, llama_index_llm, llm_hint, served_model
from rag_options import cache_line, parse_args
from rag_output import Passage, print_passages, run

APP = "llama_index_rag"

QA_PROMPT = (
    "Context passages, each starting with its source file:\n"
    "---------------------\n"
    "{context_str}\n"
    "---------------------\n"
    "Answer the question using only these passages and cite the source of every claim in square "
    "brackets. If the passages do not contain the answer, say so.\n"
    "Question: {query_str}\n"
    "Answer: "
)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(APP, __doc__.splitlines()[0], argv)

    from llama_index.core import PromptTemplate
    from llama_index.core.ingestion import IngestionPipeline
    from llama_index.core.query_engine import RetrieverQueryEngine
    from llama_index.core.schema import QueryBundle

    from embeddinggemma.vector_index import describe
    from llama_index_embeddinggemma import EmbeddingGemmaEmbedding, EmbeddingGemmaNodeParser

    # 1. The embedding model: nodes get the document prompt with their title, queries the query prompt.
    embed_model = EmbeddingGemmaEmbedding(**args.embedding)
    # Nodes counted in EmbeddingGemma tokens with the prompt and title: none is ever truncated.
    splitter = EmbeddingGemmaNodeParser.from_embedding(embed_model, **args.chunking)

    # 2. The index: reload the persisted one if this app wrote it from the same documents and settings.
    corpus = load_corpus(args.docs, follow_links=args.follow_links)
    documents = fingerprint(corpus)
    settings = index_settings(embed_model, splitter, args.index)
    plan = plan_index(args.index_dir, APP, settings, documents, rebuild=args.rebuild)
    print(f"index: {plan.reason}")
    if plan.reuse:
        # JSON stores and FAISS's own file format: LlamaIndex unpickles nothing here.
        try:
            index = load_index(args.index_dir, embed_model, args.index)
        except (RuntimeError, ValueError, KeyError, TypeError, OSError) as error:  # malformed files
            raise index_damaged(args.index_dir, error) from None
        check_loaded(args.index_dir, APP, describe(vectors_of(index)))
    else:
        docs = to_documents(corpus)
        # The same model with a progress bar, for the one long job; each node gets its title in the prompt.
        indexing = EmbeddingGemmaEmbedding(**args.embedding, show_progress=True)
        nodes = IngestionPipeline(transformations=[splitter, indexing]).run(documents=docs)
        index = build_index(nodes, embed_model, args.index)  # the nodes carry their vectors already
        clear_index(args.index_dir, APP)
        persist_index(index, args.index_dir)
        write_manifest(args.index_dir, APP, settings, documents, chunks=len(nodes), index=describe(vectors_of(index)))
        print(cache_line(args, len(nodes)))
        print(f"index: {len(nodes)} chunks from {len(corpus)} documents saved in {args.index_dir}")

    # 3. Retrieval, and the LLM that writes an answer from the retrieved nodes.
    retriever = retriever_of(index, embed_model, args.top_k)
    model = served_model(args)
    llm = llama_index_llm(args, model)  # Ollama, or any OpenAI-compatible server (--llm-url)

    # 4. Ask.
    for question in args.questions:
        source_nodes = retriever.retrieve(question)
        show(question, source_nodes)
        if args.retrieval_only:
            continue
        try:
            # Building the query engine asks Ollama for the LLM's context window: it belongs in the try.
            query_engine = RetrieverQueryEngine.from_args(
                retriever, llm=llm, streaming=True, text_qa_template=PromptTemplate(QA_PROMPT)
            )
            response = query_engine.synthesize(QueryBundle(question), source_nodes)
            print(f"\nanswer ({model}):")
            answer = ""
            for token in response.response_gen:
                answer += token
                print(token, end="", flush=True)
            print()
            print(citations_line(answer, [n.node.metadata["source"] for n in source_nodes]))
        except Exception as error:  # noqa: BLE001 - only the LLM server's failures are handled; others re-raise
            hint = llm_hint(error, args, model)
            if hint is None:
                raise
            print(f"\n{hint}", file=sys.stderr)
            return 1
    return 0


def show(question: str, source_nodes: list) -> None:
    """Print the source nodes with their scores."""
    passages = [
        Passage(n.node.metadata["source"], n.node.metadata["title"], n.score or 0.0, n.node.get_content())
        for n in source_nodes
    ]
    print_passages(question, passages)


if __name__ == "__main__":
    run(main)
