"""backend="openai": any OpenAI-compatible /v1/embeddings server, driven over real loopback HTTP."""

from __future__ import annotations

import asyncio
import re
import warnings

import numpy as np
import pytest
from _support.backends import heartbeat, unused_port
from _support.openai import OpenAIEmbeddingsServer

from embeddinggemma import (
    Embedder,
    EmbeddingSettings,
    ModelLoadError,
    OutputCheckError,
    ServerError,
    ServerUnavailableError,
    TruncationError,
)


@pytest.fixture(scope="module")
def raw_encode(tiny_model):
    """What a server running the same weights computes: the raw model, no prompts, no normalising."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(tiny_model, device="cpu")

    def encode(texts: list[str]) -> np.ndarray:
        return model.encode(texts, convert_to_numpy=True, normalize_embeddings=False) * 3.0

    return encode


@pytest.fixture
def server(raw_encode):
    with OpenAIEmbeddingsServer(embed=raw_encode) as running:
        yield running


def remote(server, **settings) -> Embedder:
    settings.setdefault("max_retries", 2)
    return Embedder(backend="openai", base_url=server.url, **settings)


def local(tiny_model, **settings) -> Embedder:
    return Embedder(model=tiny_model, device="cpu", dtype="float32", **settings)


TEXTS = [f"document number {i} about planets and moons" for i in range(70)]


def test_same_vectors_as_local_with_prompts_on_the_wire(server, tiny_model):
    titles = ["Mars"] + [None] * 69
    got = remote(server, dimensions=256).embed(TEXTS, titles=titles)
    want = local(tiny_model, dimensions=256).embed(TEXTS, titles=titles)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0)
    sent = [text for body in server.bodies() for text in body["input"]]
    assert sent[0] == "title: Mars | text: document number 0 about planets and moons"
    assert sent[1] == "title: none | text: document number 1 about planets and moons"
    query = remote(server).embed_query("which planet is red?")
    assert server.bodies()[-1]["input"] == ["task: search result | query: which planet is red?"]
    np.testing.assert_allclose(query, local(tiny_model).embed_query("which planet is red?"), atol=1e-5)


def test_requests_carry_at_most_32_raw_texts_in_order(server, tiny_model):
    remote(server, batch_size=64).embed(TEXTS)
    assert [len(body["input"]) for body in server.bodies()] == [32, 32, 6]
    assert all(isinstance(text, str) for body in server.bodies() for text in body["input"])
    assert {body["model"] for body in server.bodies()} == {"google/embeddinggemma-300m"}


def test_shuffled_answer_is_reordered_by_index(server, tiny_model):
    server.fail_next("shuffle")
    got = remote(server).embed(TEXTS[:5])
    np.testing.assert_allclose(got, local(tiny_model).embed(TEXTS[:5]), atol=1e-5)


def test_server_input_limit_is_met_by_splitting_never_dropping(raw_encode, tiny_model):
    texts = ["short one", "short two", "short three", "short four", "short five"]
    with OpenAIEmbeddingsServer(embed=raw_encode, max_inputs=2) as server:
        got = remote(server).embed(texts)
        sizes = [len(body["input"]) for body in server.bodies()]
    np.testing.assert_allclose(got, local(tiny_model).embed(texts), atol=1e-5)
    assert sizes == [5, 2, 3, 1, 2]  # refused 5 → halves; refused 3 → halves; every text sent once accepted


def test_overlong_input_is_split_out_and_named(raw_encode, tiny_model):
    texts = ["short", "short again", "x " * 200, "short at the end", "short last"]
    with OpenAIEmbeddingsServer(embed=raw_encode, max_chars=300) as server:
        refused = r"found 1 of 5 inputs longer than its context \(at index 2\), and this package refused them"
        with pytest.raises(TruncationError, match=refused):
            remote(server, truncation="error").embed(texts)
        sizes = [len(body["input"]) for body in server.bodies()]
        assert sizes[0] == 5 and 1 in sizes  # bisected down to the single offending input
        with pytest.raises(TruncationError, match="cannot cut over-long inputs"), warnings.catch_warnings():
            warnings.simplefilter("error")  # no "truncated" warning may precede the refusal
            remote(server, truncation="warn").embed(texts)
        with pytest.raises(TruncationError, match="cannot cut"):
            remote(server, truncation="silent").embed(texts)
        fine = remote(server).embed([texts[0], texts[4]])
    np.testing.assert_allclose(fine, local(tiny_model).embed([texts[0], texts[4]]), atol=1e-5)


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_transient_failures_are_retried(server, status):
    server.fail_next("status", status, times=2)
    assert len(remote(server, max_retries=2).embed(["a", "b"])) == 2
    assert len(server.requests) == 3


def test_retries_give_up_with_the_servers_answer(server):
    server.fail_next("status", 503, times=3)
    with pytest.raises(ServerError, match="answered 503: injected failure 503"):
        remote(server, max_retries=2).embed(["a"])
    assert len(server.requests) == 3


@pytest.mark.parametrize("status", [400, 422])
def test_input_errors_are_not_retried(server, status):
    server.fail_next("status", status, times=5)
    with pytest.raises(ServerError, match=f"answered {status}"):
        remote(server, max_retries=3).embed(["a"])
    assert len(server.requests) == 1


def test_dropped_connection_is_retried(server, tiny_model):
    server.fail_next("reset")
    got = remote(server).embed(["a", "b"])
    np.testing.assert_allclose(got, local(tiny_model).embed(["a", "b"]), atol=1e-5)
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("kind", "value", "error", "match"),
    [
        ("count", None, ServerError, "returned 2 vectors for 3 inputs"),
        ("width", 512, ServerError, r"width \[512\]; EmbeddingGemma gives 768"),
        ("nan", None, OutputCheckError, r"NaN/inf vectors for inputs \[0\]"),
        ("zero", None, OutputCheckError, r"zero vectors for inputs \[0\]"),
    ],
)
def test_bad_answers_are_errors_never_misaligned_vectors(server, kind, value, error, match):
    server.fail_next(kind, value)
    with pytest.raises(error, match=match):
        remote(server).embed(["a", "b", "c"])


def test_server_down_names_the_url_and_how_to_start_it():
    url = f"http://127.0.0.1:{unused_port()}/v1"
    expected = rf"could not connect to the embeddings server at {url}\. Start the server"
    with pytest.raises(ServerUnavailableError, match=expected):
        Embedder(backend="openai", base_url=url).embed(["a"])


async def test_server_down_async():
    url = f"http://127.0.0.1:{unused_port()}/v1"
    with pytest.raises(ServerUnavailableError, match="could not connect"):
        await Embedder(backend="openai", base_url=url).aembed(["a"])


def test_slow_server_times_out_with_advice(server):
    server.delay = 1.5
    with pytest.raises(ServerError, match=r"did not answer within timeout=0.3s"):
        remote(server, timeout=0.3, max_retries=0).embed(["a"])


def test_wrong_path_is_a_clear_404(server):
    with pytest.raises(ModelLoadError, match="answered 404.*check base_url="):
        Embedder(backend="openai", base_url=server.url.removesuffix("/v1")).embed(["a"])


def test_api_key_is_sent_and_never_shown(raw_encode):
    secret = "sk-test-0123456789"
    with OpenAIEmbeddingsServer(embed=raw_encode, api_key=secret) as server:
        with pytest.raises(ServerError, match="refused the credentials") as refused:
            Embedder(backend="openai", base_url=server.url).embed(["a"])
        settings = EmbeddingSettings(backend="openai", base_url=server.url, api_key=secret)
        embedder = Embedder(settings)
        assert len(embedder.embed(["a"])) == 1
        assert server.headers[-1]["Authorization"] == f"Bearer {secret}"
        shown = " ".join(
            [repr(settings), str(settings), settings.model_dump_json(), repr(embedder.runtime), str(refused.value)]
        )
        assert secret not in shown


async def test_async_is_native_bounded_and_ordered(server, tiny_model):
    server.delay = 0.2
    embedder = remote(server, batch_size=4, max_concurrency=3)
    async with heartbeat() as beat:
        got = await embedder.aembed(TEXTS[:40])
    np.testing.assert_allclose(got, local(tiny_model).embed(TEXTS[:40]), atol=1e-5)
    assert len(server.requests) == 10
    assert server.peak_in_flight == 3
    assert beat.ticks > 10  # the event loop kept running while requests were in flight


def test_adapters_keep_the_api_key_secret(raw_encode):
    from langchain_embeddinggemma import EmbeddingGemmaEmbeddings
    from llama_index_embeddinggemma import EmbeddingGemmaEmbedding

    secret = "sk-adapter-9876543210"
    with OpenAIEmbeddingsServer(embed=raw_encode, api_key=secret) as server:
        lc = EmbeddingGemmaEmbeddings(backend="openai", base_url=server.url, api_key=secret)
        li = EmbeddingGemmaEmbedding(backend="openai", base_url=server.url, api_key=secret)
        assert len(lc.embed_query("a")) == 768 and len(li.get_query_embedding("a")) == 768
    assert server.headers[-1]["Authorization"] == f"Bearer {secret}"
    shown = " ".join([repr(lc), str(lc.model_dump()), repr(li), str(li.to_dict()), li.to_json()])
    assert secret not in shown


async def test_the_concurrency_bound_holds_across_calls_on_one_object(server):
    server.delay = 0.2
    embedder = remote(server, max_concurrency=2)
    await asyncio.gather(*(embedder.aembed_query(f"q{i}") for i in range(12)))
    assert len(server.requests) == 12
    assert server.peak_in_flight == 2


def test_client_kwargs_reach_the_http_client(server):
    remote(server, client_kwargs={"headers": {"X-Trace": "abc"}}).embed(["a"])
    assert server.headers[-1]["X-Trace"] == "abc"


async def test_async_progress_bar_counts_every_text(server, capsys):
    await remote(server, batch_size=4, show_progress=True).aembed(TEXTS[:10])
    assert "10/10" in capsys.readouterr().err


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_retry_after_is_honoured(server, asynchronous):
    server.fail_next("retry_after", 1)
    embedder = remote(server, max_retries=1)
    got = await embedder.aembed(["a"]) if asynchronous else embedder.embed(["a"])
    assert len(got) == 1 and len(server.request_times) == 2
    assert server.request_times[1] - server.request_times[0] >= 0.95  # waited as told, not the 0.25 s backoff


@pytest.mark.parametrize("asynchronous", [False, True])
@pytest.mark.parametrize(
    "content_type, body",
    [("text/html; charset=utf-8", "<html><body>Login</body></html>"), ("application/json", '{"data": [')],
)
async def test_an_answer_that_is_not_json_names_url_status_type_and_first_bytes(
    server, asynchronous, content_type, body
):
    server.fail_next("raw", (200, content_type, body))
    embedder = remote(server, max_retries=0)
    expected = (
        rf"{server.url}/embeddings answered 200 \({re.escape(content_type)}\) .*not JSON: '{re.escape(body[:10])}"
    )
    with pytest.raises(ServerError, match=expected):
        await embedder.aembed(["a"]) if asynchronous else embedder.embed(["a"])
