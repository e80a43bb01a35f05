"""Import hygiene with the tiny model, checked in fresh interpreters: an adapter works without the other framework
and without torch, and a server backend never imports torch (the core alone:
``tests/unit/test_import_isolation.py``)."""

import subprocess
import sys

import pytest


def run(code: str) -> None:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "package, blocked",
    [
        ("langchain_embeddinggemma", "llama_index"),
        ("llama_index_embeddinggemma", "langchain_core"),
    ],
)
def test_adapter_works_without_the_other_framework(package, blocked, tiny_model):
    # sys.modules[name] = None makes any import of that framework fail, as if it were not installed.
    run(
        f"import sys; sys.modules[{blocked!r}] = None; sys.modules['langchain'] = None\n"
        f"import {package} as pkg\n"
        "assert 'torch' not in sys.modules\n"
        "cls = getattr(pkg, pkg.__all__[0])\n"
        f"key = 'model' if {package!r}.startswith('langchain') else 'model_name'\n"
        f"emb = cls(**{{key: {tiny_model!r}}})\n"
        "vec = emb.embed_query('mars') if hasattr(emb, 'embed_query') else emb.get_query_embedding('mars')\n"
        "assert len(vec) == 768"
    )


def test_server_backend_never_imports_torch(tiny_model):
    """A user who only talks to a server pays for numpy and httpx, not for loading torch."""
    from _support.backends import openai_server

    url = openai_server().url
    run(
        "import sys; sys.modules['torch'] = None; sys.modules['sentence_transformers'] = None\n"
        "from embeddinggemma import Embedder\n"
        f"vectors = Embedder(backend='openai', base_url={url!r}, dimensions=128).embed(['mars', 'venus'])\n"
        "assert len(vectors) == 2 and len(vectors[0]) == 128"
    )
