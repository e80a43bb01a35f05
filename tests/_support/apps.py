"""Running the RAG example apps as a user runs them (a subprocess each), and reading what they print: shared by
the end-to-end app tests (the tiny model) and the real-model one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from _support.backends import unused_port
from _support.ollama import OllamaServer
from _support.tiny_model import tiny_model_path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SAMPLE_DOCS = EXAMPLES / "sample_docs"
APPS = ["langchain_rag", "llama_index_rag"]
APP_LIBRARIES = {
    "langchain_rag": ("faiss", "langchain_community", "langchain_ollama"),
    "llama_index_rag": ("faiss", "llama_index.vector_stores.faiss", "llama_index.llms.ollama"),
}
"""What each app imports beyond the package (the [examples] extra): a test of an app skips without them."""

PASSAGE = re.compile(r"^  (\d+)\. (-?\d+\.\d+)  \[([^\]]+)\] ", re.MULTILINE)
"""A retrieved passage as the apps print it: rank, score, [source]."""
ANSWER = re.compile(r"According to \[([^\]]+)\], (.*?) Sources: (.*)\.$", re.MULTILINE)
"""The fake Ollama's answer (``echo_rag_answer``): the quoted source, its sentence, the sources cited."""
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01"
"""The first bytes of a PNG: what an image saved as ``.md`` holds."""


def run_app(app: str, index_dir: Path, *args: str, url: str, docs: Path = SAMPLE_DOCS, model: str | None = None):
    """Run ``app`` as a user does (the tiny model unless ``model`` is given); skips where its libraries are missing."""
    for library in APP_LIBRARIES[app]:
        pytest.importorskip(library, reason=f"{app}.py needs {library} (pip install -e '.[examples]')")
    command = [sys.executable, str(EXAMPLES / f"{app}.py"), "--docs", str(docs), "--index-dir", str(index_dir)]
    command += ["--model", model or tiny_model_path(), "--ollama-url", url, *args]
    if "--cache-dir" not in args and "--no-cache" not in args:  # never the user's cache: one beside the index
        command += ["--cache-dir", f"{index_dir}-vectors"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env["XDG_CONFIG_HOME"] = str(config_home(index_dir))  # the key that signs manifests: the test's, not the user's
    return subprocess.run(command, capture_output=True, text=True, timeout=900, env=env, check=False)


def config_home(index_dir: Path) -> Path:
    """The config folder (and so the manifest-signing key) of the app runs around ``index_dir``."""
    return index_dir.parent / "config-home"


def passages(stdout: str) -> list[tuple[int, float, str]]:
    return [(int(rank), float(score), source) for rank, score, source in PASSAGE.findall(stdout)]


def sources(stdout: str) -> set[str]:
    return {source for _, _, source in passages(stdout)}


def squash(text: str) -> str:
    return " ".join(text.split())


def closed_port_url() -> str:
    return f"http://127.0.0.1:{unused_port()}"


def index_state(folder: Path) -> dict[str, int]:
    return {path.name: path.stat().st_mtime_ns for path in folder.iterdir()}


def embedding_bars(stderr: str) -> list[str]:
    """Progress bars that ran to 100%, other than the model loader's (whatever the runtime labels them)."""
    lines = re.split(r"[\r\n]", stderr)
    return [line for line in lines if re.search(r"100%\|", line) and not line.startswith("Loading weights")]


def chat_prompts(server: OllamaServer) -> list[str]:
    return ["\n".join(message["content"] for message in body["messages"]) for body in server.bodies("/api/chat")]


def check_answer(stdout: str, docs: Path, server: OllamaServer) -> list[str]:
    """The answer quotes a retrieved passage and cites every retrieved source, which the LLM was sent."""
    retrieved = [source for _, _, source in passages(stdout)]
    assert retrieved, stdout
    match = ANSWER.search(stdout)
    assert match, stdout
    quoted_source, sentence, cited = match.groups()
    assert quoted_source == retrieved[0]
    assert sentence and sentence in squash((docs / quoted_source).read_text())
    assert re.findall(r"\[([^\]]+)\]", cited) == retrieved
    prompt = chat_prompts(server)[-1]
    assert sentence in squash(prompt)
    assert all(source in prompt for source in retrieved)
    return retrieved


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), result.stderr
    return last


# The sample corpus's questions and the document that answers each (the real model retrieves it first).
KNOWN_QUESTIONS = {
    "Which numeric type makes the model output NaN vectors?": "float16-and-precision.md",
    "What does reciprocal rank fusion do?": "bm25-and-hybrid-search.md",
    "Which port does the local Ollama server listen on?": "ollama.md",
    "Why is it dangerous to open an index.pkl file downloaded from the internet?": "pickle-safety.md",
    "How can I make my vectors smaller without retraining the model?": "matryoshka-embeddings.md",
    "What is a cross-encoder used for?": "reranking.md",
    "How does a recursive splitter decide where to cut a document?": "chunking.md",
}
# A question in one language whose answer is written only in another (the sample corpus has German,
# Spanish, Japanese and Arabic documents on topics no English document covers).
CROSS_LINGUAL_QUESTIONS = {
    "How do I back up and restore a vector index?": "de-vektorindex-sichern.md",
    "¿Cómo se mide la latencia p99 de una búsqueda vectorial?": "ja-vector-search-latency.md",
    "個人情報を索引に入れる前に匿名化するには？": "es-anonimizar-datos.md",
    "Wie aktualisiert man den Index, wenn sich ein Dokument ändert, ohne alles neu zu berechnen?": (
        "ar-updating-the-index.md"
    ),
}
