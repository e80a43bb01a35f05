"""Embed the model card's example with both adapters and print query-document similarities.

Run:  python examples/quickstart.py            (hub id; the model is gated: log in first)
      EMBEDDINGGEMMA_MODEL=/path/to/folder python examples/quickstart.py
"""

from __future__ import annotations

import os

import numpy as np

from embeddinggemma import DEFAULT_MODEL, EmbeddingGemmaError

QUERY = "Which planet is known as the Red Planet?"
DOCUMENTS = [
    "Venus is often called Earth's twin because of its similar size and proximity.",
    "Mars, known for its reddish appearance, is often referred to as the Red Planet.",
    "Jupiter, the largest planet in our solar system, has a prominent red spot.",
    "Saturn, famous for its rings, is sometimes mistaken for the Red Planet.",
]


def main() -> None:
    model = os.environ.get("EMBEDDINGGEMMA_MODEL", DEFAULT_MODEL)
    from langchain_embeddinggemma import EmbeddingGemmaEmbeddings
    from llama_index_embeddinggemma import EmbeddingGemmaEmbedding

    langchain = EmbeddingGemmaEmbeddings(model=model)
    llama_index = EmbeddingGemmaEmbedding(model_name=model)
    scores = {
        "LangChain": np.array(langchain.embed_documents(DOCUMENTS)) @ np.array(langchain.embed_query(QUERY)),
        "LlamaIndex": np.array(llama_index.get_text_embedding_batch(DOCUMENTS))
        @ np.array(llama_index.get_query_embedding(QUERY)),
    }
    print(f"query: {QUERY}")
    for i, doc in enumerate(DOCUMENTS):
        print(f"  LangChain {scores['LangChain'][i]:.3f}  LlamaIndex {scores['LlamaIndex'][i]:.3f}  {doc}")
    best = int(np.argmax(scores["LangChain"]))
    print(f"best match: {DOCUMENTS[best]}")


if __name__ == "__main__":
    try:
        main()
    except EmbeddingGemmaError as error:
        raise SystemExit(f"error: {error}") from None
