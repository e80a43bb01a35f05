"""The RAG apps' index settings, read from the tiny model's adapters and splitters: the adapters' vector identity
(engine included) and the splitters' settings, the same through LangChain and LlamaIndex."""

import json

# The examples folder is not a package; pytest's pythonpath (pyproject.toml) makes its modules importable.
import rag_index


def test_index_settings_are_the_adapters_vector_identity_and_the_splitters_settings(tiny_model):
    from langchain_embeddinggemma import EmbeddingGemmaEmbeddings, EmbeddingGemmaTextSplitter
    from llama_index_embeddinggemma import EmbeddingGemmaEmbedding, EmbeddingGemmaNodeParser

    model = tiny_model
    langchain = EmbeddingGemmaEmbeddings(model=model, dimensions=256, query_prompt="q: ")
    llama_index = EmbeddingGemmaEmbedding(model_name=model, dimensions=256, query_prompt="q: ")
    splitter = EmbeddingGemmaTextSplitter.from_embeddings(langchain, chunk_size=100)
    parser = EmbeddingGemmaNodeParser.from_embedding(llama_index, chunk_size=100)
    from embeddinggemma import IndexSettings

    index = IndexSettings(index_precision="int8")
    settings = rag_index.index_settings(langchain, splitter, index)
    assert settings == rag_index.index_settings(llama_index, parser, index)
    assert settings["index_precision"] == "int8" and settings["oversample"] == 10
    assert settings["vectors"] == langchain.cache_namespace() and len(settings["content"]) == 16
    assert settings["dimensions"] == 256 and settings["prompts"][0] == "q: " and settings["chunk_size"] == 100
    assert settings["engine"] == "onnxruntime" and settings["quantization"] is None
    assert json.loads(json.dumps(settings)) == settings  # the manifest stores them as JSON
    other_engine = EmbeddingGemmaEmbeddings(model=model, dimensions=256, query_prompt="q: ", engine="torch")
    changed = rag_index.index_settings(other_engine, splitter, index)
    assert changed["vectors"] != settings["vectors"] and changed["engine"] == "torch"
