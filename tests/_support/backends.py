"""The tiny model served three ways: in-process, behind a loopback Ollama, behind a loopback OpenAI-compatible
server. Adapter tests are parametrised over these, so every backend passes the same suites."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import socket
from collections.abc import AsyncIterator

from _support.ollama import OllamaServer
from _support.openai import OpenAIEmbeddingsServer
from _support.tiny_model import tiny_model_path

BACKENDS = ("local", "ollama", "openai")


@functools.cache
def _tiny_sentence_transformer():
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(tiny_model_path(), device="cpu")


def raw_tiny(texts: list[str], max_tokens: int = 2048):
    """What a server holding the same weights computes: no prompt added, no normalising."""
    model = _tiny_sentence_transformer()
    model.max_seq_length = max_tokens
    return model.encode(texts, convert_to_numpy=True, normalize_embeddings=False)


def tiny_token_counts(texts: list[str]) -> list[int]:
    tokenizer = _tiny_sentence_transformer().tokenizer
    return [len(ids) for ids in tokenizer(texts, truncation=False)["input_ids"]]


def ollama_server() -> OllamaServer:
    """The tiny model behind one loopback Ollama for the whole test process (skips the test without torch)."""
    tiny_model_path()
    return _ollama_server()


def openai_server() -> OpenAIEmbeddingsServer:
    """The tiny model behind one loopback OpenAI-compatible server for the whole test process."""
    tiny_model_path()
    return _openai_server()


@functools.cache
def _ollama_server() -> OllamaServer:
    server = OllamaServer(embed=raw_tiny, count_tokens=tiny_token_counts).start()
    atexit.register(server.stop)
    return server


@functools.cache
def _openai_server() -> OpenAIEmbeddingsServer:
    server = OpenAIEmbeddingsServer(embed=raw_tiny).start()
    atexit.register(server.stop)
    return server


def settings_for(backend: str) -> dict[str, object]:
    """Core settings (``model``, ``backend``, ``base_url``) that reach the tiny model through ``backend``."""
    if backend == "ollama":
        return {"model": "embeddinggemma", "backend": "ollama", "base_url": ollama_server().url}
    if backend == "openai":
        return {"backend": "openai", "base_url": openai_server().url}
    return {"model": tiny_model_path()}


def unused_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Heartbeat:
    """Counts event-loop turns while awaited work runs: a blocked loop leaves ``ticks`` near zero."""

    ticks = 0


@contextlib.asynccontextmanager
async def heartbeat(interval: float = 0.005) -> AsyncIterator[Heartbeat]:
    beat = Heartbeat()

    async def tick() -> None:
        while True:
            await asyncio.sleep(interval)
            beat.ticks += 1

    task = asyncio.create_task(tick())
    try:
        yield beat
    finally:
        task.cancel()
