"""What an installed wheel must hold, checked from outside the source tree: every module of the three
packages imports, each package is typed (py.typed), LlamaIndex's import path gives the same classes, the
version is the distribution's, and the sdist carries the examples with their sample documents.

python .ci/package_contents.py SDIST_FOLDER
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from importlib import metadata
from importlib.resources import files
from pathlib import Path

PACKAGES = ("embeddinggemma", "langchain_embeddinggemma", "llama_index_embeddinggemma")


def main(sdist: Path) -> None:
    for package in PACKAGES:
        module = importlib.import_module(package)
        assert "site-packages" in str(module.__file__), f"{package} imported from {module.__file__}, not the wheel"
        assert files(package).joinpath("py.typed").is_file(), f"{package} has no py.typed"
        for info in pkgutil.walk_packages(module.__path__, prefix=f"{package}."):
            if info.name.endswith("__main__"):
                continue
            importlib.import_module(info.name)
    from llama_index.embeddings.embeddinggemma import EmbeddingGemmaEmbedding

    from llama_index_embeddinggemma import EmbeddingGemmaEmbedding as Same

    assert EmbeddingGemmaEmbedding is Same, "llama_index.embeddings.embeddinggemma must re-export, not copy"
    import embeddinggemma

    assert embeddinggemma.__version__ == metadata.version("embeddinggemma")
    samples = sorted((sdist / "examples" / "sample_docs").glob("*.md"))
    assert len(samples) >= 30, f"the sdist has {len(samples)} sample documents"
    for name in ("README.md", "CHANGELOG.md", "CONTRIBUTING.md", "examples/langchain_rag.py", "tests/conftest.py"):
        assert (sdist / name).is_file(), f"the sdist lacks {name}"
    print(f"wheel {embeddinggemma.__version__}: every module imports, typed; sdist: {len(samples)} sample documents")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
