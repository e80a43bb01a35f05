"""The RAG example apps, run as a user runs them: subprocesses on the sample corpus, talking to a real
loopback Ollama server through the real langchain-ollama and llama-index-llms-ollama clients.

The server's answer is built only from the prompt it receives (it quotes the first passage and cites
every source it saw), so these tests can check that the retrieved passages really reached the LLM.
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REAL_MODEL, requires_real_model, tiny_model_path
from ollama_server import OllamaServer

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SAMPLE_DOCS = EXAMPLES / "sample_docs"
APPS = ["langchain_rag", "llama_index_rag"]
sys.path.insert(0, str(EXAMPLES))

import rag_common  # noqa: E402 - the examples folder is not a package

PASSAGE = re.compile(r"^  (\d+)\. (-?\d+\.\d+)  \[([^\]]+)\] ", re.MULTILINE)
ANSWER = re.compile(r"According to \[([^\]]+)\], (.*?) Sources: (.*)\.$", re.MULTILINE)


def run_app(app: str, index_dir: Path, *args: str, url: str, docs: Path = SAMPLE_DOCS, model: str | None = None):
    command = [sys.executable, str(EXAMPLES / f"{app}.py"), "--docs", str(docs), "--index-dir", str(index_dir)]
    command += ["--model", model or tiny_model_path(), "--ollama-url", url, *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run(command, capture_output=True, text=True, timeout=900, env=env, check=False)


def passages(stdout: str) -> list[tuple[int, float, str]]:
    return [(int(rank), float(score), source) for rank, score, source in PASSAGE.findall(stdout)]


def squash(text: str) -> str:
    return " ".join(text.split())


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens once the socket closes


def index_state(folder: Path) -> dict[str, int]:
    return {path.name: path.stat().st_mtime_ns for path in folder.iterdir()}


def chat_prompts(server: OllamaServer) -> list[str]:
    return [
        "\n".join(message["content"] for message in body["messages"])
        for _, path, body in server.requests
        if path == "/api/chat"
    ]


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


@pytest.mark.parametrize("app", APPS)
def test_answers_from_retrieved_passages_reuses_and_rebuilds_the_index_and_hints(app, tmp_path):
    docs = tmp_path / "docs"
    shutil.copytree(SAMPLE_DOCS, docs)
    index = tmp_path / "index"
    with OllamaServer() as server:
        first = run_app(app, index, "-k", "3", url=server.url, docs=docs)
        assert first.returncode == 0, first.stderr
        assert "building a new index" in first.stdout
        assert "embedding: 100%" in first.stderr and "tokens/s" in first.stderr
        retrieved = check_answer(first.stdout, docs, server)
        assert len(retrieved) == 3
        assert (index / rag_common.MANIFEST).is_file()
        built = index_state(index)

    # The re-run reuses the index; this Ollama has not pulled the LLM: passages, the pull hint, exit 1.
    with OllamaServer(models=("embeddinggemma:latest",)) as server:
        second = run_app(app, index, "-k", "3", url=server.url, docs=docs)
    assert second.returncode == 1
    assert "reusing the index" in second.stdout
    assert "embedding:" not in second.stderr  # nothing re-embedded
    assert index_state(index) == built
    assert passages(second.stdout) == passages(first.stdout)
    assert "Traceback" not in second.stderr
    assert "`ollama pull gemma3:1b`" in second.stderr.strip().splitlines()[-1]

    # Changed documents rebuild (and say which); Ollama is down now: passages, a hint, a non-zero exit.
    (docs / retrieved[-1]).write_text("# Changed\n\nThis document was edited.\n")
    (docs / "new-note.txt").write_text("A new note about embeddings.\n")
    down = closed_port_url()
    third = run_app(app, index, "-k", "3", url=down, docs=docs)
    assert third.returncode == 1
    assert f"documents changed (added new-note.txt; modified {retrieved[-1]})" in third.stdout
    assert len(passages(third.stdout)) == 3
    assert "Traceback" not in third.stderr
    assert "ollama serve" in third.stderr.strip().splitlines()[-1]

    # Changed embedding settings rebuild; --retrieval-only needs no Ollama and exits 0.
    fourth = run_app(app, index, "--dimensions", "256", "--retrieval-only", url=down, docs=docs)
    assert fourth.returncode == 0, fourth.stderr
    assert "embedding settings changed (dimensions 768 -> 256)" in fourth.stdout
    assert len(passages(fourth.stdout)) == 4
    assert "\nanswer (" not in fourth.stdout and "hint" not in fourth.stderr


@pytest.mark.parametrize("app", APPS)
def test_embeds_through_ollama_with_titles_in_the_prompt(app, tmp_path):
    with OllamaServer() as server:
        result = run_app(app, tmp_path / "index", "--backend", "ollama", url=server.url, model="embeddinggemma")
        assert result.returncode == 0, result.stderr
        check_answer(result.stdout, SAMPLE_DOCS, server)
    embedded = [text for _, path, body in server.requests if path == "/api/embed" for text in body["input"]]
    titles = {rag_common.document_title(path) for path in rag_common.corpus_files(SAMPLE_DOCS)}
    documents, queries = embedded[:-1], embedded[-1:]
    assert {re.match(r"title: (.*?) \| text: ", text).group(1) for text in documents} == titles
    assert queries == [f"task: search result | query: {rag_common.DEFAULT_QUESTION}"]


@pytest.mark.parametrize("app", APPS)
def test_refuses_to_load_an_index_it_did_not_write(app, tmp_path):
    index = tmp_path / "index"
    index.mkdir()
    marker = tmp_path / "pwned"
    # A pickle that would create `marker` if anything unpickled it.
    payload = pickle.dumps(type("Exploit", (), {"__reduce__": lambda self: (Path.touch, (marker,))})())
    (index / "index.pkl").write_bytes(payload)
    (index / "index.faiss").write_bytes(b"not an index")
    result = run_app(app, index, "--retrieval-only", url=closed_port_url())
    assert result.returncode == 1
    assert "not loading or overwriting" in result.stderr and "Choose another --index-dir" in result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists()


# -- the shared helpers, in process -----------------------------------------------------------------


def test_plan_index_reuses_only_a_matching_index_this_app_wrote(tmp_path):
    folder = tmp_path / "index"
    settings, documents = {"model": "m", "dimensions": 768}, {"a.md": "1", "b.md": "2"}
    assert rag_common.plan_index(folder, "app", settings, documents, rebuild=False).reason.startswith("building")
    rag_common.clear_index(folder, "app")
    (folder / "index.faiss").write_bytes(b"vectors")
    rag_common.write_manifest(folder, "app", settings, documents, chunks=2)

    def plan(**changes):
        args = {"settings": settings, "documents": documents, "rebuild": False, **changes}
        return rag_common.plan_index(folder, "app", args["settings"], args["documents"], rebuild=args["rebuild"])

    assert plan().reuse
    assert not plan(rebuild=True).reuse
    assert plan(settings={**settings, "dimensions": 128}).reason.endswith("(dimensions 768 -> 128)")
    changed = plan(documents={"a.md": "9", "c.md": "3"}).reason
    assert changed.endswith("documents changed (added c.md; modified a.md; removed b.md)")
    with pytest.raises(rag_common.AppError, match="no manifest written by other"):
        rag_common.plan_index(folder, "other", settings, documents, rebuild=True)
    (folder / "index.faiss").write_bytes(b"tampered")
    assert "changed after this app wrote them" in plan().reason
    assert not plan().reuse
    (folder / "notes.txt").write_text("the user's own file")
    with pytest.raises(rag_common.AppError, match=r"files this app did not write \(notes.txt\)"):
        plan(rebuild=True)
    (folder / "notes.txt").unlink()
    rag_common.clear_index(folder, "app")  # deletes what the manifest lists, and the manifest
    assert list(folder.iterdir()) == []
    (folder / "keep.txt").write_text("not ours")
    rag_common.clear_index(folder, "app")
    assert [p.name for p in folder.iterdir()] == ["keep.txt"]


def test_corpus_titles_and_fingerprint(tmp_path):
    assert len(rag_common.corpus_files(SAMPLE_DOCS)) >= 30
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "my_notes-file.txt").write_text("no heading here\n")
    (tmp_path / "a.md").write_text("intro\n# The Title\ntext\n")
    (tmp_path / ".hidden.md").write_text("# hidden\n")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    files = rag_common.corpus_files(tmp_path)
    assert [rag_common.source_name(f, tmp_path) for f in files] == ["a.md", "sub/my_notes-file.txt"]
    assert [rag_common.document_title(f) for f in files] == ["The Title", "My notes file"]
    before = rag_common.fingerprint(files, tmp_path)
    (tmp_path / "a.md").write_text("changed\n")
    assert rag_common.fingerprint(files, tmp_path)["a.md"] != before["a.md"]
    with pytest.raises(rag_common.AppError, match="is not a folder"):
        rag_common.corpus_files(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(rag_common.AppError, match="holds no .md or .txt files"):
        rag_common.corpus_files(empty)


def test_llm_hint_names_the_fix():
    import httpx
    import ollama

    assert "`ollama pull gemma3:1b`" in rag_common.llm_hint(ollama.ResponseError("x", 404), "gemma3:1b", "u")
    assert "`ollama serve`" in rag_common.llm_hint(ConnectionError("refused"), "gemma3:1b", "u")
    assert "`ollama serve`" in rag_common.llm_hint(httpx.ConnectError("refused"), "gemma3:1b", "u")
    assert rag_common.llm_hint(KeyError("bug"), "gemma3:1b", "u") is None


# -- the real model -----------------------------------------------------------------------------------

KNOWN_QUESTIONS = {
    "Which numeric type makes the model output NaN vectors?": "float16-and-precision.md",
    "What does reciprocal rank fusion do?": "bm25-and-hybrid-search.md",
    "Which port does the local Ollama server listen on?": "ollama.md",
    "Why is it dangerous to open an index.pkl file downloaded from the internet?": "pickle-safety.md",
    "How can I make my vectors smaller without retraining the model?": "matryoshka-embeddings.md",
    "What is a cross-encoder used for?": "reranking.md",
    "How does a recursive splitter decide where to cut a document?": "chunking.md",
}


@requires_real_model
@pytest.mark.real_model
@pytest.mark.parametrize("app", APPS)
def test_real_model_retrieves_the_right_source_and_the_answer_cites_it(app, tmp_path):
    args = ["-k", "3"]
    for question in KNOWN_QUESTIONS:
        args += ["-q", question]
    with OllamaServer() as server:
        result = run_app(app, tmp_path / "index", *args, url=server.url, model=REAL_MODEL)
    assert result.returncode == 0, result.stderr
    blocks = result.stdout.split("\nquestion: ")[1:]
    assert len(blocks) == len(KNOWN_QUESTIONS)
    for block, (question, expected) in zip(blocks, KNOWN_QUESTIONS.items(), strict=True):
        assert block.startswith(question)
        top = passages(block)
        assert top[0][2] == expected, f"{question!r}: got {top}"
        assert 0 < top[0][1] <= 1
        answer = ANSWER.search(block)
        assert answer and answer.group(1) == expected
        assert answer.group(2) in squash((SAMPLE_DOCS / expected).read_text())
