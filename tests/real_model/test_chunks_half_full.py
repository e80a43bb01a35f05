"""The half-full promise with the real tokenizer, where LlamaIndex's embed-mode metadata once made every
other node a sliver: Chinese without punctuation, a long URL, base64."""

from __future__ import annotations

import base64

import pytest

pytestmark = pytest.mark.real_model

TEXTS = {
    "cjk": "这是一个没有标点的很长的句子" * 200,
    "url": "See https://example.com/" + "abcdefghij/" * 200 + " for the details.",
    "base64": base64.b64encode(bytes(range(256)) * 20).decode(),
}


@pytest.mark.parametrize("kind", sorted(TEXTS))
@pytest.mark.parametrize("metadata", [{}, {"author": "someone", "lang": "zh"}], ids=["no-metadata", "metadata"])
def test_every_node_but_the_last_is_at_least_half_full(real_model, kind, metadata):
    from llama_index.core import Document
    from llama_index.core.schema import MetadataMode

    from llama_index_embeddinggemma import EmbeddingGemmaNodeParser

    parser = EmbeddingGemmaNodeParser(tokenizer=real_model, chunk_size=128, chunk_overlap=8)
    nodes = parser.get_nodes_from_documents([Document(text=TEXTS[kind], metadata=metadata)])
    counts = parser.count_tokens([node.get_content(metadata_mode=MetadataMode.EMBED) for node in nodes])
    assert len(counts) > 2 and max(counts) <= 128
    assert all(2 * count >= 128 for count in counts[:-1]), counts
    assert not nodes[0].text.endswith("https:")


@pytest.mark.parametrize("kind", sorted(TEXTS))
def test_every_chunk_but_the_last_is_at_least_half_full(real_model, kind):
    from langchain_core.documents import Document

    from langchain_embeddinggemma import EmbeddingGemmaTextSplitter

    splitter = EmbeddingGemmaTextSplitter(tokenizer=real_model, chunk_size=128, chunk_overlap=8)
    chunks = splitter.split_documents([Document(TEXTS[kind], metadata={"title": "T"})])
    counts = splitter.count_tokens([chunk.page_content for chunk in chunks], title="T")
    assert len(counts) > 2 and max(counts) <= 128
    assert all(2 * count >= 128 for count in counts[:-1]), counts
