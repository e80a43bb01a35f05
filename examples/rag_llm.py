"""The LLM that writes the answer: Ollama (the default), or any OpenAI-compatible chat server (``--llm-url``:
llama.cpp's ``llama-server`` or ``python -m llama_cpp.server``, LM Studio, vLLM, Ollama's own ``/v1``), each
through its framework's own client; a one-line hint when it cannot answer; and a check of the answer's
``[source]`` citations against the passages it was given.

The API key of an OpenAI-compatible server comes from the environment (``LLM_API_KEY``, else
``OPENAI_API_KEY``) and is never printed.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Sequence

API_KEY_VARIABLES = ("LLM_API_KEY", "OPENAI_API_KEY")
NO_KEY = "no-key"  # local servers take any key; the OpenAI clients insist on one
_CITATION = re.compile(r"\[(?:source:\s*)?([^\[\]\n]+?\.(?:md|txt))\]", re.IGNORECASE)


def api_key() -> str:
    return next((os.environ[name] for name in API_KEY_VARIABLES if os.environ.get(name)), NO_KEY)


def served_model(args: argparse.Namespace) -> str:
    """``--llm``, else (with ``--llm-url``) the first model the server lists, else Ollama's default."""
    if args.llm:
        return args.llm
    if not args.llm_url:
        return args.default_llm
    import httpx

    try:
        response = httpx.get(f"{args.llm_url.rstrip('/')}/models", headers=_auth(), timeout=10)
        models = [entry["id"] for entry in response.json().get("data", [])]
    except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError):
        models = []
    if not models:  # the chat call then says what is wrong
        return "default"
    return models[0]


def langchain_chat_model(args: argparse.Namespace, model: str):  # noqa: ANN201 - a LangChain chat model
    if args.llm_url:
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            model=model, base_url=args.llm_url, api_key=api_key(), temperature=0, max_retries=0, timeout=300
        )
    from langchain_ollama import ChatOllama

    return ChatOllama(model=model, base_url=args.ollama_url, temperature=0)


def llama_index_llm(args: argparse.Namespace, model: str):  # noqa: ANN201 - a LlamaIndex LLM
    if args.llm_url:
        from llama_index.llms.openai_like import OpenAILike

        return OpenAILike(
            model=model,
            api_base=args.llm_url,
            api_key=api_key(),
            is_chat_model=True,
            context_window=args.llm_context,
            temperature=0,
            max_retries=0,
            timeout=300,
        )
    from llama_index.llms.ollama import Ollama

    return Ollama(model=model, base_url=args.ollama_url, temperature=0, request_timeout=300)


def llm_hint(error: BaseException, args: argparse.Namespace, model: str) -> str | None:
    """A one-line hint when ``error`` means the LLM's server is down, lacks the model, or refused the key;
    ``None`` for any other error."""
    if args.llm_url:
        return _openai_hint(error, args.llm_url, model)
    return _ollama_hint(error, model, args.ollama_url)


def _ollama_hint(error: BaseException, llm: str, url: str) -> str | None:
    import httpx
    import ollama

    if isinstance(error, ollama.ResponseError):
        if error.status_code == 404:
            return f"hint: the LLM {llm!r} is not pulled on {url}: run `ollama pull {llm}` (or pass --retrieval-only)"
        return f"hint: Ollama at {url} answered {error.status_code}: {error.error} (see the `ollama serve` log)"
    if isinstance(error, ConnectionError | httpx.TransportError):
        return (
            f"hint: Ollama is not reachable at {url}: start it with `ollama serve` and `ollama pull {llm}` "
            "(or pass --retrieval-only)"
        )
    return None


def _openai_hint(error: BaseException, url: str, llm: str) -> str | None:
    import httpx
    import openai

    if isinstance(error, openai.APIConnectionError | ConnectionError | httpx.TransportError):
        return (
            f"hint: no chat server answers at {url}: start one (e.g. `python -m llama_cpp.server --model FILE.gguf`, "
            "`llama-server -m FILE.gguf`, LM Studio or vLLM) and pass its /v1 address (or pass --retrieval-only)"
        )
    if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
        return f"hint: the chat server at {url} refused the API key: set {API_KEY_VARIABLES[0]} (it is never printed)"
    if isinstance(error, openai.NotFoundError):
        return (
            f"hint: the chat server at {url} has no model {llm!r}: pass --llm with one it serves "
            f"(GET {url.rstrip('/')}/models lists them)"
        )
    if isinstance(error, openai.APIStatusError):
        return f"hint: the chat server at {url} answered {error.status_code} (see its log)"
    return None


def citations_line(answer: str, sources: Sequence[str]) -> str:
    """Which ``[source]`` citations of ``answer`` name retrieved passages, and which do not (a small model
    invents some): one line."""
    cited = list(dict.fromkeys(match.group(1).strip() for match in _CITATION.finditer(answer)))
    if not cited:
        return "citations: none (the answer names no [source])"
    retrieved = set(sources)
    found = [name for name in cited if name in retrieved]
    invented = [name for name in cited if name not in retrieved]
    line = f"citations: {len(found)} of {len(cited)} among the retrieved passages"
    if found:
        line += f" ({', '.join(f'[{name}]' for name in found)})"
    if invented:
        line += f"; not retrieved: {', '.join(f'[{name}]' for name in invented)}"
    return line


def _auth() -> dict[str, str]:
    key = api_key()
    return {} if key == NO_KEY else {"Authorization": f"Bearer {key}"}
