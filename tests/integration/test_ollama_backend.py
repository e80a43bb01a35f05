"""backend="ollama": the real ``ollama`` client against a loopback server speaking Ollama's REST API."""

from __future__ import annotations

import asyncio
import re
import warnings

import numpy as np
import pytest

pytest.importorskip("ollama", reason="backend='ollama' needs the ollama client (the [ollama] extra)")

from _support.backends import heartbeat, raw_tiny, tiny_token_counts, unused_port  # noqa: E402
from _support.ollama import OllamaServer  # noqa: E402

from embeddinggemma import (  # noqa: E402
    Embedder,
    ModelLoadError,
    ServerError,
    ServerUnavailableError,
    TruncationError,
    TruncationWarning,
)


@pytest.fixture
def server(tiny_model):
    with OllamaServer(embed=raw_tiny, count_tokens=tiny_token_counts) as running:
        yield running


def remote(server, **settings) -> Embedder:
    return Embedder(backend="ollama", base_url=server.url, **settings)


def local(tiny_model, **settings) -> Embedder:
    return Embedder(model=tiny_model, device="cpu", dtype="float32", **settings)


def embed_bodies(server) -> list[dict]:
    return server.bodies("/api/embed")


TEXTS = [f"planet number {i} orbits the sun" for i in range(20)]


def test_same_vectors_as_local_with_prompts_on_the_wire(server, tiny_model):
    titles = ["Mars"] + [None] * 19
    got = remote(server, dimensions=128, keep_alive="10m").embed(TEXTS, titles=titles)
    np.testing.assert_allclose(got, local(tiny_model, dimensions=128).embed(TEXTS, titles=titles), atol=1e-5)
    body = embed_bodies(server)[0]
    assert body["model"] == "embeddinggemma"  # the hub id maps to Ollama's library tag
    assert body["input"][0] == "title: Mars | text: planet number 0 orbits the sun"
    assert body["truncate"] is False  # first try: let the server say whether anything is too long
    assert body["options"] == {"num_ctx": 2048}
    assert body["keep_alive"] == "10m"
    assert "dimensions" not in body  # Matryoshka cut and re-normalisation happen client-side
    query = remote(server).embed_query("red planet")
    assert embed_bodies(server)[-1]["input"] == ["task: search result | query: red planet"]
    np.testing.assert_allclose(query, local(tiny_model).embed_query("red planet"), atol=1e-5)


def test_batches_follow_batch_size_and_keep_order(server, tiny_model):
    got = remote(server, batch_size=8).embed(TEXTS)
    assert [len(body["input"]) for body in embed_bodies(server)] == [8, 8, 4]
    np.testing.assert_allclose(got, local(tiny_model).embed(TEXTS), atol=1e-5)


LONG = "mars venus jupiter saturn " * 40


def test_overlong_input_warns_then_lets_the_server_cut(server, tiny_model):
    texts = ["short", LONG]
    with pytest.warns(TruncationWarning, match=r"found 1 of 2 inputs longer than its context \(at index 1\)"):
        got = remote(server, max_seq_length=64).embed(texts)
    # refused → split until the long input stands alone → all re-sent with truncate=true
    assert [(len(b["input"]), b["truncate"]) for b in embed_bodies(server)] == [
        (2, False),
        (1, False),
        (1, False),
        (2, True),
    ]
    assert {body["options"]["num_ctx"] for body in embed_bodies(server)} == {64}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncationWarning)
        want = local(tiny_model, max_seq_length=64).embed(texts)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_overlong_input_under_error_policy_is_refused(server):
    with pytest.raises(TruncationError, match=r"\(at index 1\), and this package refused them"):
        remote(server, max_seq_length=64, truncation="error").embed(["short", LONG])
    assert all(body["truncate"] is False for body in embed_bodies(server))  # nothing was cut


def test_silent_policy_sends_truncate_true_once(server):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        remote(server, max_seq_length=64, truncation="silent").embed([LONG])
    assert [body["truncate"] for body in embed_bodies(server)] == [True]


def test_missing_model_says_ollama_pull(server):
    with pytest.raises(ModelLoadError, match=r"ollama pull embeddinggemma:300m-qat-q4_0"):
        Embedder(backend="ollama", base_url=server.url, model="embeddinggemma:300m-qat-q4_0").embed(["a"])


def test_server_errors_are_retried_input_errors_are_not(server):
    server.fail_next("status", (500, "llama runner process has terminated"), times=2)
    assert len(remote(server, max_retries=2).embed(["a"])) == 1
    assert len(embed_bodies(server)) == 3
    server.requests.clear()
    server.fail_next("status", (500, "llama runner process has terminated"), times=3)
    with pytest.raises(ServerError, match="answered 500: llama runner process has terminated"):
        remote(server, max_retries=2).embed(["a"])
    assert len(embed_bodies(server)) == 3
    server.requests.clear()
    server.fail_next("status", (400, "invalid input type"), times=3)
    with pytest.raises(ServerError, match="answered 400: invalid input type"):
        remote(server, max_retries=2).embed(["a"])
    assert len(embed_bodies(server)) == 1


def test_server_down_says_ollama_serve():
    url = f"http://127.0.0.1:{unused_port()}"
    expected = rf"could not connect to Ollama at {url}\. Start it with `ollama serve`"
    with pytest.raises(ServerUnavailableError, match=expected):
        Embedder(backend="ollama", base_url=url).embed(["a"])


async def test_server_down_async():
    with pytest.raises(ServerUnavailableError, match="ollama serve"):
        await Embedder(backend="ollama", base_url=f"http://127.0.0.1:{unused_port()}").aembed(["a"])


def test_slow_server_times_out(server):
    server.delay = 1.5
    with pytest.raises(ServerError, match=r"did not answer within timeout=0.3s"):
        remote(server, timeout=0.3, max_retries=0).embed(["a"])


async def test_async_is_native_and_ordered(server, tiny_model):
    server.delay = 0.1
    async with heartbeat() as beat:
        got = await remote(server, batch_size=4, max_concurrency=5).aembed(TEXTS)
    np.testing.assert_allclose(got, local(tiny_model).embed(TEXTS), atol=1e-5)
    assert len(embed_bodies(server)) == 5
    assert beat.ticks > 10


async def test_async_overlong_input_warns_then_cuts(server, tiny_model):
    with pytest.warns(TruncationWarning, match="cut them"):
        got = await remote(server, max_seq_length=64).aembed([LONG])
    assert [body["truncate"] for body in embed_bodies(server)] == [False, True]
    assert np.isclose(np.linalg.norm(got[0]), 1.0)


LOGIN_PAGE = "<!doctype html><html><body><form>Sign in to continue</form></body></html>"


@pytest.mark.parametrize("asynchronous", [False, True])
@pytest.mark.parametrize(
    "content_type, body", [("text/html", LOGIN_PAGE), ("application/json", '{"embeddings": [[0.1, 0.2')]
)
async def test_an_answer_that_is_not_json_is_named_with_its_first_bytes(server, asynchronous, content_type, body):
    server.fail_next("raw", (200, content_type, body))
    embedder = remote(server, max_retries=0)
    expected = rf"Ollama at {server.url} answered .*not JSON: '{re.escape(body[:20])}.*Check that base_url"
    with pytest.raises(ServerError, match=expected):
        await embedder.aembed(["a"]) if asynchronous else embedder.embed(["a"])


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_api_key_and_client_kwargs_reach_ollama(server, asynchronous):
    embedder = remote(server, api_key="sk-ollama-proxy", client_kwargs={"headers": {"X-Team": "search"}})
    await embedder.aembed(["a"]) if asynchronous else embedder.embed(["a"])
    sent = {key.lower(): value for key, value in server.headers[-1].items()}
    assert sent["authorization"] == "Bearer sk-ollama-proxy" and sent["x-team"] == "search"
    assert "sk-ollama-proxy" not in repr(embedder.runtime) + repr(embedder.settings)


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_retry_after_is_honoured(server, asynchronous):
    server.fail_next("retry_after", 1)
    embedder = remote(server, max_retries=1)
    got = await embedder.aembed(["a"]) if asynchronous else embedder.embed(["a"])
    assert len(got) == 1 and len(server.request_times) == 2
    assert server.request_times[1] - server.request_times[0] >= 0.95  # waited as told, not the 0.25 s backoff


async def test_the_concurrency_bound_holds_across_calls_on_one_object(server):
    server.delay = 0.5  # long enough for both slots to fill even on a loaded machine
    embedder = remote(server, max_concurrency=2)
    await asyncio.gather(*(embedder.aembed_query(f"q{i}") for i in range(12)))
    assert len(embed_bodies(server)) == 12 and server.peak_in_flight == 2
