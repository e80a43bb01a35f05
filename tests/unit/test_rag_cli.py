"""The RAG apps' command line, in process: its options are the settings models' own, and an LLM that cannot answer
gets a hint naming the fix."""

import pytest

# The examples folder is not a package; pytest's pythonpath (pyproject.toml) makes its modules importable.
import rag_options
import rag_output


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


def test_llm_hint_names_the_fix():
    httpx = pytest.importorskip("httpx", reason="the hints name httpx's errors (pip install -e '.[examples]')")
    ollama = pytest.importorskip("ollama", reason="the hints name ollama's errors (pip install -e '.[examples]')")

    assert "`ollama pull gemma3:1b`" in rag_output.llm_hint(ollama.ResponseError("x", 404), "gemma3:1b", "u")
    assert "`ollama serve`" in rag_output.llm_hint(ConnectionError("refused"), "gemma3:1b", "u")
    assert "`ollama serve`" in rag_output.llm_hint(httpx.ConnectError("refused"), "gemma3:1b", "u")
    assert rag_output.llm_hint(KeyError("bug"), "gemma3:1b", "u") is None
