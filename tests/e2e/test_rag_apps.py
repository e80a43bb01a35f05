"""The RAG example apps, run as a user runs them: subprocesses on the sample corpus with the tiny model, talking
to a real loopback Ollama server through the real langchain-ollama and llama-index-llms-ollama clients.

The server's answer is built only from the prompt it receives (it quotes the first passage and cites
every source it saw), so these tests can check that the retrieved passages really reached the LLM.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

# The examples folder is not a package; pytest's pythonpath (pyproject.toml) makes its modules importable.
import rag_corpus
import rag_index
import rag_options
from _support import build_tiny_model, tiny_model_path
from _support.apps import (
    APPS,
    EXAMPLES,
    SAMPLE_DOCS,
    check_answer,
    closed_port_url,
    config_home,
    embedding_bars,
    index_state,
    passages,
    run_app,
)
from _support.ollama import OllamaServer


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
    embedded = [text for body in server.bodies("/api/embed") for text in body["input"]]
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
    env["XDG_CONFIG_HOME"] = str(config_home(ray_index))  # one signing key for the ingest and the app runs
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


@pytest.mark.parametrize("app", APPS)
def test_an_openai_compatible_llm_that_cannot_answer_gets_one_line_and_the_passages(app, tmp_path):
    from _support.openai import OpenAIEmbeddingsServer  # serves no chat model: every chat request is a 404

    index = tmp_path / "index"
    down = run_app(app, index, "--llm-url", f"{closed_port_url()}/v1", "--llm", "some-model", url=closed_port_url())
    assert down.returncode == 1 and "Traceback" not in down.stderr
    assert len(passages(down.stdout)) == 4  # the passages are printed before the LLM is asked
    assert "hint: no chat server answers at" in down.stderr.strip().splitlines()[-1]
    with OpenAIEmbeddingsServer(embed=lambda texts: [[1.0] * 768 for _ in texts]) as server:
        missing = run_app(app, index, "--llm-url", server.url, "--llm", "some-model", url=closed_port_url())
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert len(passages(missing.stdout)) == 4
    assert "has no model 'some-model': pass --llm" in missing.stderr.strip().splitlines()[-1]
    chats = [body for body in server.bodies("/v1/chat/completions")]
    assert chats and all(chat["model"] == "some-model" for chat in chats)
