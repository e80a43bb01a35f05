"""Both adapters refuse the same bad inputs with the same clear errors, before any work is done.

The model path does not exist: an input error that surfaced after loading would be a ModelLoadError.
"""

import pytest
from llama_index.core.schema import TextNode

from langchain_embeddinggemma import EmbeddingGemmaEmbeddings
from llama_index_embeddinggemma import EmbeddingGemmaEmbedding

NOWHERE = "/no/such/embeddinggemma"
MANY = [f"text {i}" for i in range(100)]

BAD_BATCHES = [
    ("abc", TypeError, "texts must be a list of strings, got str"),
    ({"a": 1}, TypeError, "texts must be a list of strings, got dict"),
    (None, TypeError, "texts must be a list of strings, got NoneType"),
    (MANY[:70] + [None] + MANY[71:], TypeError, r"texts\[70\] is None"),
    (MANY[:70] + [b"bytes"] + MANY[71:], TypeError, r"texts\[70\] is a bytes"),
    (MANY[:3] + ["lone \ud800 surrogate"], ValueError, r"texts\[3\] is not valid Unicode"),
]


def langchain_batch(texts):
    return EmbeddingGemmaEmbeddings(model=NOWHERE, batch_size=8).embed_documents(texts)


def llama_index_batch(texts):
    return EmbeddingGemmaEmbedding(model_name=NOWHERE, embed_batch_size=8).get_text_embedding_batch(texts)


async def langchain_abatch(texts):
    return await EmbeddingGemmaEmbeddings(model=NOWHERE, batch_size=8).aembed_documents(texts)


async def llama_index_abatch(texts):
    return await EmbeddingGemmaEmbedding(model_name=NOWHERE, embed_batch_size=8).aget_text_embedding_batch(texts)


@pytest.mark.parametrize("embed", [langchain_batch, llama_index_batch])
@pytest.mark.parametrize("texts, error, message", BAD_BATCHES)
def test_bad_batches(embed, texts, error, message):
    with pytest.raises(error, match=message):
        embed(texts)


@pytest.mark.parametrize("embed", [langchain_abatch, llama_index_abatch])
@pytest.mark.parametrize("texts, error, message", BAD_BATCHES)
async def test_bad_batches_async(embed, texts, error, message):
    with pytest.raises(error, match=message):
        await embed(texts)


@pytest.mark.parametrize(
    "query, error, message",
    [
        (None, TypeError, "query must be a string"),
        (3, TypeError, "query must be a string"),
        ("\udfff", ValueError, "not valid Unicode"),
    ],
)
def test_bad_queries(query, error, message):
    with pytest.raises(error, match=message):
        EmbeddingGemmaEmbeddings(model=NOWHERE).embed_query(query)
    with pytest.raises(error, match=message):
        EmbeddingGemmaEmbedding(model_name=NOWHERE).get_query_embedding(query)


def test_bad_titles_are_named():
    with pytest.raises(TypeError, match=r"titles\[1\] is a int"):
        EmbeddingGemmaEmbeddings(model=NOWHERE).embed_documents(["a", "b"], titles=["A", 2])
    with pytest.raises(ValueError, match="titles has 1 items but there are 2 texts"):
        EmbeddingGemmaEmbeddings(model=NOWHERE).embed_documents(["a", "b"], titles=["A"])
    with pytest.raises(ValueError, match=r"titles\[0\] is not valid Unicode"):
        node = TextNode(text="a", metadata={"title": "\ud800"}, excluded_embed_metadata_keys=["title"])
        EmbeddingGemmaEmbedding(model_name=NOWHERE)([node])


def test_empty_batches_embed_nothing():
    assert EmbeddingGemmaEmbeddings(model=NOWHERE).embed_documents([]) == []
    assert EmbeddingGemmaEmbedding(model_name=NOWHERE).get_text_embedding_batch([]) == []


@pytest.mark.parametrize("adapter", [EmbeddingGemmaEmbeddings, EmbeddingGemmaEmbedding])
@pytest.mark.parametrize(
    "setting, value, message",
    [
        ("dimenssions", 256, r"'dimenssions' is not a setting.*Did you mean 'dimensions'"),
        ("dimensions", 300, "768, 512, 256, 128"),
        ("dimensions", 768.0, "768, 512, 256, 128"),
        ("device", None, "auto, cpu, cuda, mps"),
        ("dtype", "float16", "overflow float16"),
        ("max_seq_length", 4096, "more than EmbeddingGemma.s 2048 tokens"),
    ],
)
def test_bad_settings_fail_at_construction_and_by_assignment(adapter, setting, value, message):
    with pytest.raises(ValueError, match=message):
        adapter(**{setting: value})
    built = adapter(model=NOWHERE)
    before = built.model_dump()
    with pytest.raises((ValueError, AttributeError), match=message):
        setattr(built, setting, value)
    assert built.model_dump() == before
