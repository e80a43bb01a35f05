"""The one base of the tests' fake servers: a real ``ThreadingHTTPServer`` on 127.0.0.1, on a free port, in a
thread. A protocol (``ollama.py``, ``openai.py``) is a subclass that writes only its routes and its error body.

The base records every request (method, path, JSON body), its headers and the time it arrived; counts the
requests in flight (a request stops counting when its answer starts: the client may send its next request
before the serving thread gets back to its ``finally``); waits ``delay`` seconds before answering; and has
the one fault API, ``fail_next(kind, value=None, times=1)``. Each fault is spent on one request, the next
one to arrive, whatever it asks:

- ``status``: answer ``value`` (a code, or ``(code, message)``) with the protocol's error body;
- ``retry_after``: answer 429 with ``Retry-After: value`` (seconds), as a rate-limiting proxy does;
- ``raw``: ``value`` is ``(status, content_type, body)``, sent as it is (a proxy's login page, another
  service on the port);
- ``reset``: drop the connection without an answer;
- ``count``, ``width``, ``nan``, ``zero``, ``shuffle``: answer an embedding request with one vector too few,
  vectors cut to ``value`` numbers, a NaN vector first, a zero vector first, or the vectors in reverse order
  (an OpenAI-style answer keeps each one's index).

    with SomeProtocolServer(...) as server:
        server.fail_next("status", 503, times=2)
        ...  # server.url, server.requests, server.headers, server.request_times, server.peak_in_flight
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

ANSWER_FAULTS = ("status", "retry_after", "raw", "reset")
"""Faults that replace the answer to a request, before the protocol sees it."""
VECTOR_FAULTS = ("count", "width", "nan", "zero", "shuffle")
"""Faults that damage the vectors of an embedding answer."""


class Request(NamedTuple):
    """One request as the server received it: ``body`` is the parsed JSON body (``None`` without one)."""

    method: str
    path: str
    body: Any


class Fault(NamedTuple):
    kind: str
    value: Any


Route = Callable[["Exchange"], None]


class LoopbackServer:
    """A protocol on 127.0.0.1 in a thread: ``start()`` / ``stop()``, or a context manager."""

    name = "loopback"
    json_type = "application/json"
    """The ``Content-Type`` of the protocol's JSON answers."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.headers: list[dict[str, str]] = []
        self.request_times: list[float] = []
        self.delay = 0.0
        """Seconds to wait before answering each request."""
        self.in_flight = 0
        self.peak_in_flight = 0
        self.address = ""
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- what a protocol writes ---------------------------------------------------------------------

    def routes(self) -> Mapping[tuple[str, str], Route]:
        """``(method, path)`` → the function answering it."""
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> Any:
        """The protocol's JSON error body."""
        raise NotImplementedError

    def not_found(self, exchange: Exchange) -> None:
        """The answer to a method and path no route serves."""
        exchange.reply_error(404, f"not found: {exchange.path}")

    def parse_body(self, raw: bytes) -> tuple[Any, str | None]:
        """A POST body as JSON, or the reason it is not (answered with a 400 when a route matches)."""
        try:
            return json.loads(raw or b"{}"), None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            return None, f"request body is not JSON: {error}"

    @property
    def url(self) -> str:
        """Where a client points: the server's address (a protocol may add its path prefix)."""
        return self.address

    # -- the test's controls ------------------------------------------------------------------------

    def fail_next(self, kind: str, value: Any = None, times: int = 1) -> None:
        """Misbehave on the next ``times`` requests, one fault each (kinds: see the module's docstring)."""
        if kind not in ANSWER_FAULTS + VECTOR_FAULTS:
            raise ValueError(f"unknown fault {kind!r}: use one of {ANSWER_FAULTS + VECTOR_FAULTS}")
        with self._lock:
            self._faults.extend([Fault(kind, value)] * times)

    def bodies(self, path: str | None = None) -> list[Any]:
        """The JSON bodies of the requests received (to ``path`` only, when given), in order."""
        return [request.body for request in self.requests if path is None or request.path == path]

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> LoopbackServer:
        handler = type("Handler", (Exchange,), {"loopback": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self.address = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=f"{self.name}-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- used by the handler ------------------------------------------------------------------------

    def _arrive(self, request: Request, headers: dict[str, str]) -> Fault | None:
        """Record a request and hand it the next fault, if any."""
        with self._lock:
            self.requests.append(request)
            self.headers.append(headers)
            self.request_times.append(time.monotonic())
            return self._faults.pop(0) if self._faults else None

    def _count(self, change: int) -> None:
        with self._lock:
            self.in_flight += change
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)


class Exchange(BaseHTTPRequestHandler):
    """One request and its answer, as a route sees them: ``path``, ``body``, ``fault`` and the senders."""

    loopback: LoopbackServer
    protocol_version = "HTTP/1.1"
    body: Any = None
    fault: Fault | None = None
    """A vector fault for this request's embeddings (see ``damage``); answer faults never reach a route."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve()

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve()

    def do_POST(self) -> None:  # noqa: N802
        self._serve()

    def _serve(self) -> None:
        server = self.loopback
        server._count(+1)
        self._in_flight = True
        try:
            self.path = self.path.split("?", 1)[0]
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body, body_error = server.parse_body(raw) if self.command == "POST" else (None, None)
            fault = server._arrive(Request(self.command, self.path, body), dict(self.headers))
            if server.delay:
                time.sleep(server.delay)
            if fault is not None and fault.kind in ANSWER_FAULTS:
                return self._answer_fault(fault)
            route = server.routes().get((self.command, self.path))
            if route is None:
                return server.not_found(self)
            if body_error is not None:
                return self.reply_error(400, body_error)
            self.body, self.fault = body, fault
            route(self)
        finally:
            self._leave_flight()

    def send_response(self, code: int, message: str | None = None) -> None:
        # A request stops counting once its answer starts: the client may send the next one as soon as it
        # has read this one, before this thread gets back to its `finally`.
        self._leave_flight()
        super().send_response(code, message)

    def _leave_flight(self) -> None:
        if getattr(self, "_in_flight", False):
            self._in_flight = False
            self.loopback._count(-1)

    def _answer_fault(self, fault: Fault) -> None:
        if fault.kind == "reset":
            self.close_connection = True
            self.connection.close()
        elif fault.kind == "retry_after":
            self.send_json(429, self.loopback.error_body(429, "rate limited"), {"Retry-After": str(fault.value)})
        elif fault.kind == "raw":
            status, content_type, text = fault.value
            self.send_body(status, content_type, text)
        else:
            status, message = fault.value if isinstance(fault.value, tuple) else (fault.value, None)
            self.reply_error(status, message or f"injected failure {status}")

    # -- senders ------------------------------------------------------------------------------------

    def send_body(
        self, status: int, content_type: str, body: str | bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        self.send_body(status, self.loopback.json_type, json.dumps(payload), headers)

    def reply_error(self, status: int, message: str) -> None:
        """Answer ``status`` with the protocol's error body."""
        self.send_json(status, self.loopback.error_body(status, message))

    def start_stream(self, status: int, content_type: str) -> None:
        """Begin a chunked answer: ``write_chunk`` each piece, then ``end_stream``."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")

    # -- vector faults ------------------------------------------------------------------------------

    def damage(self, vectors: list[list[float]]) -> tuple[list[list[float]], list[int]]:
        """This request's vectors after its vector fault, if any, and the order to answer them in."""
        kind, value = self.fault if self.fault is not None else (None, None)
        if kind == "count":
            vectors = vectors[:-1]
        elif kind == "width":
            vectors = [row[:value] for row in vectors]
        elif kind == "nan":
            vectors = [[math.nan] * len(vectors[0])] + vectors[1:]
        elif kind == "zero":
            vectors = [[0.0] * len(vectors[0])] + vectors[1:]
        order = list(range(len(vectors)))
        if kind == "shuffle":
            order.reverse()
        return vectors, order
