"""Each package's public surface is its ``__all__``, pinned here: a change to it is a decision, not an accident."""

import importlib
import pkgutil

import pytest

PUBLIC = {
    "embeddinggemma": [
        "BACKENDS",
        "DEFAULT_MODEL",
        "DEFAULT_OLLAMA_URL",
        "DIMENSIONS",
        "ENGINES",
        "FAMILIES",
        "INDEX_PRECISIONS",
        "MAX_SEQ_LENGTH",
        "QUANTIZATIONS",
        "TASKS",
        "CacheStore",
        "CacheWriteWarning",
        "Chunk",
        "ChunkingSettings",
        "Embedder",
        "EmbeddingGemmaError",
        "EmbeddingSettings",
        "Family",
        "IndexSettings",
        "MissingExtraError",
        "ModelLoadError",
        "OutputCheckError",
        "Pipelined",
        "ServerError",
        "ServerUnavailableError",
        "TaskPrompts",
        "TextChunker",
        "TruncationError",
        "TruncationReport",
        "TruncationWarning",
        "VectorCache",
        "apply_prompt",
        "is_prompted",
        "shape_vectors",
        "user_cache_dir",
        "validate_texts",
    ],
    "embeddinggemma.quantize": [
        "ARTIFACTS",
        "GGUF_TYPES",
        "ONNX_TYPES",
        "artifact_path",
        "build",
        "build_gguf",
        "build_onnx",
    ],
    "embeddinggemma.cli": ["add_options", "chosen", "flag"],
    "embeddinggemma.ray": [
        "BadRowError",
        "EmbedBatches",
        "EmbeddingRunReport",
        "RowOptions",
        "embed_dataset",
        "summarize",
        "vectors_of",
    ],
    "embeddinggemma.vector_index": [
        "BinaryIndex",
        "PRECISIONS",
        "bytes_per_vector",
        "describe",
        "faiss_index",
        "pack_signs",
        "vector_index",
    ],
    "langchain_embeddinggemma": ["EmbeddingGemmaEmbeddings", "EmbeddingGemmaRetriever", "EmbeddingGemmaTextSplitter"],
    "llama_index_embeddinggemma": ["EmbeddingGemmaEmbedding", "EmbeddingGemmaNodeParser", "EmbeddingGemmaRetriever"],
}


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_all_is_pinned_and_importable(package):
    module = importlib.import_module(package)
    assert sorted(module.__all__) == sorted(PUBLIC[package])
    for name in module.__all__:
        assert hasattr(module, name), name


@pytest.mark.parametrize("package", ["embeddinggemma", "langchain_embeddinggemma", "llama_index_embeddinggemma"])
def test_implementation_modules_are_private(package):
    module = importlib.import_module(package)
    public_modules = {"quantize", "ray", "cli", "vector_index", "__main__"} if package == "embeddinggemma" else set()
    for info in pkgutil.iter_modules(module.__path__):
        assert info.name.startswith("_") or info.name in public_modules, f"{package}.{info.name} should be private"


def test_a_setting_is_declared_once_and_reaches_both_adapters():
    """Both adapters are the core settings model: same names, defaults and documentation."""
    from embeddinggemma import EmbeddingSettings
    from langchain_embeddinggemma import EmbeddingGemmaEmbeddings
    from llama_index_embeddinggemma import EmbeddingGemmaEmbedding

    for adapter in (EmbeddingGemmaEmbeddings, EmbeddingGemmaEmbedding):
        assert issubclass(adapter, EmbeddingSettings)
        for name, field in EmbeddingSettings.model_fields.items():
            inherited = adapter.model_fields[name]
            assert (inherited.default, inherited.description) == (field.default, field.description), name
            assert field.description, f"{name} has no doc line"


def test_a_chunking_option_is_declared_once_and_reaches_both_splitters():
    from embeddinggemma import ChunkingSettings
    from langchain_embeddinggemma import EmbeddingGemmaTextSplitter
    from llama_index_embeddinggemma import EmbeddingGemmaNodeParser

    for splitter in (EmbeddingGemmaTextSplitter, EmbeddingGemmaNodeParser):
        assert issubclass(splitter, ChunkingSettings)
        for name, field in ChunkingSettings.model_fields.items():
            inherited = splitter.model_fields[name]
            assert (inherited.default, inherited.description) == (field.default, field.description), name
            assert field.description, f"{name} has no doc line"


def test_llama_index_finds_the_integration_under_its_own_import_path():
    import llama_index_embeddinggemma
    from llama_index.embeddings.embeddinggemma import EmbeddingGemmaEmbedding, EmbeddingGemmaNodeParser

    assert EmbeddingGemmaEmbedding is llama_index_embeddinggemma.EmbeddingGemmaEmbedding  # the class, not a copy
    assert EmbeddingGemmaNodeParser is llama_index_embeddinggemma.EmbeddingGemmaNodeParser


def test_the_version_has_one_source():
    from importlib import metadata

    import embeddinggemma

    assert embeddinggemma.__version__ == metadata.version("embeddinggemma")


def test_embedding_alone_does_not_load_langchains_splitters_or_runnables():
    """``from langchain_embeddinggemma import EmbeddingGemmaEmbeddings`` loads neither the text splitters nor
    the runnables behind the retriever (~28 MB of RSS), and ``import embeddinggemma`` no asyncio (~3 MB); the
    other names still import."""
    import subprocess
    import sys

    heavy = ("langchain_text_splitters", "langchain_core.retrievers", "langchain_core.runnables.base")
    code = (
        "import sys\n"
        "import embeddinggemma\n"
        "assert 'asyncio' not in sys.modules\n"
        "from langchain_embeddinggemma import EmbeddingGemmaEmbeddings\n"
        f"print([name for name in {heavy!r} if name in sys.modules])\n"
        "from langchain_embeddinggemma import EmbeddingGemmaRetriever, EmbeddingGemmaTextSplitter\n"
        "import langchain_embeddinggemma as package\n"
        "print(sorted(set(package.__all__) - set(dir(package))), EmbeddingGemmaTextSplitter.__module__)\n"
        "package.NoSuchName\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    loaded, names = done.stdout.splitlines()
    assert loaded == "[]", f"importing the embeddings class loaded {loaded}"
    assert names == "[] langchain_embeddinggemma._splitter"
    assert "has no attribute 'NoSuchName'" in done.stderr
