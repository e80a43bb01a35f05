"""The fake servers' shared base (``tests/_support/loopback.py``), over real loopback HTTP: one fault API that
both protocols answer in their own error format, each fault spent on one request, vector faults on embedding
answers, and in-flight counting that stops when an answer starts."""

from __future__ import annotations

import math
import threading

import pytest
from _support.loopback import Exchange, LoopbackServer
from _support.ollama import OllamaServer
from _support.openai import OpenAIEmbeddingsServer

httpx = pytest.importorskip("httpx", reason="needs httpx (the [server] extra)")


def vectors(texts: list[str]) -> list[list[float]]:
    return [[float(i + 1), 0.0, 1.0] for i in range(len(texts))]


PROTOCOLS = {
    # name: (the server, its embedding path and a request body, the message in its error body)
    "ollama": (
        lambda: OllamaServer(embed=lambda texts, limit: vectors(texts)),
        ("/api/embed", {"model": "embeddinggemma", "input": ["a", "b", "c"]}),
        lambda error: error["error"],
    ),
    "openai": (
        lambda: OpenAIEmbeddingsServer(embed=vectors),
        ("/v1/embeddings", {"model": "m", "input": ["a", "b", "c"]}),
        lambda error: error["error"]["message"],
    ),
}


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_answer_faults_each_spend_one_request_in_the_protocols_error_format(protocol):
    make, (path, body), message_of = PROTOCOLS[protocol]
    with make() as server:

        def post() -> httpx.Response:
            return httpx.post(server.address + path, json=body, timeout=10)

        server.fail_next("status", 503, times=2)
        server.fail_next("status", (500, "llama runner process has terminated"))
        server.fail_next("retry_after", 2)
        server.fail_next("raw", (200, "text/html", "<html>Sign in</html>"))
        server.fail_next("reset")
        for _ in range(2):
            answer = post()
            assert answer.status_code == 503 and message_of(answer.json()) == "injected failure 503"
        answer = post()
        assert (answer.status_code, message_of(answer.json())) == (500, "llama runner process has terminated")
        answer = post()
        assert answer.status_code == 429 and answer.headers["retry-after"] == "2" and message_of(answer.json())
        answer = post()
        assert (answer.status_code, answer.headers["content-type"], answer.text) == (
            200,
            "text/html",
            "<html>Sign in</html>",
        )
        with pytest.raises(httpx.TransportError):
            post()
        answer = post()  # every fault spent: a normal answer
        assert answer.status_code == 200
        assert len(server.requests) == 7 and all(request.path == path for request in server.requests)
        assert server.bodies(path) == [body] * 7 and len(server.headers) == len(server.request_times) == 7
        assert server.in_flight == 0


def test_an_unknown_fault_is_refused():
    with pytest.raises(ValueError, match="unknown fault 'teapot'"):
        OllamaServer().fail_next("teapot")


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("count", None, [[1.0, 0.0, 1.0], [2.0, 0.0, 1.0]]),
        ("width", 2, [[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]]),
        ("zero", None, [[0.0, 0.0, 0.0], [2.0, 0.0, 1.0], [3.0, 0.0, 1.0]]),
        ("shuffle", None, [[3.0, 0.0, 1.0], [2.0, 0.0, 1.0], [1.0, 0.0, 1.0]]),
    ],
)
def test_vector_faults_damage_one_openai_answer(kind, value, expected):
    with OpenAIEmbeddingsServer(embed=vectors) as server:
        server.fail_next(kind, value)
        data = httpx.post(f"{server.url}/embeddings", json={"input": ["a", "b", "c"]}).json()["data"]
        assert [row["embedding"] for row in data] == expected
        if kind == "shuffle":  # reversed, each with its own index
            assert [row["index"] for row in data] == [2, 1, 0]
        again = httpx.post(f"{server.url}/embeddings", json={"input": ["a", "b", "c"]}).json()["data"]
        assert [row["embedding"] for row in again] == vectors(["a", "b", "c"])


def test_a_nan_vector_fault_reaches_the_client():
    with OpenAIEmbeddingsServer(embed=vectors) as server:
        server.fail_next("nan")
        data = httpx.post(f"{server.url}/embeddings", json={"input": ["a", "b"]}).json()["data"]
    assert all(math.isnan(v) for v in data[0]["embedding"]) and data[1]["embedding"] == [2.0, 0.0, 1.0]


class _Held(LoopbackServer):
    """A protocol whose one route sends its headers, then waits for the test before sending its body."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def routes(self):
        return {("GET", "/held"): self._held}

    def error_body(self, status: int, message: str) -> dict:
        return {"error": message}

    def _held(self, http: Exchange) -> None:
        http.start_stream(200, "text/plain")
        self.release.wait(10)
        http.write_chunk(b"done")
        http.end_stream()


def test_a_request_stops_counting_in_flight_when_its_answer_starts():
    with _Held() as server, httpx.stream("GET", f"{server.url}/held", timeout=10) as answer:
        assert answer.status_code == 200  # the headers arrived; the route still holds the body back
        assert (server.in_flight, server.peak_in_flight) == (0, 1)
        server.release.set()
        assert answer.read() == b"done"
