"""The command-line options both RAG apps take."""

from __future__ import annotations

import argparse
import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from embeddinggemma import BACKENDS, DEFAULT_MODEL, DEFAULT_OLLAMA_URL, DIMENSIONS, QUANTIZATIONS, VectorCache

SAMPLE_DOCS = Path(__file__).resolve().with_name("sample_docs")
DEFAULT_QUESTION = "Why does EmbeddingGemma need task prompts?"
DEFAULT_LLM = "gemma3:1b"
OLLAMA_URL = os.environ.get("OLLAMA_HOST") or DEFAULT_OLLAMA_URL
OLLAMA_EMBEDDING_MODEL = "embeddinggemma"  # Ollama's name for the model
# Chunks of up to 512 EmbeddingGemma tokens (prompt and title included): a section of a page, small enough
# for a retrieved passage to be about one thing, and a quarter of the model's 2048-token window.
CHUNK_SIZE, CHUNK_OVERLAP = 512, 64


def parse_args(
    app: str,
    description: str,
    argv: Sequence[str] | None = None,
    more: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    """The options both apps take, with the defaults filled in (model, embedding server, index folder);
    ``more`` adds a program's own options."""
    parser = _parser(app, description)
    if more is not None:
        more(parser)
    args = parser.parse_args(argv)
    if args.top_k < 1:
        parser.error(f"--top-k must be at least 1, got {args.top_k}")
    if not 32 <= args.chunk_size <= 2048:
        parser.error(f"--chunk-size must be from 32 to 2048 tokens, got {args.chunk_size}")
    if not 0 <= args.chunk_overlap < args.chunk_size // 2:
        parser.error(f"--chunk-overlap must be from 0 to half of --chunk-size, got {args.chunk_overlap}")
    args.questions = args.question or [DEFAULT_QUESTION]
    args.model = _embedding_model(args.model, args.backend)
    if args.embedding_url is None and args.backend == "ollama":
        args.embedding_url = args.ollama_url
    args.docs = args.docs.expanduser().resolve()
    args.index_dir = (args.index_dir or _default_index_dir(app, args.docs)).expanduser().resolve()
    if args.tokenizer is None:  # a server's model name is no tokenizer: use the local copy, else the hub id
        local = args.backend == "local" and not args.model.lower().endswith(".gguf")
        args.tokenizer = args.model if local else os.environ.get("EMBEDDINGGEMMA_MODEL", DEFAULT_MODEL)
    args.cache_dir = None if args.no_cache else (args.cache_dir or _cache_home() / "vectors").expanduser().resolve()
    # One cache object for every adapter the app makes, so its counts cover the whole run.
    args.vector_cache = None if args.cache_dir is None else VectorCache(args.cache_dir)
    return args


def embedding_settings(args: argparse.Namespace) -> dict[str, object]:
    """The adapter keywords the options ask for (both adapters take the same ones)."""
    return {
        "model": args.model,
        "dimensions": args.dimensions,
        "backend": args.backend,
        "quantization": args.quantization,
        "device": args.device,
        "base_url": args.embedding_url,
        "cache": args.vector_cache,
    }


def cache_line(args: argparse.Namespace, chunks: int) -> str:
    """How many chunks reached the model on this (re)build, and how many came from the vector cache."""
    cache = args.vector_cache
    if cache is None:
        return f"index: embedded {chunks} of {chunks} chunks (no cache)"
    return f"index: embedded {cache.writes} of {chunks} chunks ({cache.hits} from the cache in {args.cache_dir})"


def _parser(app: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"{app}.py", description=description)
    add = parser.add_argument
    add("--docs", type=Path, default=SAMPLE_DOCS, help="folder of .md/.txt files (default: the bundled samples)")
    add("--follow-links", action="store_true", help="also index links in --docs that point outside it")
    add("-q", "--question", action="append", help=f"question; repeat for several (default: {DEFAULT_QUESTION!r})")
    add("-k", "--top-k", type=int, default=4, help="passages to retrieve (default: 4)")
    add("--dimensions", type=int, choices=DIMENSIONS, default=768, help="embedding size (Matryoshka; default 768)")
    model_help = "embedding model: hub id or local folder (default: $EMBEDDINGGEMMA_MODEL, else the hub id)"
    add("--model", help=f"{model_help}; Ollama's model name with --backend ollama (default: {OLLAMA_EMBEDDING_MODEL})")
    add("--backend", choices=BACKENDS, default="local", help="embedding runtime (default: local)")
    add("--quantization", choices=QUANTIZATIONS, help="local quantized runtime (GGUF or ONNX)")
    add("--device", default="auto", help="local device: auto, cpu, cuda, mps (default: auto)")
    add("--embedding-url", help="server for --backend ollama/openai (default: --ollama-url for ollama)")
    add("--llm", default=DEFAULT_LLM, help=f"Ollama chat model that writes the answer (default: {DEFAULT_LLM})")
    add("--ollama-url", default=OLLAMA_URL, help=f"Ollama server (default: {OLLAMA_URL})")
    add("--index-dir", type=Path, help="where the index is saved (default: a folder under ~/.cache/embeddinggemma)")
    add("--rebuild", action="store_true", help="rebuild the index even if a matching one exists")
    add("--chunk-size", type=int, default=CHUNK_SIZE, help=f"tokens per chunk, prompt included (default: {CHUNK_SIZE})")
    add("--chunk-overlap", type=int, default=CHUNK_OVERLAP, help=f"tokens shared by chunks (default: {CHUNK_OVERLAP})")
    add("--tokenizer", help="model folder or hub id whose tokenizer sizes the chunks (default: --model when local)")
    add(
        "--cache-dir", type=Path, help="vector cache: unchanged chunks are never embedded twice (default: ~/.cache/...)"
    )
    add("--no-cache", action="store_true", help="embed every chunk, even one embedded before")
    add("--retrieval-only", action="store_true", help="print the retrieved passages; do not call the LLM")
    return parser


def _embedding_model(model: str | None, backend: str) -> str:
    """``--model``, else the default for the backend; a local folder as an absolute path."""
    if model is None and backend == "ollama":
        return OLLAMA_EMBEDDING_MODEL
    model = model or os.environ.get("EMBEDDINGGEMMA_MODEL", DEFAULT_MODEL)
    folder = Path(model).expanduser()
    # An absolute path names the same model from any working directory (the index manifest records it).
    return str(folder.resolve()) if backend == "local" and folder.exists() else model


def _cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "embeddinggemma"


def _default_index_dir(app: str, docs: Path) -> Path:
    tag = hashlib.sha256(str(docs).encode()).hexdigest()[:10]
    return _cache_home() / "rag" / f"{app}-{tag}"
