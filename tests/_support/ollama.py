"""A real loopback HTTP server that speaks Ollama's REST API, for tests.

It answers the endpoints the ``ollama`` client, ``langchain-ollama`` and ``llama-index-llms-ollama``
use (``/api/embed``, ``/api/chat``, ``/api/tags``, ``/api/show``, ``/api/version``, ``/``) with the JSON
shapes, status codes and error bodies of Ollama's own server (``server/routes.go``, ``api/types.go``).
Embeddings, token counts and chat answers come from injected callables, so a test can back it with
the tiny model, the real model or a plain function. Recording, delays and faults (``fail_next``) are the
loopback base's (``loopback.py``); an injected error carries Ollama's ``{"error": ...}`` body.

    with OllamaServer(embed=my_embed) as server:
        ollama.Client(host=server.url).embed(model="embeddinggemma", input=["hello"])
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from _support.loopback import Exchange, LoopbackServer, Route

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


class OllamaServer(LoopbackServer):
    """Ollama's REST API on 127.0.0.1, answered by injected callables; a context manager."""

    name = "ollama"
    json_type = "application/json; charset=utf-8"

    def __init__(
        self,
        *,
        embed: EmbedFn | None = None,
        count_tokens: CountFn | None = None,
        num_ctx: int = 2048,
        chat: ChatFn | None = None,
        models: Sequence[str] = ("embeddinggemma:latest", "gemma3:1b"),
    ) -> None:
        super().__init__()
        self.embed = embed or hashed_bag_of_words
        self.count_tokens = count_tokens or word_count_tokens
        self.num_ctx = num_ctx
        self.chat = chat or echo_rag_answer
        self.models = [_full_name(name) for name in models]

    def routes(self) -> Mapping[tuple[str, str], Route]:
        return {
            ("GET", "/"): self._root,
            ("HEAD", "/"): self._root,
            ("GET", "/api/version"): self._version,
            ("HEAD", "/api/version"): self._version,
            ("GET", "/api/tags"): self._tags,
            ("POST", "/api/embed"): self._embed,
            ("POST", "/api/chat"): self._chat,
            ("POST", "/api/show"): self._show,
        }

    def error_body(self, status: int, message: str) -> dict[str, str]:
        return {"error": message}

    def not_found(self, http: Exchange) -> None:
        http.send_body(404, "text/plain; charset=utf-8", "404 page not found")

    def parse_body(self, raw: bytes) -> tuple[dict | None, str | None]:
        if not raw.strip():
            return None, "missing request body"
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as error:
            return None, f"invalid character in request body: {error.msg}"
        if not isinstance(body, dict):
            return None, "json: cannot unmarshal into Go value of type api.Request"
        return body, None

    def _find(self, name: str) -> str | None:
        full = _full_name(name)
        return full if full in self.models else None

    # -- endpoints ---------------------------------------------------------------------------------

    def _root(self, http: Exchange) -> None:
        http.send_body(200, "text/plain; charset=utf-8", "Ollama is running")

    def _version(self, http: Exchange) -> None:
        http.send_json(200, {"version": VERSION})

    def _tags(self, http: Exchange) -> None:
        models = [
            {
                "name": name,
                "model": name,
                "modified_at": _now(),
                "size": 621875417 if _is_embedding_model(name) else 815319791,
                "digest": hashlib.sha256(name.encode()).hexdigest(),
                "details": _details(name),
            }
            for name in self.models
        ]
        http.send_json(200, {"models": models})

    def _show(self, http: Exchange) -> None:
        body = http.body
        requested = body.get("model") or body.get("name")
        if not requested:
            return http.reply_error(400, "model is required")
        name = self._find(requested)
        if name is None:
            return http.reply_error(404, f"model '{_full_name(requested)}' not found")
        embedding = _is_embedding_model(name)
        http.send_json(
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
                    "gemma3.context_length": self.num_ctx if embedding else 32768,
                    "gemma3.embedding_length": 768 if embedding else 1152,
                },
                "capabilities": ["embedding"] if embedding else ["completion"],
                "modified_at": _now(),
            },
        )

    def _embed(self, http: Exchange) -> None:
        body = http.body
        requested = str(body.get("model") or "")
        raw = body.get("input")
        if isinstance(raw, str):
            texts = [raw] if raw else []
        elif isinstance(raw, list) and all(isinstance(item, str) for item in raw):
            texts = list(raw)
        elif raw is None:
            texts = []
        else:
            return http.reply_error(400, "invalid input type")
        if self._find(requested) is None:
            return http.reply_error(404, f"model '{requested}' not found")
        started = time.perf_counter_ns()
        if not texts:
            return http.send_json(200, {"model": requested, "embeddings": []})
        options = body.get("options") or {}
        limit = self.num_ctx
        if isinstance(options.get("num_ctx"), int) and options["num_ctx"] > 0:
            limit = min(options["num_ctx"], limit)
        counts = self.count_tokens(texts)
        if body.get("truncate") is False and any(count > limit for count in counts):
            return http.reply_error(400, "the input length exceeds the context length")
        try:
            vectors = [_normalise(vector) for vector in self.embed(texts, limit)]
        except ValueError as error:
            return http.reply_error(400, str(error))
        if len(vectors) != len(texts):
            return http.reply_error(500, f"embedder returned {len(vectors)} vectors for {len(texts)} inputs")
        dimensions = body.get("dimensions") or 0
        if 0 < dimensions < len(vectors[0]):
            vectors = [_normalise(vector[:dimensions]) for vector in vectors]
        vectors, order = http.damage(vectors)  # a vector fault, if the test asked for one
        elapsed = time.perf_counter_ns() - started
        http.send_json(
            200,
            {
                "model": requested,
                "embeddings": [vectors[i] for i in order],
                "total_duration": elapsed,
                "load_duration": 0,
                "prompt_eval_count": sum(min(count, limit) for count in counts),
            },
        )

    def _chat(self, http: Exchange) -> None:
        body = http.body
        requested = str(body.get("model") or "")
        if not requested:
            return http.reply_error(400, "model is required")
        name = self._find(requested)
        if name is None:
            return http.reply_error(404, f"model '{requested}' not found")
        if _is_embedding_model(name):
            return http.reply_error(400, f'"{requested}" does not support chat')
        messages = body.get("messages") or []
        if not messages:
            return http.send_json(200, _chunk(requested, "", done=True, done_reason="load"))
        started = time.perf_counter_ns()
        answer = self.chat(list(messages))
        prompt_tokens = sum(self.count_tokens([str(m.get("content") or "") for m in messages]))
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
            return http.send_json(200, _chunk(requested, answer, done=True, done_reason="stop", **metrics))
        http.start_stream(200, "application/x-ndjson")
        for piece in pieces:
            http.write_chunk(_line(_chunk(requested, piece, done=False)))
        metrics["total_duration"] = time.perf_counter_ns() - started
        http.write_chunk(_line(_chunk(requested, "", done=True, done_reason="stop", **metrics)))
        http.end_stream()


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


def _chunk(model: str, content: str, *, done: bool, **extra: Any) -> dict[str, Any]:
    return {
        "model": model,
        "created_at": _now(),
        "message": {"role": "assistant", "content": content},
        "done": done,
        **extra,
    }


def _line(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode() + b"\n"


def _normalise(vector: Sequence[float]) -> list[float]:
    """Ollama's ``normalize``: refuse NaN/Inf, divide by the L2 norm (floored at 1e-12)."""
    values = [float(v) for v in vector]
    if any(math.isnan(v) or math.isinf(v) for v in values):
        raise ValueError("embedding contains NaN or Inf values")
    norm = max(math.sqrt(sum(v * v for v in values)), 1e-12)
    return [v / norm for v in values]
