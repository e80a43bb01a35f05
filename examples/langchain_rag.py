"""Retrieval-augmented generation with LangChain, EmbeddingGemma and a local LLM (Ollama, or any
OpenAI-compatible chat server).

Load a folder of .md/.txt files, split them, embed each chunk with its document's title, index the
vectors in FAISS (inner product of unit vectors = cosine similarity), save the index, and answer
questions with an LCEL chain ``retriever | prompt | chat model | StrOutputParser`` that cites its
sources, streaming the answer, then say which citations name retrieved passages. A re-run reuses the
saved index unless the documents or the embedding settings changed. The index is saved as FAISS's own
file plus JSON, never as a pickle, so loading it cannot run code.

Run:  pip install "embeddinggemma[examples]"
      ollama serve & ollama pull gemma3:1b          # the LLM; --retrieval-only works without it
      python examples/langchain_rag.py -q "What does Matryoshka learning give me?"
      python examples/langchain_rag.py --llm-url http://127.0.0.1:8080/v1   # llama-server, LM Studio, vLLM, ...
      python examples/langchain_rag.py --help       # docs folder, top-k, dimensions, backend, LLM, ...
"""

from __future__ import annotations

import sys

from rag_corpus import fingerprint, load_corpus
from rag_index import check_loaded, clear_index, index_settings, plan_index, write_manifest
from rag_langchain_store import build_store, index_of, load_store, save_store, search
from rag_llm import citations_line, langchain_chat_model, llm_hint, served_model
from rag_options import cache_line, parse_args
from rag_output import Passage, print_passages, run

APP = "langchain_rag"

PROMPT_MESSAGES = [
    (
        "system",
        "Answer the question using only the context passages. Each passage starts with its source file "
        "in square brackets; cite the source of every claim the same way. If the context does not "
        "contain the answer, say so.",
    ),
    ("human", "Context:\n\n{context}\n\nQuestion: {question}"),
]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(APP, __doc__.splitlines()[0], argv)

    from langchain_core.documents import Document
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.runnables import RunnableLambda, RunnableParallel, RunnablePassthrough

    from embeddinggemma.vector_index import describe
    from langchain_embeddinggemma import EmbeddingGemmaEmbeddings, EmbeddingGemmaTextSplitter

    # 1. The embedding model: documents get the document prompt with their title, queries the query prompt.
    embeddings = EmbeddingGemmaEmbeddings(**args.embedding)
    # Chunks counted in EmbeddingGemma tokens with the prompt and title: none is ever truncated.
    splitter = EmbeddingGemmaTextSplitter.from_embeddings(embeddings, **args.chunking)

    # 2. The index: reuse the saved one if this app wrote it from the same documents and settings.
    corpus = load_corpus(args.docs, follow_links=args.follow_links)
    documents = fingerprint(corpus)
    settings = index_settings(embeddings, splitter, args.index)
    plan = plan_index(args.index_dir, APP, settings, documents, rebuild=args.rebuild)
    print(f"index: {plan.reason}")
    if plan.reuse:
        store = load_store(args.index_dir, embeddings, args.index, args.top_k)  # FAISS's formats and JSON: no pickle
        check_loaded(args.index_dir, APP, describe(index_of(store)))
    else:
        docs = [Document(doc.text, metadata={"source": doc.source, "title": doc.title}) for doc in corpus]
        chunks = splitter.split_documents(docs)
        # The same model with a progress bar, for the one long job; each chunk gets its title in the prompt.
        indexing = EmbeddingGemmaEmbeddings(**args.embedding, show_progress=True)
        pairs = indexing.embed_documents_with_titles(chunks)
        # LangChain's FAISS store over a float32, float16 or int8 FAISS index; binary: the package's retriever.
        store = build_store(pairs, [c.metadata for c in chunks], embeddings, args.index, args.top_k)
        clear_index(args.index_dir, APP)
        save_store(store, args.index_dir)  # not store.save_local: that writes a pickle
        write_manifest(args.index_dir, APP, settings, documents, chunks=len(chunks), index=describe(index_of(store)))
        print(cache_line(args, len(chunks)))
        print(f"index: {len(chunks)} chunks from {len(corpus)} documents saved in {args.index_dir}")

    # 3. The chain: the retriever's passages (with scores) and the streamed answer come out together.
    def retrieve(question: str) -> list[Document]:
        return search(store, question, args.top_k)

    def format_context(docs: list[Document]) -> str:
        return "\n\n".join(f"[{d.metadata['source']}] {d.metadata['title']}\n{d.page_content}" for d in docs)

    retriever = RunnableLambda(retrieve, name="retriever")
    model = served_model(args)
    llm = langchain_chat_model(args, model)  # Ollama, or any OpenAI-compatible server (--llm-url)
    answer = (
        RunnablePassthrough.assign(context=lambda x: format_context(x["context"]))
        | ChatPromptTemplate.from_messages(PROMPT_MESSAGES)
        | llm
        | StrOutputParser()
    )
    rag_chain = RunnableParallel(context=retriever, question=RunnablePassthrough()).assign(answer=answer)

    # 4. Ask.
    for question in args.questions:
        if args.retrieval_only:
            show(question, retriever.invoke(question))
            continue
        answer, sources = "", []
        try:
            for chunk in rag_chain.stream(question):
                if "context" in chunk:
                    show(question, chunk["context"])
                    sources = [doc.metadata["source"] for doc in chunk["context"]]
                    print(f"\nanswer ({model}):")
                if "answer" in chunk:
                    answer += chunk["answer"]
                    print(chunk["answer"], end="", flush=True)
            print()
            print(citations_line(answer, sources))
        except Exception as error:  # noqa: BLE001 - only the LLM server's failures are handled; others re-raise
            hint = llm_hint(error, args, model)
            if hint is None:
                raise
            print(f"\n{hint}", file=sys.stderr)
            return 1
    return 0


def show(question: str, docs: list) -> None:
    """Print the retrieved chunks with their scores."""
    passages = [Passage(d.metadata["source"], d.metadata["title"], d.metadata["score"], d.page_content) for d in docs]
    print_passages(question, passages)


if __name__ == "__main__":
    run(main)
