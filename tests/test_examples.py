"""The RAG example apps, run as a user runs them: subprocesses on the sample corpus, talking to a real
loopback Ollama server through the real langchain-ollama and llama-index-llms-ollama clients.

The server's answer is built only from the prompt it receives (it quotes the first passage and cites
every source it saw), so these tests can check that the retrieved passages really reached the LLM.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REAL_MODEL, build_tiny_model, tiny_model_path
from ollama_server import OllamaServer
from served_backends import unused_port

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SAMPLE_DOCS = EXAMPLES / "sample_docs"
APPS = ["langchain_rag", "llama_index_rag"]
# Where each app keeps the chunk texts: JSON that a tampered folder can change.
DOCSTORE = {"langchain_rag": "chunks.json", "llama_index_rag": "docstore.json"}
# The examples folder is not a package; pytest's pythonpath (pyproject.toml) makes its modules importable.
import rag_corpus  # noqa: E402
import rag_index  # noqa: E402
import rag_options  # noqa: E402
import rag_output  # noqa: E402

PASSAGE = re.compile(r"^  (\d+)\. (-?\d+\.\d+)  \[([^\]]+)\] ", re.MULTILINE)
ANSWER = re.compile(r"According to \[([^\]]+)\], (.*?) Sources: (.*)\.$", re.MULTILINE)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01"


def run_app(app: str, index_dir: Path, *args: str, url: str, docs: Path = SAMPLE_DOCS, model: str | None = None):
    command = [sys.executable, str(EXAMPLES / f"{app}.py"), "--docs", str(docs), "--index-dir", str(index_dir)]
    command += ["--model", model or tiny_model_path(), "--ollama-url", url, *args]
    if "--cache-dir" not in args and "--no-cache" not in args:  # never the user's cache: one beside the index
        command += ["--cache-dir", f"{index_dir}-vectors"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run(command, capture_output=True, text=True, timeout=900, env=env, check=False)


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


class _Exploit:
    """Unpickling this creates ``marker``: proof that something loaded a pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def malicious_pickle(marker: Path) -> bytes:
    payload = pickle.dumps(_Exploit(marker))
    probe = marker.with_name(marker.name + "-probe")
    pickle.loads(pickle.dumps(_Exploit(probe)))  # the payload is live: unpickling it does create the file
    assert probe.exists()
    probe.unlink()
    return payload


def forge_manifest(index: Path, **changes: object) -> None:
    """What anyone who can write the folder can do: make the manifest list their files with their hashes."""
    path = index / rag_index.MANIFEST
    manifest = json.loads(path.read_text())
    files = sorted(p for p in index.iterdir() if p.name != rag_index.MANIFEST)
    manifest["index_files"] = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    manifest.update(changes)
    path.write_text(json.dumps(manifest))


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), result.stderr
    return last


# -- the apps, end to end ----------------------------------------------------------------------------


@pytest.mark.parametrize("app", APPS)
def test_answers_from_retrieved_passages_reuses_and_rebuilds_the_index_and_hints(app, tmp_path):
    docs = tmp_path / "docs"
    shutil.copytree(SAMPLE_DOCS, docs)
    index = tmp_path / "index"
    with OllamaServer() as server:
        first = run_app(app, index, "-k", "3", url=server.url, docs=docs)
        assert first.returncode == 0, first.stderr
        assert "building a new index" in first.stdout
        chunks = int(re.search(r"index: embedded (\d+) of \1 chunks \(0 from the cache", first.stdout).group(1))
        assert embedding_bars(first.stderr), first.stderr  # the adapter's progress bar, while indexing
        retrieved = check_answer(first.stdout, docs, server)
        assert len(retrieved) == 3
        assert (index / rag_index.MANIFEST).is_file()
        assert not list(index.glob("*.pkl"))
        built = index_state(index)

    # The re-run reuses the index; this Ollama has not pulled the LLM: passages, the pull hint, exit 1.
    with OllamaServer(models=("embeddinggemma:latest",)) as server:
        second = run_app(app, index, "-k", "3", url=server.url, docs=docs)
    assert second.returncode == 1
    assert "reusing the index" in second.stdout
    assert not embedding_bars(second.stderr), second.stderr  # nothing re-embedded, no bar for the query
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
    # Only the chunks of the two changed documents (one each) reached the model; the rest came from the cache.
    embedded, total, cached = map(
        int, re.search(r"embedded (\d+) of (\d+) chunks \((\d+) from the cache", third.stdout).groups()
    )
    assert (embedded, cached) == (2, total - 2) and total >= chunks, third.stdout
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
        result = run_app(
            app,
            tmp_path / "index",
            "--backend",
            "ollama",
            "--tokenizer",
            tiny_model_path(),
            url=server.url,
            model="embeddinggemma",
        )
        assert result.returncode == 0, result.stderr
        check_answer(result.stdout, SAMPLE_DOCS, server)
    embedded = [text for _, path, body in server.requests if path == "/api/embed" for text in body["input"]]
    titles = {document.title for document in rag_corpus.load_corpus(SAMPLE_DOCS)}
    documents, queries = embedded[:-1], embedded[-1:]
    assert {re.match(r"title: (.*?) \| text: ", text).group(1) for text in documents} == titles
    assert queries == [f"task: search result | query: {rag_options.DEFAULT_QUESTION}"]


@pytest.mark.parametrize("app", APPS)
def test_new_weights_or_another_engine_rebuild_the_index(app, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_path(), model, ignore=shutil.ignore_patterns("quantized"))
    index, down = tmp_path / "index", closed_port_url()
    first = run_app(app, index, "--retrieval-only", url=down, model=str(model))
    assert "building a new index" in first.stdout, first.stderr
    assert "reusing the index" in run_app(app, index, "--retrieval-only", url=down, model=str(model)).stdout
    build_tiny_model(model, seed=1)  # other weights saved over the same folder, as after a fine-tune
    retrained = run_app(app, index, "--retrieval-only", url=down, model=str(model))
    assert retrained.returncode == 0, retrained.stderr
    assert "rebuilding" in retrained.stdout and "embedding settings changed (content " in retrained.stdout
    torch_engine = run_app(app, index, "--retrieval-only", "--engine", "torch", url=down, model=str(model))
    assert torch_engine.returncode == 0, torch_engine.stderr
    assert "embedding settings changed (engine 'onnxruntime' -> 'torch'" in torch_engine.stdout


@pytest.mark.parametrize("app", APPS)
def test_an_index_built_on_ray_is_loaded_unchanged_and_answers_as_one_built_in_process(app, tmp_path):
    pytest.importorskip("ray.data")
    ray_index, local_index = tmp_path / "ray-index", tmp_path / "local-index"
    command = [sys.executable, str(EXAMPLES / "ray_ingest.py"), "--app", app, "--docs", str(SAMPLE_DOCS)]
    command += ["--index-dir", str(ray_index), "--model", tiny_model_path(), "--no-cache", "--actors", "2"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    ingested = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env, check=False)
    assert ingested.returncode == 0, ingested.stderr[-3000:]
    assert "embedded on Ray (2 actor(s))" in ingested.stdout
    down = closed_port_url()
    from_ray = run_app(app, ray_index, "--retrieval-only", "--no-cache", "-k", "5", url=down)
    assert from_ray.returncode == 0, from_ray.stderr
    assert "reusing the index" in from_ray.stdout  # the app's own manifest check accepted it: nothing re-embedded
    assert not embedding_bars(from_ray.stderr)
    in_process = run_app(app, local_index, "--retrieval-only", "--no-cache", "-k", "5", url=down)
    assert "building a new index" in in_process.stdout
    assert passages(from_ray.stdout) == passages(in_process.stdout) and len(passages(in_process.stdout)) == 5


# -- never unpickle ------------------------------------------------------------------------------------


@pytest.mark.parametrize("app", APPS)
def test_refuses_to_load_an_index_it_did_not_write(app, tmp_path):
    index = tmp_path / "index"
    index.mkdir()
    marker = tmp_path / "pwned"
    (index / "index.pkl").write_bytes(malicious_pickle(marker))
    (index / "index.faiss").write_bytes(b"not an index")
    result = run_app(app, index, "--retrieval-only", url=closed_port_url())
    error = one_line_error(result)
    assert "not loading or overwriting" in error and "Choose another --index-dir" in error
    assert not marker.exists()


@pytest.mark.parametrize("app", APPS)
def test_a_pickle_in_the_index_folder_never_runs_even_with_a_forged_manifest(app, tmp_path):
    index, marker, down = tmp_path / "index", tmp_path / "pwned", closed_port_url()
    built = run_app(app, index, "--retrieval-only", url=down)
    assert built.returncode == 0, built.stderr

    # A manifest of the current format that lists the pickle with its true hash: the app loads only the
    # files it reads (JSON and FAISS's format) and never opens index.pkl.
    (index / "index.pkl").write_bytes(malicious_pickle(marker))
    forge_manifest(index)
    reused = run_app(app, index, "--retrieval-only", url=down)
    assert reused.returncode == 0, reused.stderr
    assert "reusing the index" in reused.stdout
    assert passages(reused.stdout) == passages(built.stdout)
    assert not marker.exists()

    # A manifest forged as the older format (whose LangChain index was a pickle): rebuilt, never loaded;
    # the rebuild deletes only what that manifest lists.
    forge_manifest(index, format=1)
    rebuilt = run_app(app, index, "--retrieval-only", url=down)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "written by an older version of this app (not loading it)" in rebuilt.stdout
    assert not (index / "index.pkl").exists()
    assert not marker.exists()


@pytest.mark.parametrize("app", APPS)
def test_a_tampered_docstore_yields_wrong_text_and_runs_no_code(app, tmp_path):
    index, marker, down = tmp_path / "index", tmp_path / "pwned", closed_port_url()
    built = run_app(app, index, "--retrieval-only", "-k", "1", url=down)
    assert built.returncode == 0, built.stderr
    top = passages(built.stdout)[0][2]

    docstore = index / DOCSTORE[app]
    docstore.write_text(replace_texts(json.loads(docstore.read_text()), top, "TAMPERED text planted in the index."))
    forge_manifest(index)
    tampered = run_app(app, index, "--retrieval-only", "-k", "1", url=down)
    assert tampered.returncode == 0, tampered.stderr
    assert "reusing the index" in tampered.stdout
    assert passages(tampered.stdout)[0][2] == top
    assert "TAMPERED text planted in the index." in tampered.stdout  # wrong text: the worst it can do

    docstore.write_bytes(malicious_pickle(marker))  # a pickle where the app expects JSON
    forge_manifest(index)
    error = one_line_error(run_app(app, index, "--retrieval-only", url=down))
    assert f"cannot load the index in {index}" in error and "--rebuild" in error
    assert not marker.exists()


def replace_texts(value: object, source: str, text: str) -> str:
    """The docstore JSON with the text of every chunk of ``source`` replaced (either app's layout)."""

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str) and (node.get("metadata") or {}).get("source") == source:
                node["text"] = text
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(value)
    return json.dumps(value)


# -- never leave --docs --------------------------------------------------------------------------------


@pytest.mark.parametrize("app", APPS)
def test_indexes_only_text_files_inside_docs_unless_told_to_follow_links(app, tmp_path):
    docs, index, down = tmp_path / "docs", tmp_path / "index", closed_port_url()
    docs.mkdir()
    shutil.copy(SAMPLE_DOCS / "ollama.md", docs)
    shutil.copy(SAMPLE_DOCS / "reranking.md", docs)
    secret = tmp_path / "secret.txt"
    secret.write_text("# Secret\n\nSECRET-TOKEN-42 lives outside the docs folder.\n")
    (docs / "x.md").symlink_to(secret)
    (docs / "same.md").symlink_to(docs / "ollama.md")  # a link inside --docs is fine
    (docs / "image.md").write_bytes(PNG)

    result = run_app(app, index, "--retrieval-only", "-k", "50", url=down, docs=docs)
    assert result.returncode == 0, result.stderr
    assert "skipped 1 link pointing outside --docs: x.md (pass --follow-links" in result.stderr
    assert "skipped image.md: not UTF-8 text (byte 0x89 at offset 0)" in result.stderr
    assert sources(result.stdout) == {"ollama.md", "reranking.md", "same.md"}
    assert not any(b"SECRET-TOKEN-42" in path.read_bytes() for path in index.iterdir())

    followed = run_app(app, index, "--retrieval-only", "-k", "50", "--follow-links", url=down, docs=docs)
    assert followed.returncode == 0, followed.stderr
    assert "documents changed (added x.md)" in followed.stdout
    assert "pointing outside" not in followed.stderr
    assert sources(followed.stdout) == {"ollama.md", "reranking.md", "same.md", "x.md"}
    assert "SECRET-TOKEN-42" in followed.stdout


@pytest.mark.parametrize("app", APPS)
def test_a_docs_folder_with_nothing_readable_is_one_clear_error(app, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "image.md").write_bytes(PNG)
    result = run_app(app, tmp_path / "index", "--retrieval-only", url=closed_port_url(), docs=docs)
    error = one_line_error(result)
    assert "none of its .md/.txt files can be indexed" in error
    assert "skipped image.md" in result.stderr
    assert not (tmp_path / "index").exists()


# -- the helpers, in process ---------------------------------------------------------------------------


def test_plan_index_reuses_only_a_matching_index_this_app_wrote(tmp_path):
    folder = tmp_path / "index"
    settings, documents = {"model": "m", "dimensions": 768}, {"a.md": "1", "b.md": "2"}
    assert rag_index.plan_index(folder, "app", settings, documents, rebuild=False).reason.startswith("building")
    rag_index.clear_index(folder, "app")
    (folder / "index.faiss").write_bytes(b"vectors")
    rag_index.write_manifest(folder, "app", settings, documents, chunks=2)

    def plan(**changes):
        args = {"settings": settings, "documents": documents, "rebuild": False, **changes}
        return rag_index.plan_index(folder, "app", args["settings"], args["documents"], rebuild=args["rebuild"])

    assert plan().reuse
    assert not plan(rebuild=True).reuse
    assert plan(settings={**settings, "dimensions": 128}).reason.endswith("(dimensions 768 -> 128)")
    changed = plan(documents={"a.md": "9", "c.md": "3"}).reason
    assert changed.endswith("documents changed (added c.md; modified a.md; removed b.md)")
    with pytest.raises(rag_output.AppError, match="no manifest written by other"):
        rag_index.plan_index(folder, "other", settings, documents, rebuild=True)
    (folder / "index.faiss").write_bytes(b"tampered")
    assert "changed after this app wrote them" in plan().reason
    assert not plan().reuse
    (folder / "notes.txt").write_text("the user's own file")
    with pytest.raises(rag_output.AppError, match=r"files this app did not write \(notes.txt\)"):
        plan(rebuild=True)
    (folder / "notes.txt").unlink()
    rag_index.clear_index(folder, "app")  # deletes what the manifest lists, and the manifest
    assert list(folder.iterdir()) == []
    (folder / "keep.txt").write_text("not ours")
    rag_index.clear_index(folder, "app")
    assert [p.name for p in folder.iterdir()] == ["keep.txt"]


def test_a_forged_manifest_cannot_make_a_rebuild_delete_outside_the_index_folder(tmp_path):
    folder, outside = tmp_path / "index", tmp_path / "precious.txt"
    folder.mkdir()
    outside.write_text("the user's file")
    for name in ("../precious.txt", str(outside)):
        manifest = {"app": "app", "format": rag_index.MANIFEST_FORMAT, "settings": {}, "documents": {}}
        manifest["index_files"] = {name: "0"}
        (folder / rag_index.MANIFEST).write_text(json.dumps(manifest))
        with pytest.raises(rag_output.AppError, match="no manifest written by app"):
            rag_index.plan_index(folder, "app", {}, {}, rebuild=True)
        rag_index.clear_index(folder, "app")  # a malformed manifest: only the manifest itself goes
        assert outside.read_text() == "the user's file"
    (folder / "index.faiss").write_bytes(b"vectors")
    manifest["index_files"] = {"index.faiss": "0"}
    (folder / rag_index.MANIFEST).write_text(json.dumps(manifest))
    rag_index.clear_index(folder, "app")  # a plain name it lists goes
    assert list(folder.iterdir()) == [] and outside.exists()


def test_index_settings_are_the_adapters_vector_identity_and_the_splitters_settings(tmp_path):
    from langchain_embeddinggemma import EmbeddingGemmaEmbeddings, EmbeddingGemmaTextSplitter
    from llama_index_embeddinggemma import EmbeddingGemmaEmbedding, EmbeddingGemmaNodeParser

    model = tiny_model_path()
    langchain = EmbeddingGemmaEmbeddings(model=model, dimensions=256, query_prompt="q: ")
    llama_index = EmbeddingGemmaEmbedding(model_name=model, dimensions=256, query_prompt="q: ")
    splitter = EmbeddingGemmaTextSplitter.from_embeddings(langchain, chunk_size=100)
    parser = EmbeddingGemmaNodeParser.from_embedding(llama_index, chunk_size=100)
    settings = rag_index.index_settings(langchain, splitter)
    assert settings == rag_index.index_settings(llama_index, parser)
    assert settings["vectors"] == langchain.cache_namespace() and len(settings["content"]) == 16
    assert settings["dimensions"] == 256 and settings["prompts"][0] == "q: " and settings["chunk_size"] == 100
    assert settings["engine"] == "onnxruntime" and settings["quantization"] is None
    assert json.loads(json.dumps(settings)) == settings  # the manifest stores them as JSON
    other_engine = EmbeddingGemmaEmbeddings(model=model, dimensions=256, query_prompt="q: ", engine="torch")
    changed = rag_index.index_settings(other_engine, splitter)
    assert changed["vectors"] != settings["vectors"] and changed["engine"] == "torch"


def test_the_options_are_the_settings_models_own(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("EMBEDDINGGEMMA_MODEL", raising=False)
    args = rag_options.parse_args(
        "app", "test", ["--docs", str(tmp_path), "--dimensions", "256", "--chunk-size", "100"]
    )
    assert args.embedding == {"dimensions": 256, "cache": args.vector_cache}  # only what was given
    assert args.chunking == {"chunk_size": 100}
    args = rag_options.parse_args("app", "test", ["--backend", "ollama", "--embedding-url", "http://h:1"])
    assert "model" not in args.embedding and args.embedding["base_url"] == "http://h:1"  # the adapter names the tag
    monkeypatch.setenv("EMBEDDINGGEMMA_MODEL", str(tmp_path))
    assert rag_options.parse_args("app", "test", []).embedding["model"] == str(tmp_path)
    for argv, message in (
        (["--chunk-size", "64", "--chunk-overlap", "64"], "chunk_overlap=64 must be smaller than chunk_size=64"),
        (["--chunk-size", "4096"], "chunk_size=4096 is more than EmbeddingGemma's 2048 tokens"),
        (["--dimensions", "100"], "invalid choice: 100"),
        (["--quantization", "q2"], "invalid choice: 'q2'"),
    ):
        with pytest.raises(SystemExit):
            rag_options.parse_args("app", "test", argv)
        assert message in capsys.readouterr().err


def test_load_corpus_reads_text_files_with_titles(tmp_path, capsys):
    assert len(rag_corpus.load_corpus(SAMPLE_DOCS)) >= 30
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "my_notes-file.txt").write_text("no heading here\n")
    (tmp_path / "a.md").write_bytes("\ufeffintro\n# The Title\ntext\n".encode())  # a byte-order mark
    (tmp_path / ".hidden.md").write_text("# hidden\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "notes.md").write_text("# hidden too\n")
    (tmp_path / "image.png").write_bytes(PNG)
    corpus = rag_corpus.load_corpus(tmp_path)
    assert [(doc.source, doc.title) for doc in corpus] == [
        ("a.md", "The Title"),
        ("sub/my_notes-file.txt", "My notes file"),
    ]
    assert corpus[0].text == "intro\n# The Title\ntext\n"
    before = rag_corpus.fingerprint(corpus)
    assert before["a.md"] == hashlib.sha256((tmp_path / "a.md").read_bytes()).hexdigest()
    (tmp_path / "a.md").write_text("changed\n")
    assert rag_corpus.fingerprint(rag_corpus.load_corpus(tmp_path))["a.md"] != before["a.md"]
    assert capsys.readouterr().err == ""  # nothing skipped, nothing said


def test_load_corpus_skips_links_outside_docs_and_names_them(tmp_path, capsys):
    docs, outside = tmp_path / "docs", tmp_path / "outside"
    docs.mkdir()
    outside.mkdir()
    (outside / "private.md").write_text("# Private\n")
    (docs / "a.md").write_text("# A\n")
    (docs / "sub").mkdir()
    (docs / "sub" / "b.md").write_text("# B\n")
    (docs / "x.md").symlink_to("/etc/passwd")
    (docs / "linked").symlink_to(outside)  # a folder link
    (docs / "sub" / "up.md").symlink_to("../../outside/private.md")
    (docs / "inside.md").symlink_to("sub/b.md")  # links inside --docs are fine
    (docs / "more").mkdir()
    (docs / "more" / "c.md").write_text("# C\n")
    (docs / "again").symlink_to(docs / "more")
    (docs / "more" / "loop").symlink_to(docs)  # a loop: not walked again
    (docs / "photo.png").symlink_to("/etc/passwd")  # not a document: not counted

    corpus = rag_corpus.load_corpus(docs)
    assert [doc.source for doc in corpus] == ["a.md", "again/c.md", "inside.md", "more/c.md", "sub/b.md"]
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "note: skipped 3 links pointing outside --docs: linked, sub/up.md, x.md (pass --follow-links" in err

    followed = rag_corpus.load_corpus(docs, follow_links=True)
    assert {"x.md", "linked/private.md", "sub/up.md"} <= {doc.source for doc in followed}
    assert "pointing outside" not in capsys.readouterr().err


def test_load_corpus_skips_files_that_are_not_text_and_names_each(tmp_path, capsys):
    (tmp_path / "good.md").write_text("# Good\n")
    (tmp_path / "image.md").write_bytes(PNG)
    (tmp_path / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    (tmp_path / "nul.md").write_text("text\x00with a NUL\n")
    (tmp_path / "empty.txt").write_text("  \n")
    assert [doc.source for doc in rag_corpus.load_corpus(tmp_path)] == ["good.md"]
    notes = capsys.readouterr().err.splitlines()
    assert notes == [
        "note: skipped empty.txt: it holds no text",
        "note: skipped image.md: not UTF-8 text (byte 0x89 at offset 0); save it as UTF-8 to index it",
        "note: skipped latin1.txt: not UTF-8 text (byte 0xe9 at offset 3); save it as UTF-8 to index it",
        "note: skipped nul.md: binary data (it holds NUL bytes), not text",
    ]
    (tmp_path / "good.md").unlink()
    with pytest.raises(rag_output.AppError, match="none of its .md/.txt files can be indexed"):
        rag_corpus.load_corpus(tmp_path)


def test_load_corpus_refuses_a_folder_without_documents(tmp_path):
    with pytest.raises(rag_output.AppError, match="is not a folder"):
        rag_corpus.load_corpus(tmp_path / "missing")
    with pytest.raises(rag_output.AppError, match="holds no .md or .txt files"):
        rag_corpus.load_corpus(tmp_path)
    (tmp_path / "x.md").symlink_to("/etc/passwd")
    with pytest.raises(rag_output.AppError, match="none of its .md/.txt files can be indexed"):
        rag_corpus.load_corpus(tmp_path)


def test_llm_hint_names_the_fix():
    import httpx
    import ollama

    assert "`ollama pull gemma3:1b`" in rag_output.llm_hint(ollama.ResponseError("x", 404), "gemma3:1b", "u")
    assert "`ollama serve`" in rag_output.llm_hint(ConnectionError("refused"), "gemma3:1b", "u")
    assert "`ollama serve`" in rag_output.llm_hint(httpx.ConnectError("refused"), "gemma3:1b", "u")
    assert rag_output.llm_hint(KeyError("bug"), "gemma3:1b", "u") is None


OUR_PACKAGES = {"embeddinggemma", "langchain_embeddinggemma", "llama_index_embeddinggemma"}
PUBLIC_MODULES = OUR_PACKAGES | {"embeddinggemma.ray", "embeddinggemma.cli"}
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


@pytest.mark.real_model
@pytest.mark.parametrize("app", APPS)
def test_real_model_retrieves_the_right_source_and_the_answer_cites_it(app, tmp_path):
    questions = {**KNOWN_QUESTIONS, **CROSS_LINGUAL_QUESTIONS}
    args = ["-k", "3"]
    for question in questions:
        args += ["-q", question]
    with OllamaServer() as server:
        result = run_app(app, tmp_path / "index", *args, url=server.url, model=REAL_MODEL)
    assert result.returncode == 0, result.stderr
    blocks = result.stdout.split("\nquestion: ")[1:]
    assert len(blocks) == len(questions)
    for block, (question, expected) in zip(blocks, questions.items(), strict=True):
        assert block.startswith(question)
        top = passages(block)
        assert top[0][2] == expected, f"{question!r}: got {top}"
        assert 0 < top[0][1] <= 1
        if question in CROSS_LINGUAL_QUESTIONS:
            assert top[0][1] - top[1][1] > 0.05, f"{question!r}: no clear winner in {top}"
            continue
        answer = ANSWER.search(block)
        assert answer and answer.group(1) == expected
        assert answer.group(2) in squash((SAMPLE_DOCS / expected).read_text())
