"""Non-Latin texts and titles (CJK, right to left, Thai, mixed scripts), and the check of their token counts and
truncation report that the tiny and the real model share."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

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
    pytest.importorskip("transformers", reason="the reference counts are AutoTokenizer's (pip install -e '.[torch]')")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    return [len(ids) for ids in tokenizer(prompted)["input_ids"]]


def check_counts_and_report(model: str) -> None:
    """Token counts equal the Hugging Face tokenizer's, titles reach the prompt, and the truncation report names
    every text past 24 tokens and the longest count."""
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
