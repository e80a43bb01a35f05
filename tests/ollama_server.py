"""A real loopback HTTP server that speaks Ollama's REST API, for tests.

It answers the endpoints the ``ollama`` client, ``langchain-ollama`` and ``llama-index-llms-ollama``
use (``/api/embed``, ``/api/chat``, ``/api/tags``, ``/api/show``, ``/api/version``, ``/``) with the JSON
shapes, status codes and error bodies of Ollama's own server (``server/routes.go``, ``api/types.go``).
Embeddings, token counts and chat answers come from injected callables, so a test can back it with
the tiny model, the real model or a plain function. Bound to 127.0.0.1 on a free port.

    with OllamaServer(embed=my_embed) as server:
        ollama.Client(host=server.url).embed(model="embeddinggemma", input=["hello"])
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

VERSION = "0.12.6"
"""The Ollama version this server reports on ``/api/version``."""

EmbedFn = Callable[[list[str], int], Sequence[Sequence[float]]]
CountFn = Callable[[list[str]], list[int]]
ChatFn = Callable[[list[dict]], str]

_SOURCE = re.compile(
    r"(?:\[(?:source:\s*)?|\b(?:source|file_name|file):\s*)([\w.\-/]+\.(?:md|txt|rst))\]?", re.IGNORECASE
)
_METADATA_LINE = re.compile(r"^\s*[\w ]{1,30}:\s")


def word_count_tokens(texts: list[str]) -> list[int]:
    """Default token counter: whitespace words plus BOS and EOS."""
    return [len(text.split()) + 2 for text in texts]


def hashed_bag_of_words(texts: list[str], max_tokens: int, width: int = 768) -> list[list[float]]:
    """Default embedder: a deterministic hashed bag of words (texts sharing words point the same way)."""
    vectors = []
    for text in texts:
        vector = [0.0] * width
        for word in text.lower().split()[: max(max_tokens - 2, 0)]:
            digest = hashlib.blake2b(word.strip(".,;:!?()[]\"'").encode(), digest_size=8).digest()
            vector[int.from_bytes(digest[:4], "little") % width] += 1.0 if digest[4] & 1 else -1.0
        vector[0] += 1e-3  # an empty text still gets a direction
        vectors.append(vector)
    return vectors


def first_sentence(passage: str) -> str:
    """The passage's first sentence (up to and including the first full stop), whitespace collapsed."""
    text = " ".join(passage.split())
    match = re.search(r"[.!?](?=\s|$)", text)
    return text[: match.end()] if match else text


def echo_rag_answer(messages: list[dict]) -> str:
    """An answerer built only from the context it was given, so tests can see what reached the LLM.

    Source names are found as ``[name.md]``, ``[source: name.md]``, ``source: name.md`` or
    ``file_name: name.md``. A passage runs from the line after a source marker to the next marker,
    leading ``key: value`` metadata lines and markdown headings left out. The answer quotes the first
    sentence of the first non-empty passage and cites every source seen, in order:
    ``According to [a.md], <sentence> Sources: [a.md], [b.md].``
    """
    prompt = "\n".join(str(message.get("content") or "") for message in messages)
    matches = list(_SOURCE.finditer(prompt))
    sources = list(dict.fromkeys(m.group(1) for m in matches))
    if not sources:
        return "I found no sources in the context, so I cannot answer from it."
    quoted, quote = sources[0], ""
    for i, match in enumerate(matches):  # the first marker followed by text (not only more metadata)
        end = matches[i + 1].start() if i + 1 < len(matches) else len(prompt)
        lines = [line for line in prompt[match.end() : end].splitlines()[1:] if line.strip()]
        while lines and _METADATA_LINE.match(lines[0]):  # the node's metadata block, e.g. "title: ..."
            lines.pop(0)
        lines = [line for line in lines if not line.lstrip().startswith("#")]  # markdown headings
        if lines:
            quoted, quote = match.group(1), first_sentence(" ".join(lines))
            break
    cited = ", ".join(f"[{name}]" for name in sources)
    return f"According to [{quoted}], {quote} Sources: {cited}."


class OllamaServer:
    """Ollama's REST API on 127.0.0.1, answered by injected callables; a context manager."""

    def __init__(
        self,
        *,
        embed: EmbedFn | None = None,
        count_tokens: CountFn | None = None,
        num_ctx: int = 2048,
        chat: ChatFn | None = None,
        models: Sequence[str] = ("embeddinggemma:latest", "gemma3:1b"),
    ) -> None:
        self.embed = embed or hashed_bag_of_words
        self.count_tokens = count_tokens or word_count_tokens
        self.num_ctx = num_ctx
        self.chat = chat or echo_rag_answer
        self.models = [_full_name(name) for name in models]
        self.url = ""
        self.requests: list[tuple[str, str, dict | None]] = []
        self.delay = 0.0
        self._failures: list[tuple[int, str] | tuple[int, str, str]] = []
        self.headers: list[dict[str, str]] = []
        self.request_times: list[float] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self.retry_after: float | None = None
        """Seconds sent as ``Retry-After`` with an injected 429, as a rate-limiting proxy would."""
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def fail_next(self, status: int, error: str, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``status`` and Ollama's ``{"error": ...}`` body."""
        with self._lock:
            self._failures.extend([(status, error)] * times)

    def answer_next_raw(self, status: int, content_type: str, body: str) -> None:
        """Answer the next request with this body as it is: what a proxy's login page or another service
        on Ollama's port would send."""
        with self._lock:
            self._failures.append((status, body, content_type))

    def start(self) -> OllamaServer:
        handler = type("Handler", (_Handler,), {"ollama": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="ollama-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> OllamaServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- helpers used by the handler -------------------------------------------------------------

    def _record(
        self, method: str, path: str, body: dict | None, headers: dict[str, str]
    ) -> tuple[int, str] | tuple[int, str, str] | None:
        with self._lock:
            self.requests.append((method, path, body))
            self.headers.append(headers)
            self.request_times.append(time.monotonic())
            return self._failures.pop(0) if self._failures else None

    def _find(self, name: str) -> str | None:
        full = _full_name(name)
        return full if full in self.models else None


def _full_name(name: str) -> str:
    """Ollama's short form: ``embeddinggemma`` is ``embeddinggemma:latest``."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def _is_embedding_model(name: str) -> bool:
    return "embed" in name


def _details(name: str) -> dict[str, Any]:
    family = "gemma3"
    embedding = _is_embedding_model(name)
    return {
        "parent_model": "",
        "format": "gguf",
        "family": family,
        "families": [family],
        "parameter_size": "307.58M" if embedding else "999.89M",
        "quantization_level": "BF16" if embedding else "Q4_K_M",
    }


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class _Handler(BaseHTTPRequestHandler):
    ollama: OllamaServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
        pass

    # -- plumbing ----------------------------------------------------------------------------------

    def _send_json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if status == 429 and self.ollama.retry_after is not None:
            self.send_header("Retry-After", str(self.ollama.retry_after))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, message: str) -> None:
        self._send_json(status, {"error": message})

    def _send_text(self, status: int, text: str) -> None:
        self._send_raw(status, text, "text/plain; charset=utf-8")

    def _send_raw(self, status: int, text: str, content_type: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _read_body(self) -> tuple[dict | None, str | None]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw.strip():
            return None, "missing request body"
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as error:
            return None, f"invalid character in request body: {error.msg}"
        if not isinstance(body, dict):
            return None, "json: cannot unmarshal into Go value of type api.Request"
        return body, None

    def _dispatch(self, routes: dict[str, Callable[[dict | None], None]], with_body: bool) -> None:
        path = self.path.split("?", 1)[0]
        body, body_error = self._read_body() if with_body else (None, None)
        failure = self.ollama._record(self.command, path, body, dict(self.headers))
        if self.ollama.delay:
            time.sleep(self.ollama.delay)
        if failure is not None and len(failure) == 3:
            return self._send_raw(*failure)
        if failure is not None:
            return self._error(*failure)
        route = routes.get(path)
        if route is None:
            return self._send_text(404, "404 page not found")
        if with_body and body_error is not None:
            return self._error(400, body_error)
        route(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._dispatch({"/": self._root, "/api/tags": self._tags, "/api/version": self._version}, False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._dispatch({"/": self._root, "/api/version": self._version}, False)

    def do_POST(self) -> None:  # noqa: N802
        with self.ollama._lock:
            self.ollama.in_flight += 1
            self.ollama.peak_in_flight = max(self.ollama.peak_in_flight, self.ollama.in_flight)
        self._in_flight = True
        try:
            self._dispatch({"/api/embed": self._embed, "/api/chat": self._chat, "/api/show": self._show}, True)
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
            with self.ollama._lock:
                self.ollama.in_flight -= 1

    # -- endpoints ---------------------------------------------------------------------------------

    def _root(self, _: dict | None) -> None:
        self._send_text(200, "Ollama is running")

    def _version(self, _: dict | None) -> None:
        self._send_json(200, {"version": VERSION})

    def _tags(self, _: dict | None) -> None:
        models = [
            {
                "name": name,
                "model": name,
                "modified_at": _now(),
                "size": 621875417 if _is_embedding_model(name) else 815319791,
                "digest": hashlib.sha256(name.encode()).hexdigest(),
                "details": _details(name),
            }
            for name in self.ollama.models
        ]
        self._send_json(200, {"models": models})

    def _show(self, body: dict | None) -> None:
        assert body is not None
        requested = body.get("model") or body.get("name")
        if not requested:
            return self._error(400, "model is required")
        name = self.ollama._find(requested)
        if name is None:
            return self._error(404, f"model '{_full_name(requested)}' not found")
        embedding = _is_embedding_model(name)
        self._send_json(
            200,
            {
                "license": "Gemma Terms of Use",
                "modelfile": f'# Modelfile generated by "ollama show"\nFROM {name}\n',
                "parameters": "" if embedding else 'stop                           "<end_of_turn>"',
                "template": "{{ .Prompt }}" if embedding else "{{- range .Messages }}{{ .Content }}{{ end }}",
                "details": _details(name),
                "model_info": {
                    "general.architecture": "gemma3",
                    "general.parameter_count": 307581696 if embedding else 999885952,
                    "gemma3.context_length": self.ollama.num_ctx if embedding else 32768,
                    "gemma3.embedding_length": 768 if embedding else 1152,
                },
                "capabilities": ["embedding"] if embedding else ["completion"],
                "modified_at": _now(),
            },
        )

    def _embed(self, body: dict | None) -> None:
        assert body is not None
        requested = str(body.get("model") or "")
        raw = body.get("input")
        if isinstance(raw, str):
            texts = [raw] if raw else []
        elif isinstance(raw, list) and all(isinstance(item, str) for item in raw):
            texts = list(raw)
        elif raw is None:
            texts = []
        else:
            return self._error(400, "invalid input type")
        if self.ollama._find(requested) is None:
            return self._error(404, f"model '{requested}' not found")
        started = time.perf_counter_ns()
        if not texts:
            return self._send_json(200, {"model": requested, "embeddings": []})
        options = body.get("options") or {}
        limit = self.ollama.num_ctx
        if isinstance(options.get("num_ctx"), int) and options["num_ctx"] > 0:
            limit = min(options["num_ctx"], limit)
        counts = self.ollama.count_tokens(texts)
        if body.get("truncate") is False and any(count > limit for count in counts):
            return self._error(400, "the input length exceeds the context length")
        try:
            vectors = [_normalise(vector) for vector in self.ollama.embed(texts, limit)]
        except ValueError as error:
            return self._error(400, str(error))
        if len(vectors) != len(texts):
            return self._error(500, f"embedder returned {len(vectors)} vectors for {len(texts)} inputs")
        dimensions = body.get("dimensions") or 0
        if 0 < dimensions < len(vectors[0]):
            vectors = [_normalise(vector[:dimensions]) for vector in vectors]
        elapsed = time.perf_counter_ns() - started
        self._send_json(
            200,
            {
                "model": requested,
                "embeddings": vectors,
                "total_duration": elapsed,
                "load_duration": 0,
                "prompt_eval_count": sum(min(count, limit) for count in counts),
            },
        )

    def _chat(self, body: dict | None) -> None:
        assert body is not None
        requested = str(body.get("model") or "")
        if not requested:
            return self._error(400, "model is required")
        name = self.ollama._find(requested)
        if name is None:
            return self._error(404, f"model '{requested}' not found")
        if _is_embedding_model(name):
            return self._error(400, f'"{requested}" does not support chat')
        messages = body.get("messages") or []
        if not messages:
            return self._send_json(200, self._chunk(requested, "", done=True, done_reason="load"))
        started = time.perf_counter_ns()
        answer = self.ollama.chat(list(messages))
        prompt_tokens = sum(self.ollama.count_tokens([str(m.get("content") or "") for m in messages]))
        pieces = re.findall(r"\S+\s*", answer) or [answer]
        metrics = {
            "total_duration": 0,
            "load_duration": 0,
            "prompt_eval_count": prompt_tokens,
            "prompt_eval_duration": 0,
            "eval_count": len(pieces),
            "eval_duration": 0,
        }
        if body.get("stream") is False:
            metrics["total_duration"] = time.perf_counter_ns() - started
            return self._send_json(200, self._chunk(requested, answer, done=True, done_reason="stop", **metrics))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for piece in pieces:
            self._write_chunk(self._chunk(requested, piece, done=False))
        metrics["total_duration"] = time.perf_counter_ns() - started
        self._write_chunk(self._chunk(requested, "", done=True, done_reason="stop", **metrics))
        self.wfile.write(b"0\r\n\r\n")

    @staticmethod
    def _chunk(model: str, content: str, *, done: bool, **extra: Any) -> dict[str, Any]:
        return {
            "model": model,
            "created_at": _now(),
            "message": {"role": "assistant", "content": content},
            "done": done,
            **extra,
        }

    def _write_chunk(self, payload: dict[str, Any]) -> None:
        line = json.dumps(payload).encode() + b"\n"
        self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
        self.wfile.flush()


def _normalise(vector: Sequence[float]) -> list[float]:
    """Ollama's ``normalize``: refuse NaN/Inf, divide by the L2 norm (floored at 1e-12)."""
    values = [float(v) for v in vector]
    if any(math.isnan(v) or math.isinf(v) for v in values):
        raise ValueError("embedding contains NaN or Inf values")
    norm = max(math.sqrt(sum(v * v for v in values)), 1e-12)
    return [v / norm for v in values]
