"""Token-exact chunking: the core chunker and both framework splitters, on the tiny model's tokenizer (the real
one: ``tests/real_model/test_chunking_real.py``).

Every check compares against the source text or against the embedder's own token count: the chunks must
join back into the source (overlap aside), each must embed without truncation, and nothing is dropped
except empty documents, which are counted."""

from __future__ import annotations

import logging
import os
import shutil
import warnings

import pytest
from _support.chunk_checks import HARD_TEXTS, check_chunks_rebuild_the_source_and_each_embeds_whole

from embeddinggemma import TextChunker, TruncationWarning
from embeddinggemma._tokenizer import TOKENIZER_FILES


@pytest.mark.parametrize("name", sorted(HARD_TEXTS))
def test_chunks_rebuild_the_source_and_each_embeds_whole(tiny_model, name):
    check_chunks_rebuild_the_source_and_each_embeds_whole(tiny_model, name)


def test_short_text_is_one_chunk_and_blank_text_none(tiny_model):
    chunker = TextChunker(tiny_model, chunk_size=64, chunk_overlap=8)
    [chunk] = chunker.split("A short note.")
    assert (chunk.text, chunk.start, chunk.end) == ("A short note.", 0, 13)
    [chunk] = chunker.split("\n  A short note.\n\n")
    assert (chunk.text, chunk.start, chunk.end) == ("A short note.", 3, 16)
    assert chunker.split("") == [] and chunker.split(" \r\n\t ") == []


def test_cuts_fall_on_paragraphs_when_they_fit(tiny_model):
    paragraphs = [" ".join(["Moons orbit planets."] * n) for n in (3, 4, 2, 5, 3, 4)]
    text = "\n\n".join(paragraphs)
    chunker = TextChunker(tiny_model, chunk_size=80, chunk_overlap=0)
    chunks = chunker.split(text)
    assert len(chunks) > 1
    assert all(text[c.end : c.end + 2] == "\n\n" for c in chunks[:-1])  # each cut at a paragraph's end


def test_the_title_is_counted(tiny_model):
    text = HARD_TEXTS["prose"]
    chunker = TextChunker(tiny_model, chunk_size=96, chunk_overlap=0)
    plain = chunker.split(text)
    titled = chunker.split(text, title="A rather long title about the outer planets of the solar system")
    assert len(titled) > len(plain)
    assert max(c.tokens for c in titled) <= 96
    with pytest.raises(ValueError, match=r"chunk_size=96 leaves -\d+ tokens for text.*the title \d+ more"):
        chunker.split(text, title="word " * 200)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"chunk_size": 4096}, "more than EmbeddingGemma's 2048 tokens"),
        ({"chunk_size": 64, "chunk_overlap": 64}, "chunk_overlap=64 must be smaller than chunk_size=64"),
        ({"chunk_size": "512"}, "chunk_size='512' must be an integer"),
        ({"chunk_overlap": -1}, "chunk_overlap=-1 must be an integer >= 0"),
        ({"task": "retreival"}, "task='retreival' is unknown"),
    ],
)
def test_bad_chunker_settings_are_named(tiny_model, kwargs, message):
    with pytest.raises(ValueError, match=message):
        TextChunker(tiny_model, **kwargs)


def test_counts_with_the_tokenizer_files_alone(tiny_model, tmp_path):
    for name in TOKENIZER_FILES:
        if (source := os.path.join(tiny_model, name)) and os.path.isfile(source):
            shutil.copy(source, tmp_path / name)
    assert not (tmp_path / "model.safetensors").exists()
    text = HARD_TEXTS["prose"]
    assert TextChunker(str(tmp_path), chunk_size=80).split(text) == TextChunker(tiny_model, chunk_size=80).split(text)


# -- LangChain --------------------------------------------------------------------------------------


def test_langchain_splitter_keeps_metadata_offsets_and_counts_the_title(tiny_model, caplog):
    from langchain_core.documents import Document

    from langchain_embeddinggemma import EmbeddingGemmaEmbeddings, EmbeddingGemmaTextSplitter

    embeddings = EmbeddingGemmaEmbeddings(model=tiny_model, truncation="error", max_seq_length=96)
    splitter = EmbeddingGemmaTextSplitter.from_embeddings(embeddings, chunk_overlap=16)
    assert splitter._chunk_size == 96  # from max_seq_length
    source = HARD_TEXTS["mixed-scripts"]
    docs = [
        Document(source, metadata={"title": "Überblick", "source": "a.md"}),
        Document("   \n"),
        Document("", metadata={"source": "empty.md"}),
        Document("Kurz.", metadata={"title": "Kurz", "source": "b.md"}),
    ]
    with caplog.at_level(logging.INFO, logger="embeddinggemma"):
        chunks = splitter.split_documents(docs)
    assert splitter.dropped_empty == 2 and "dropped 2 empty or blank document(s)" in caplog.text
    long_chunks = [c for c in chunks if c.metadata["source"] == "a.md"]
    assert len(long_chunks) > 1 and chunks[-1].page_content == "Kurz."
    for chunk in long_chunks:
        assert chunk.metadata["title"] == "Überblick"
        assert source[chunk.metadata["start_index"] : chunk.metadata["end_index"]] == chunk.page_content
    assert max(splitter.count_tokens([c.page_content for c in long_chunks], title="Überblick")) <= 96
    embeddings.embed_documents_with_titles(chunks)  # truncation="error": raises if any chunk were too long


def test_langchain_splitter_for_a_server_backend_takes_the_tokenizer_it_is_given(tiny_model):
    from langchain_embeddinggemma import EmbeddingGemmaEmbeddings, EmbeddingGemmaTextSplitter

    served = EmbeddingGemmaEmbeddings(backend="ollama", model="embeddinggemma")
    splitter = EmbeddingGemmaTextSplitter.from_embeddings(served, tokenizer=tiny_model, chunk_size=64, chunk_overlap=8)
    assert splitter.split_text(HARD_TEXTS["prose"])
    with pytest.raises(TypeError, match="length_function is not an option"):
        EmbeddingGemmaTextSplitter(tokenizer=tiny_model, length_function=len)


# -- LlamaIndex -------------------------------------------------------------------------------------


def test_llama_index_parser_in_an_ingestion_pipeline_counts_metadata_and_title(tiny_model):
    from llama_index.core import Document
    from llama_index.core.ingestion import IngestionPipeline
    from llama_index.core.schema import MetadataMode

    from llama_index_embeddinggemma import EmbeddingGemmaEmbedding, EmbeddingGemmaNodeParser

    embed_model = EmbeddingGemmaEmbedding(model_name=tiny_model, truncation="error", max_seq_length=96)
    parser = EmbeddingGemmaNodeParser.from_embedding(embed_model, chunk_overlap=16)
    source = ("Repeated sentence. " * 40) + HARD_TEXTS["cjk"][:600]  # repeats: offsets must not be re-found
    documents = [
        Document(text=source, metadata={"title": "Wiederholung", "source": "r.md", "lang": "de"}),
        Document(text=""),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error", TruncationWarning)
        nodes = IngestionPipeline(transformations=[parser, embed_model]).run(documents=documents)
    assert parser.dropped_empty == 1
    assert len(nodes) > 2
    position = 0
    for node in nodes:
        assert source[node.start_char_idx : node.end_char_idx] == node.text
        assert node.start_char_idx >= position
        position = node.start_char_idx
        assert node.metadata["title"] == "Wiederholung" and node.embedding is not None
    embedded = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
    assert "lang: de" in embedded[0]  # the metadata text is embedded, so it was counted
    counts = parser.count_tokens(embedded, title="Wiederholung")
    assert max(counts) <= 96
    assert sum(counts) > 0.5 * 96 * len(nodes)


def test_llama_index_parser_serialises_its_settings(tiny_model):
    from llama_index_embeddinggemma import EmbeddingGemmaNodeParser

    parser = EmbeddingGemmaNodeParser(tokenizer=tiny_model, chunk_size=128, chunk_overlap=8)
    data = parser.to_dict()
    assert data["class_name"] == "EmbeddingGemmaNodeParser" and data["chunk_size"] == 128
    with pytest.raises(ValueError, match="chunk_overlap=200 must be smaller"):
        EmbeddingGemmaNodeParser(tokenizer=tiny_model, chunk_size=128, chunk_overlap=200)
