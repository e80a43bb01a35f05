"""What the splitters say when a document cannot be split, and the half-full promise on text without
natural boundaries, in both frameworks."""

from __future__ import annotations

import base64

import pytest

from embeddinggemma import Embedder, ModelLoadError

URL = "https://example.com/" + "abcdefghij/" * 120 + "?query=" + "x" * 200
CJK = "这是一个没有标点的很长的句子" * 120
BASE64 = base64.b64encode(bytes(range(256)) * 12).decode()
NO_BOUNDARIES = {"url": URL, "url-in-prose": f"See {URL} for the details.", "cjk": CJK, "base64": BASE64}
SURROGATE_TEXT = "Venus " * 10 + "x\ud800y"


def test_langchain_names_the_document_and_the_position_of_a_lone_surrogate(tiny_model):
    from langchain_core.documents import Document

    from langchain_embeddinggemma import EmbeddingGemmaTextSplitter

    splitter = EmbeddingGemmaTextSplitter(tokenizer=tiny_model)
    documents = [Document("ok"), Document(SURROGATE_TEXT, metadata={"title": "T", "source": "notes/venus.md"})]
    with pytest.raises(ValueError, match=r"documents\[1\] \(source 'notes/venus.md'\) .* at character 61"):
        splitter.split_documents(documents)
    documents[1].id = "venus-1"
    with pytest.raises(ValueError, match=r"documents\[1\] \(id 'venus-1', source 'notes/venus.md'\)"):
        splitter.split_documents(documents)
    with pytest.raises(ValueError, match=r"the title of documents\[0\] .* at character 1"):
        splitter.split_documents([Document("fine", metadata={"title": "T\udcff"})])
    with pytest.raises(ValueError, match=r"documents\[1\] .* at character 61"):
        splitter.create_documents(["ok", SURROGATE_TEXT], [{}, {"title": "T"}])


def test_llama_index_names_the_document_and_the_position_of_a_lone_surrogate(tiny_model):
    from llama_index.core import Document

    from llama_index_embeddinggemma import EmbeddingGemmaNodeParser

    parser = EmbeddingGemmaNodeParser(tokenizer=tiny_model)
    documents = [Document(text="ok"), Document(text=SURROGATE_TEXT, id_="venus-1", metadata={"file_name": "v.md"})]
    with pytest.raises(ValueError, match=r"documents\[1\] \(id 'venus-1', file_name 'v.md'\) .* at character 61"):
        parser.get_nodes_from_documents(documents)


def test_llama_index_names_what_takes_the_room_when_the_metadata_is_too_long(tiny_model):
    from llama_index.core import Document

    from llama_index_embeddinggemma import EmbeddingGemmaNodeParser

    parser = EmbeddingGemmaNodeParser(tokenizer=tiny_model, chunk_size=64, chunk_overlap=8)
    document = Document(text="word " * 400, id_="d", metadata={"notes": "a long note " * 60})
    with pytest.raises(ValueError) as raised:
        parser.get_nodes_from_documents([document])
    message = str(raised.value)
    assert message.startswith("documents[0] (id 'd'): chunk_size=64 leaves -")
    assert "the metadata text embedded with it" in message and "excluded_embed_metadata_keys" in message
    assert "title" not in message  # the document has none: the title is not blamed
    document.excluded_embed_metadata_keys = ["notes"]  # the fix the message names
    assert len(parser.get_nodes_from_documents([document])) > 1


def _half_full(counts: list[int], chunk_size: int) -> None:
    assert len(counts) > 1
    assert max(counts) <= chunk_size
    assert all(2 * count >= chunk_size for count in counts[:-1]), counts


@pytest.mark.parametrize("kind", sorted(NO_BOUNDARIES))
def test_langchain_chunks_of_text_without_boundaries_are_at_least_half_full(tiny_model, kind):
    from langchain_core.documents import Document

    from langchain_embeddinggemma import EmbeddingGemmaTextSplitter

    splitter = EmbeddingGemmaTextSplitter(tokenizer=tiny_model, chunk_size=96, chunk_overlap=8)
    for title in (None, "A title"):
        chunks = splitter.split_documents([Document(NO_BOUNDARIES[kind], metadata={"title": title})])
        assert chunks[0].page_content != "https:"
        _half_full(splitter.count_tokens([c.page_content for c in chunks], title=title), 96)


@pytest.mark.parametrize("kind", sorted(NO_BOUNDARIES))
@pytest.mark.parametrize("metadata", [{}, {"author": "someone", "lang": "xx"}], ids=["no-metadata", "metadata"])
def test_llama_index_chunks_of_text_without_boundaries_are_at_least_half_full(tiny_model, kind, metadata):
    from llama_index.core import Document
    from llama_index.core.schema import MetadataMode

    from llama_index_embeddinggemma import EmbeddingGemmaNodeParser

    parser = EmbeddingGemmaNodeParser(tokenizer=tiny_model, chunk_size=96, chunk_overlap=8)
    nodes = parser.get_nodes_from_documents([Document(text=NO_BOUNDARIES[kind], metadata=metadata)])
    embedded = [node.get_content(metadata_mode=MetadataMode.EMBED) for node in nodes]
    _half_full(parser.count_tokens(embedded), 96)


def test_a_model_path_that_is_a_file_is_named_as_a_file(tmp_path):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"\0" * 16)
    with pytest.raises(ModelLoadError, match="is a file, not a model folder") as raised:
        Embedder(model=str(weights)).embed(["x"])
    assert "Repo id" not in str(raised.value) and "gated" not in str(raised.value)
