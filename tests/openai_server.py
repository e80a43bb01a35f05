"""A loopback server speaking the OpenAI embeddings protocol (``POST /v1/embeddings``), for fault tests.

Vectors come from an injected callable (the tiny model in tests), as a llama-server or vLLM would
compute them; the knobs below make it misbehave the ways real servers do.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

EmbedFn = Callable[[list[str]], Sequence[Sequence[float]]]


class OpenAIEmbeddingsServer:
    """``with OpenAIEmbeddingsServer(embed=...) as server: server.url`` → ``http://127.0.0.1:<port>/v1``."""

    def __init__(
        self,
        *,
        embed: EmbedFn,
        max_inputs: int = 32,
        max_chars: int | None = None,
        api_key: str | None = None,
        model: str = "embeddinggemma",
    ) -> None:
        self.embed = embed
        self.max_inputs = max_inputs
        self.max_chars = max_chars
        self.api_key = api_key
        self.model = model
        self.delay = 0.0
        self.in_flight = 0
        self.peak_in_flight = 0
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.request_times: list[float] = []
        self._faults: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def fail_next(self, kind: str, value: Any = None, times: int = 1) -> None:
        """Misbehave on the next ``times`` requests: ``status`` (value = code), ``reset`` (drop the
        connection), ``count`` (one vector too few), ``width`` (value = width), ``nan``, ``zero``,
        ``shuffle`` (answer in reverse order with correct indices), ``raw`` (value = (status, content
        type, body), sent as it is), ``retry_after`` (429 with a ``Retry-After`` of ``value`` seconds)."""
        with self._lock:
            self._faults.extend([(kind, value)] * times)

    def __enter__(self) -> OpenAIEmbeddingsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next_fault(self) -> tuple[str, Any] | None:
        with self._lock:
            return self._faults.pop(0) if self._faults else None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
                self._reply(status, {"error": {"code": status, "message": message, "type": kind}})

            def do_POST(self) -> None:
                with server._lock:
                    server.in_flight += 1
                    server.peak_in_flight = max(server.peak_in_flight, server.in_flight)
                self._in_flight = True
                try:
                    self._answer()
                finally:
                    self._leave_flight()

            def send_response(self, code: int, message: str | None = None) -> None:
                self._leave_flight()  # the answer has started: the client may already send its next request
                super().send_response(code, message)

            def _leave_flight(self) -> None:
                if getattr(self, "_in_flight", False):
                    self._in_flight = False
                    with server._lock:
                        server.in_flight -= 1

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append(body)
                server.headers.append(dict(self.headers))
                server.request_times.append(time.monotonic())
                if server.delay:
                    time.sleep(server.delay)
                if self.path != "/v1/embeddings":
                    return self._error(404, f"File Not Found: {self.path}", "not_found_error")
                if server.api_key and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                    return self._error(401, "Invalid API Key", "authentication_error")
                fault = server._next_fault()
                if fault and fault[0] == "reset":
                    self.close_connection = True
                    self.connection.close()
                    return None
                if fault and fault[0] == "retry_after":
                    data = json.dumps({"error": {"code": 429, "message": "slow down", "type": "rate_limit"}}).encode()
                    self.send_response(429)
                    self.send_header("Retry-After", str(fault[1]))
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return None
                if fault and fault[0] == "raw":  # value: (status, content type, body)
                    status, content_type, text = fault[1]
                    data = text.encode()
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return None
                if fault and fault[0] == "status":
                    return self._error(fault[1], f"injected failure {fault[1]}", "server_error")
                inputs = body.get("input")
                if isinstance(inputs, str):
                    inputs = [inputs]
                if not isinstance(inputs, list) or not all(isinstance(text, str) for text in inputs):
                    return self._error(400, "'input' must be a string or a list of strings")
                if len(inputs) > server.max_inputs:
                    return self._error(400, f"too many inputs: {len(inputs)} > {server.max_inputs}")
                if server.max_chars is not None and any(len(text) > server.max_chars for text in inputs):
                    # llama-server's words for an input longer than its physical batch
                    return self._error(500, "input is too large to process. increase the physical batch size")
                vectors = [list(map(float, row)) for row in server.embed(inputs)]
                if fault:
                    vectors = _corrupt(vectors, *fault)
                order = list(range(len(vectors)))
                if fault and fault[0] == "shuffle":
                    order.reverse()
                data = [{"object": "embedding", "index": i, "embedding": vectors[i]} for i in order]
                tokens = sum(len(text.split()) for text in inputs)
                return self._reply(
                    200,
                    {
                        "object": "list",
                        "model": body.get("model", server.model),
                        "data": data,
                        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                    },
                )

        return Handler


def _corrupt(vectors: list[list[float]], kind: str, value: Any) -> list[list[float]]:
    if kind == "count":
        return vectors[:-1]
    if kind == "width":
        return [row[:value] for row in vectors]
    if kind == "nan":
        return [[math.nan] * len(vectors[0])] + vectors[1:]
    if kind == "zero":
        return [[0.0] * len(vectors[0])] + vectors[1:]
    return vectors
