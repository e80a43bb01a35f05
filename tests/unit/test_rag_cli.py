"""The RAG apps' command line, in process: its options are the settings models' own, an LLM that cannot answer
gets a hint naming the fix, its key comes from the environment, and its citations are checked."""

import pytest

# The examples folder is not a package; pytest's pythonpath (pyproject.toml) makes its modules importable.
import rag_llm
import rag_options


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


def _args(*argv: str):
    return rag_options.parse_args("app", "test", list(argv))


def test_llm_hint_names_the_fix_for_ollama():
    httpx = pytest.importorskip("httpx", reason="the hints name httpx's errors (pip install -e '.[examples]')")
    ollama = pytest.importorskip("ollama", reason="the hints name ollama's errors (pip install -e '.[examples]')")
    args = _args("--ollama-url", "http://u")

    assert "`ollama pull gemma3:1b`" in rag_llm.llm_hint(ollama.ResponseError("x", 404), args, "gemma3:1b")
    assert "`ollama serve`" in rag_llm.llm_hint(ConnectionError("refused"), args, "gemma3:1b")
    assert "`ollama serve`" in rag_llm.llm_hint(httpx.ConnectError("refused"), args, "gemma3:1b")
    assert rag_llm.llm_hint(KeyError("bug"), args, "gemma3:1b") is None


def test_llm_hint_names_the_fix_for_an_openai_compatible_server():
    httpx = pytest.importorskip("httpx", reason="the hints name httpx's errors (pip install -e '.[examples]')")
    openai = pytest.importorskip("openai", reason="the hints name openai's errors (pip install -e '.[examples]')")
    args = _args("--llm-url", "http://127.0.0.1:9/v1")
    request = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")

    def status(cls, code):
        return cls("x", response=httpx.Response(code, request=request), body=None)

    down = rag_llm.llm_hint(openai.APIConnectionError(request=request), args, "m")
    assert "no chat server answers at http://127.0.0.1:9/v1" in down and "--retrieval-only" in down
    assert "has no model 'm'" in rag_llm.llm_hint(status(openai.NotFoundError, 404), args, "m")
    assert "refused the API key: set LLM_API_KEY" in rag_llm.llm_hint(
        status(openai.AuthenticationError, 401), args, "m"
    )
    assert rag_llm.llm_hint(KeyError("bug"), args, "m") is None


def test_the_api_key_comes_from_the_environment(monkeypatch):
    for name in rag_llm.API_KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert rag_llm.api_key() == rag_llm.NO_KEY
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    assert rag_llm.api_key() == "sk-openai"
    monkeypatch.setenv("LLM_API_KEY", "sk-llm")
    assert rag_llm.api_key() == "sk-llm"


@pytest.mark.parametrize(
    ("answer", "line"),
    [
        ("Port 11434 [ollama.md].", "citations: 1 of 1 among the retrieved passages ([ollama.md])"),
        (
            "See [ollama.md] and [made-up.md], also [source: faiss.md].",
            "citations: 2 of 3 among the retrieved passages ([ollama.md], [faiss.md]); not retrieved: [made-up.md]",
        ),
        ("No brackets at all.", "citations: none (the answer names no [source])"),
        ("[notes.txt] [1] [x]", "citations: 0 of 1 among the retrieved passages; not retrieved: [notes.txt]"),
    ],
)
def test_the_citations_line_says_which_sources_were_retrieved(answer, line):
    assert rag_llm.citations_line(answer, ["ollama.md", "faiss.md", "chunking.md"]) == line
