"""Non-Latin text through every path: token counts and the truncation report for CJK and right-to-left text,
titles in other scripts, and both adapters' vectors against sentence-transformers on them."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import REAL_MODEL

from embeddinggemma import Embedder, TruncationWarning

TEXTS = {
    "ja": "東京は日本の首都で、人口は約一千四百万人です。大阪は西にあります。",
    "zh": "向量检索把文本变成向量，再用余弦相似度找到最相近的段落。",
    "ko": "임베딩 모델은 문장을 벡터로 바꾸어 의미가 비슷한 문서를 찾습니다.",
    "ar": "يحوّل نموذج التضمين النص إلى متجه، ثم يبحث عن أقرب المقاطع بالتشابه الجيبي.",
    "he": "מודל הטמעה ממיר טקסט לווקטור ומחפש את הקטעים הקרובים ביותר.",
    "th": "แบบจำลองฝังตัวแปลงข้อความเป็นเวกเตอร์เพื่อค้นหาเอกสารที่คล้ายกัน",
    "de": "Das Modell wandelt Texte in Vektoren um und findet ähnliche Absätze.",
    "mixed": "RAG 検索 بحث поиск search 🔎 (v2) – ½",
}
TITLES = {"ja": "東京", "ar": "التضمين", "he": "הטמעה", "ko": "임베딩", "de": "Überblick"}


def _hf_counts(model: str, prompted: list[str]) -> list[int]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    return [len(ids) for ids in tokenizer(prompted)["input_ids"]]


def _check_counts_and_report(model: str) -> None:
    embedder = Embedder(model=model, max_seq_length=24)
    texts, titles = list(TEXTS.values()), [TITLES.get(lang) for lang in TEXTS]
    prompted = embedder.prompt(texts, "document", titles)
    for lang, text in zip(TEXTS, prompted, strict=True):
        if lang in TITLES:
            assert text.startswith(f"title: {TITLES[lang]} | text: ")
    expected = _hf_counts(model, prompted)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TruncationWarning)
        vectors, report = embedder.embed_with_report(texts, titles=titles)
    assert list(report.token_counts) == expected
    assert list(report.truncated) == [i for i, n in enumerate(expected) if n > 24]
    assert report.truncated, "the texts are longer than 24 tokens: the report must name them"
    [warning] = [w for w in caught if issubclass(w.category, TruncationWarning)]
    assert f"longest: {max(expected)} tokens" in str(warning.message)
    assert vectors.shape == (len(texts), 768) and np.isfinite(vectors).all()


def test_token_counts_and_truncation_report_for_cjk_and_right_to_left_text(tiny_model):
    _check_counts_and_report(tiny_model)


@pytest.mark.real_model
def test_real_model_token_counts_and_truncation_report_for_cjk_and_right_to_left_text():
    _check_counts_and_report(REAL_MODEL)


@pytest.mark.real_model
def test_real_model_both_adapters_match_sentence_transformers_in_other_scripts():
    from sentence_transformers import SentenceTransformer

    from langchain_embeddinggemma import EmbeddingGemmaEmbeddings
    from llama_index_embeddinggemma import EmbeddingGemmaEmbedding

    langs = list(TEXTS)
    texts, titles = [TEXTS[lang] for lang in langs], [TITLES.get(lang) for lang in langs]
    reference_model = SentenceTransformer(REAL_MODEL, device="cpu")
    prompted = Embedder(model=REAL_MODEL).prompt(texts, "document", titles)
    reference = reference_model.encode(prompted, prompt="", normalize_embeddings=True)
    queries = reference_model.encode_query(texts, normalize_embeddings=True)
    langchain = EmbeddingGemmaEmbeddings(model=REAL_MODEL)
    llama_index = EmbeddingGemmaEmbedding(model_name=REAL_MODEL)
    documents = np.array(langchain.embed_documents(texts, titles=titles))
    assert (documents * reference).sum(1).min() >= 0.99999
    from llama_index.core.schema import TextNode

    nodes = [
        TextNode(text=t, metadata={"title": title} if title else {}) for t, title in zip(texts, titles, strict=True)
    ]
    for node in nodes:
        node.excluded_embed_metadata_keys = ["title"]
    embedded = np.array([n.embedding for n in llama_index(nodes)])
    assert (embedded * reference).sum(1).min() >= 0.99999
    asked = np.array([langchain.embed_query(t) for t in texts])
    assert (asked * queries).sum(1).min() >= 0.99999
