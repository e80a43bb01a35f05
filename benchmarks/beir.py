"""Retrieval quality on a BEIR-format folder: each adapter indexes into FAISS through its framework's own
vector store and retrieves with the query embedding; plain sentence-transformers is the reference.

A BEIR folder holds ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl`` (``_id``, ``text``)
and ``qrels.tsv`` (or ``qrels/test.tsv``: ``query-id``, ``corpus-id``, ``score``; graded, 0 = not relevant).

A library of ``benchmarks.quality``, which runs it: ``python -m benchmarks.quality --beir FOLDER``.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from langchain_embeddinggemma import EmbeddingGemmaEmbeddings
    from llama_index_embeddinggemma import EmbeddingGemmaEmbedding

Rankings = dict[str, list[str]]
"""Query id → retrieved document ids, best first."""

DOCUMENT_PROMPT_WITH_TITLE = "title: {title} | text: "
"""The model card's document prompt; the reference fills it itself, independently of the package."""


@dataclass(frozen=True)
class BeirData:
    """A BEIR test collection: documents with titles, queries, and graded judgements."""

    corpus: dict[str, tuple[str, str]]
    """Document id → (title, text)."""
    queries: dict[str, str]
    """Query id → text, only the queries that have at least one relevant document."""
    qrels: dict[str, dict[str, int]]
    """Query id → {document id: grade}."""


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; a BEIR folder needs corpus.jsonl, queries.jsonl and qrels.tsv.")
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _qrels_path(folder: Path) -> Path:
    for candidate in (folder / "qrels.tsv", folder / "qrels" / "test.tsv"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{folder} has no qrels.tsv (or qrels/test.tsv) with query-id, corpus-id, score columns.")


def load_beir(folder: str | Path) -> BeirData:
    """Read a BEIR folder; queries without a relevant document are left out (they have no nDCG)."""
    folder = Path(folder)
    corpus = {str(row["_id"]): (row.get("title") or "", row["text"]) for row in _read_jsonl(folder / "corpus.jsonl")}
    all_queries = {str(row["_id"]): row["text"] for row in _read_jsonl(folder / "queries.jsonl")}
    qrels: dict[str, dict[str, int]] = {}
    with open(_qrels_path(folder), newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            qrels.setdefault(str(row["query-id"]), {})[str(row["corpus-id"])] = int(row["score"])
    unknown = sorted(set(qrels) - set(all_queries))
    if unknown:
        raise ValueError(f"qrels name queries that queries.jsonl lacks: {unknown[:5]}; is the folder complete?")
    judged = {qid: grades for qid, grades in qrels.items() if any(g > 0 for g in grades.values())}
    return BeirData(corpus, {qid: all_queries[qid] for qid in judged}, judged)


def ndcg_at_k(ranked: Sequence[str], grades: Mapping[str, int], k: int = 10) -> float:
    """nDCG@k with linear gains (trec_eval's ``ndcg_cut``, which BEIR and MTEB report)."""
    dcg = sum(grades.get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranked[:k]))
    ideal = sorted((g for g in grades.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(rank + 2) for rank, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked: Sequence[str], grades: Mapping[str, int], k: int = 10) -> float:
    """Share of the relevant documents (grade > 0) found in the top k."""
    relevant = {doc for doc, g in grades.items() if g > 0}
    return len(relevant.intersection(ranked[:k])) / len(relevant) if relevant else 0.0


def mean_metrics(rankings: Rankings, qrels: Mapping[str, Mapping[str, int]], k: int = 10) -> dict[str, float]:
    """Mean nDCG@k and Recall@k over the judged queries (a query with no ranking scores 0)."""
    ndcg = [ndcg_at_k(rankings.get(qid, []), grades, k) for qid, grades in qrels.items()]
    recall = [recall_at_k(rankings.get(qid, []), grades, k) for qid, grades in qrels.items()]
    return {f"ndcg@{k}": float(np.mean(ndcg)), f"recall@{k}": float(np.mean(recall))}


def _without_self(query_id: str, doc_ids: Sequence[str], k: int) -> list[str]:
    # BEIR and MTEB drop a hit whose id equals the query id (ArguAna-style corpora contain the query).
    return [doc for doc in doc_ids if doc != query_id][:k]


def _progress(items: Sequence[str], desc: str, enabled: bool) -> Sequence[str]:
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="query", disable=not enabled)


def rank_with_langchain(
    embeddings: EmbeddingGemmaEmbeddings, data: BeirData, k: int = 10, progress: bool = False
) -> Rankings:
    """Index into ``langchain_community``'s FAISS store (inner product) and search with each query."""
    from langchain_community.vectorstores import FAISS
    from langchain_community.vectorstores.utils import DistanceStrategy
    from langchain_core.documents import Document

    documents = [
        Document(page_content=text, metadata={"title": title}, id=i) for i, (title, text) in data.corpus.items()
    ]
    store = FAISS.from_embeddings(
        embeddings.embed_documents_with_titles(documents),
        embeddings,
        metadatas=[doc.metadata for doc in documents],
        ids=list(data.corpus),
        distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT,
    )
    rankings: Rankings = {}
    for qid in _progress(list(data.queries), "langchain", progress):
        hits = store.similarity_search_with_score(data.queries[qid], k=k + 1)
        rankings[qid] = _without_self(qid, [doc.id for doc, _ in hits], k)
    return rankings


def rank_with_llama_index(
    embed_model: EmbeddingGemmaEmbedding, data: BeirData, k: int = 10, progress: bool = False
) -> Rankings:
    """Embed nodes (titles in the prompt) through an ingestion pipeline, index them in a
    ``FaissVectorStore`` (inner product) and retrieve with each query."""
    import faiss
    from llama_index.core import StorageContext, VectorStoreIndex
    from llama_index.core.ingestion import IngestionPipeline
    from llama_index.core.schema import TextNode
    from llama_index.vector_stores.faiss import FaissVectorStore

    nodes = [
        TextNode(
            id_=doc_id,
            text=text,
            metadata={"title": title},
            # The title goes into EmbeddingGemma's document prompt, not into the embedded text.
            excluded_embed_metadata_keys=["title"],
            excluded_llm_metadata_keys=["title"],
        )
        for doc_id, (title, text) in data.corpus.items()
    ]
    nodes = IngestionPipeline(transformations=[embed_model]).run(nodes=nodes)
    store = FaissVectorStore(faiss_index=faiss.IndexFlatIP(embed_model.dimensions))
    index = VectorStoreIndex(
        nodes, storage_context=StorageContext.from_defaults(vector_store=store), embed_model=embed_model
    )
    retriever = index.as_retriever(similarity_top_k=k + 1)
    rankings: Rankings = {}
    for qid in _progress(list(data.queries), "llama_index", progress):
        hits = retriever.retrieve(data.queries[qid])
        rankings[qid] = _without_self(qid, [hit.node.node_id for hit in hits], k)
    return rankings


def rank_with_sentence_transformers(
    model: str,
    data: BeirData,
    k: int = 10,
    *,
    dimensions: int = 768,
    max_seq_length: int | None = None,
    device: str | None = None,
    dtype: str = "float32",
    batch_size: int = 32,
    progress: bool = False,
) -> Rankings:
    """The reference: ``SentenceTransformer.encode_query`` / ``encode_document`` and exact inner product.

    Documents without a title use the model's stored ``document`` prompt; titled ones get the model
    card's ``title: {title} | text: `` prompt through ``encode_document(prompt=...)``.
    """
    import torch
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(
        model, device=device, trust_remote_code=False, model_kwargs={"dtype": getattr(torch, dtype)}
    )
    if max_seq_length is not None:
        st.max_seq_length = max_seq_length
    options = dict(batch_size=batch_size, truncate_dim=dimensions, normalize_embeddings=True, convert_to_numpy=True)
    doc_ids = list(data.corpus)
    doc_vectors = np.zeros((len(doc_ids), dimensions), dtype=np.float32)
    by_title: dict[str, list[int]] = {}
    for row, doc_id in enumerate(doc_ids):
        by_title.setdefault(" ".join(data.corpus[doc_id][0].split()), []).append(row)
    for title, rows in by_title.items():
        texts = [data.corpus[doc_ids[row]][1] for row in rows]
        prompt = DOCUMENT_PROMPT_WITH_TITLE.format(title=title) if title else None
        doc_vectors[rows] = st.encode_document(texts, prompt=prompt, **options)
    query_ids = list(data.queries)
    query_vectors = st.encode_query([data.queries[q] for q in query_ids], show_progress_bar=progress, **options)
    rankings: Rankings = {}
    for start in range(0, len(query_ids), 256):
        scores = query_vectors[start : start + 256] @ doc_vectors.T
        top = np.argsort(-scores, axis=1, kind="stable")[:, : k + 1]
        for qid, rows in zip(query_ids[start : start + 256], top, strict=True):
            rankings[qid] = _without_self(qid, [doc_ids[row] for row in rows], k)
    return rankings
