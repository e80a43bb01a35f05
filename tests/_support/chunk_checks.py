"""The chunker's checks that the tiny and the real model share: hard texts, and what every chunking of them
must satisfy (the source rebuilt, each chunk counted as the embedder counts it and embedded whole)."""

from __future__ import annotations

import base64
import random

from embeddinggemma import Embedder, TextChunker

_rng = random.Random(7)
HARD_TEXTS = {
    "prose": "\n\n".join(
        " ".join(f"Sentence {p}.{s} talks about planets, moons and rings." for s in range(12)) for p in range(8)
    ),
    "cjk": "東京は日本の首都です。大阪は西にあります。" * 120,
    "cjk-no-punctuation": "東京日本首都大阪西京都古都" * 150,
    "thai": "ภาษาไทยเขียนติดกันโดยไม่มีช่องว่างระหว่างคำ" * 60,
    "base64-line": base64.b64encode(_rng.randbytes(37_500)).decode(),  # a 50,000-character line
    "emoji": "Family 👨‍👩‍👧‍👦 flag 🇩🇪 skin 👍🏽 e\u0301 " * 120,
    "mixed-scripts": ("English, Русский текст, العربية هنا؟ 中文句子。 हिन्दी वाक्य। " * 80),
    "crlf": "line one\r\nline two\r\n\r\n" * 150,
    "spaces-and-tabs": ("word\t\t  word   \n \n\n   " * 200),
    "one-long-word": "x" * 20_000,
}


def assert_lossless(text: str, chunks, chunker: TextChunker) -> None:
    """Every non-blank character is in a chunk; only whitespace lies outside and between chunks."""
    assert chunks, "a non-blank text gave no chunks"
    assert all(text[c.start : c.end] == c.text and c.text == c.text.strip() for c in chunks)
    assert not text[: chunks[0].start].strip() and not text[chunks[-1].end :].strip()
    special = chunker.tokenizer.count([""])[0]
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert before.start < after.start and before.end < after.end  # progress, no chunk inside another
        if after.start >= before.end:
            assert not text[before.end : after.start].strip()  # a gap holds whitespace only
        else:
            shared = chunker.tokenizer.count([text[after.start : before.end]])[0] - special
            assert shared <= chunker.chunk_overlap


def check_chunks_rebuild_the_source_and_each_embeds_whole(model: str, name: str) -> None:
    """``HARD_TEXTS[name]`` in 96-token chunks: lossless, each counted as the embedder counts it, filled, and
    embedded without truncation."""
    text = HARD_TEXTS[name]
    chunker = TextChunker(model, chunk_size=96, chunk_overlap=24)
    chunks = chunker.split(text, title="Ein Titel")
    assert_lossless(text, chunks, chunker)
    embedder = Embedder(model=model, truncation="error", max_seq_length=96)
    prompted = embedder.prompt([c.text for c in chunks], "document", ["Ein Titel"] * len(chunks))
    counts = embedder.runtime.count_tokens(prompted)  # the embedder's own count, prompt and title included
    assert counts == [c.tokens for c in chunks]
    assert max(counts) <= 96
    assert sum(c.tokens for c in chunks) > 0.5 * len(chunks) * 96  # chunks are filled, not crumbs
    embedder.embed([c.text for c in chunks[:3]], titles=["Ein Titel"] * min(3, len(chunks)))  # no TruncationError
