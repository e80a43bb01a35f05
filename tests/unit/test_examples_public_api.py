"""The examples are what users copy: they use only the public API and never pickle."""

import ast

import pytest
from _support.apps import EXAMPLES

OUR_PACKAGES = {"embeddinggemma", "langchain_embeddinggemma", "llama_index_embeddinggemma"}
PUBLIC_MODULES = OUR_PACKAGES | {"embeddinggemma.ray", "embeddinggemma.cli", "embeddinggemma.vector_index"}
PUBLIC_NAMES = {
    "DEFAULT_MODEL",
    "DIMENSIONS",
    "BACKENDS",
    "QUANTIZATIONS",
    "DEFAULT_OLLAMA_URL",
    "EmbeddingGemmaError",
    "VectorCache",
    "ChunkingSettings",
    "EmbeddingSettings",
    "IndexSettings",
    "user_cache_dir",
}
INTERNALS = {"embedder", "config", "load_backend", "Embedder", "embed_with_report", "EmbeddingConfig"}
UNSAFE = {"pickle", "load_local", "save_local", "allow_dangerous_deserialization"}


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda path: path.name)
def test_examples_use_only_the_public_api_and_never_pickle(path):
    """The examples are what users copy: the adapters, the frameworks, and a few public constants."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in OUR_PACKAGES:
            assert node.module in PUBLIC_MODULES, f"{path.name}:{node.lineno} imports {node.module}"
        if isinstance(node, ast.ImportFrom) and node.module == "embeddinggemma":
            assert {alias.name for alias in node.names} <= PUBLIC_NAMES, f"{path.name}:{node.lineno}"
        if isinstance(node, ast.Import):
            for alias in node.names:  # `import embeddinggemma.ray` (a public module), never the bare package
                top = alias.name.split(".")[0]
                assert top not in UNSAFE, f"{path.name}:{node.lineno}"
                if top in OUR_PACKAGES:
                    assert alias.name in PUBLIC_MODULES - OUR_PACKAGES, f"{path.name}:{node.lineno}"
        name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None
        name = node.arg if isinstance(node, ast.keyword) else name
        assert name not in INTERNALS | UNSAFE, f"{path.name}:{node.lineno} uses {name}"
