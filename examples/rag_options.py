"""The command-line options both RAG apps take.

The embedding and chunking options are made from the package's settings models (``embeddinggemma.cli``):
their names, types, choices, defaults, help and checks are the adapters' and splitters' own.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from embeddinggemma import (
    DEFAULT_OLLAMA_URL,
    ChunkingSettings,
    EmbeddingSettings,
    IndexSettings,
    VectorCache,
    user_cache_dir,
)
from embeddinggemma.cli import add_options, chosen

SAMPLE_DOCS = Path(__file__).resolve().with_name("sample_docs")
DEFAULT_QUESTION = "Why does EmbeddingGemma need task prompts?"
DEFAULT_LLM = "gemma3:1b"
OLLAMA_URL = os.environ.get("OLLAMA_HOST") or DEFAULT_OLLAMA_URL
EMBEDDING_OPTIONS = ("model", "dimensions", "backend", "engine", "quantization", "device", "base_url")
CHUNKING_OPTIONS = ("chunk_size", "chunk_overlap", "tokenizer")
INDEX_OPTIONS = ("index_precision", "rescore", "oversample")
FLAGS = {"base_url": "--embedding-url"}


def parse_args(
    app: str,
    description: str,
    argv: Sequence[str] | None = None,
    more: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    """The options both apps take, with the defaults filled in (model, index folder, vector cache);
    ``more`` adds a program's own options.

    ``args.embedding`` and ``args.chunking`` hold the adapter and splitter keywords the options set,
    ``args.index`` the vector index's :class:`~embeddinggemma.IndexSettings`.
    """
    parser = _parser(app, description)
    if more is not None:
        more(parser)
    args = parser.parse_args(argv)
    if args.top_k < 1:
        parser.error(f"--top-k must be at least 1, got {args.top_k}")
    args.questions = args.question or [DEFAULT_QUESTION]
    args.default_llm = DEFAULT_LLM
    if args.model is None and args.backend in (None, "local"):
        args.model = os.environ.get("EMBEDDINGGEMMA_MODEL")  # else the adapters' default, the hub id
    if args.base_url is None and args.backend == "ollama":
        args.base_url = args.ollama_url
    args.docs = args.docs.expanduser().resolve()
    args.index_dir = (args.index_dir or _default_index_dir(app, args.docs)).expanduser().resolve()
    args.cache_dir = None if args.no_cache else (args.cache_dir or user_cache_dir() / "vectors").expanduser().resolve()
    # One cache object for every adapter the app makes, so its counts cover the whole run.
    args.vector_cache = None if args.cache_dir is None else VectorCache(args.cache_dir)
    args.embedding = {**chosen(parser, args, EmbeddingSettings, EMBEDDING_OPTIONS), "cache": args.vector_cache}
    args.chunking = chosen(parser, args, ChunkingSettings, CHUNKING_OPTIONS)
    args.index = IndexSettings(**chosen(parser, args, IndexSettings, INDEX_OPTIONS))
    return args


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
    add(
        "--llm",
        help=f"chat model that writes the answer (default: {DEFAULT_LLM} on Ollama; with --llm-url, the first "
        "model the server lists)",
    )
    add(
        "--llm-url",
        help="an OpenAI-compatible chat server's /v1 address (llama-server, LM Studio, vLLM, Ollama's /v1) "
        "instead of Ollama; its API key comes from $LLM_API_KEY or $OPENAI_API_KEY",
    )
    add("--llm-context", type=int, default=4096, help="the chat server's context window in tokens (default: 4096)")
    add("--ollama-url", default=OLLAMA_URL, help=f"Ollama server (default: {OLLAMA_URL})")
    add("--index-dir", type=Path, help="where the index is saved (default: a folder under ~/.cache/embeddinggemma)")
    add("--rebuild", action="store_true", help="rebuild the index even if a matching one exists")
    add(
        "--cache-dir", type=Path, help="vector cache: unchanged chunks are never embedded twice (default: ~/.cache/...)"
    )
    add("--no-cache", action="store_true", help="embed every chunk, even one embedded before")
    add("--retrieval-only", action="store_true", help="print the retrieved passages; do not call the LLM")
    add_options(
        parser,
        EmbeddingSettings,
        EMBEDDING_OPTIONS,
        flags=FLAGS,
        title="embedding (EmbeddingSettings; --model defaults to $EMBEDDINGGEMMA_MODEL when set, and "
        "--embedding-url to --ollama-url with --backend ollama)",
    )
    add_options(parser, ChunkingSettings, CHUNKING_OPTIONS, title="chunking (ChunkingSettings)")
    add_options(
        parser,
        IndexSettings,
        INDEX_OPTIONS,
        title="vector index (IndexSettings; with --dimensions, what decides the index's size: see the README's "
        "'A million chunks on a laptop')",
    )
    return parser


def _default_index_dir(app: str, docs: Path) -> Path:
    tag = hashlib.sha256(str(docs).encode()).hexdigest()[:10]
    return user_cache_dir() / "rag" / f"{app}-{tag}"
