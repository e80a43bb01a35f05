"""What the two RAG examples share: options, the corpus, titles, the index manifest, progress and hints.

Each app (``langchain_rag.py``, ``llama_index_rag.py``) reads top to bottom on its own; this module holds
the plumbing that would otherwise be written twice.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tqdm.auto import tqdm

from embeddinggemma import DEFAULT_MODEL, DIMENSIONS, Embedder, EmbeddingConfig, EmbeddingGemmaError, load_backend

SAMPLE_DOCS = Path(__file__).resolve().with_name("sample_docs")
DOC_SUFFIXES = (".md", ".txt")
MANIFEST = "embeddinggemma-rag.json"
MANIFEST_FORMAT = 1
DEFAULT_QUESTION = "Why does EmbeddingGemma need task prompts?"
DEFAULT_LLM = "gemma3:1b"
DEFAULT_OLLAMA_URL = os.environ.get("OLLAMA_HOST") or "http://localhost:11434"
# The settings that decide what vector a text gets; a change to any of them means re-embedding.
VECTOR_SETTINGS = ("model", "task", "dimensions", "max_seq_length", "dtype", "backend", "quantization")


class AppError(Exception):
    """A problem the user can fix (bad folder, foreign index); printed as one line, no traceback."""


# -- options -----------------------------------------------------------------------------------


def parse_args(app: str, description: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The options both apps take."""
    parser = argparse.ArgumentParser(prog=f"{app}.py", description=description)
    add = parser.add_argument
    add("--docs", type=Path, default=SAMPLE_DOCS, help="folder of .md/.txt files (default: the bundled samples)")
    add("-q", "--question", action="append", help=f"question; repeat for several (default: {DEFAULT_QUESTION!r})")
    add("-k", "--top-k", type=int, default=4, help="passages to retrieve (default: 4)")
    add("--dimensions", type=int, choices=DIMENSIONS, default=768, help="embedding size (Matryoshka; default 768)")
    model_help = "embedding model: hub id or local folder (default: $EMBEDDINGGEMMA_MODEL, else the hub id)"
    add("--model", help=f"{model_help}; Ollama's model name with --backend ollama (default: embeddinggemma)")
    add("--backend", choices=("local", "ollama", "openai"), default="local", help="embedding runtime (default: local)")
    add("--quantization", choices=("q8_0", "q4_0", "int8"), help="local quantized runtime (GGUF or ONNX)")
    add("--device", default="auto", help="local device: auto, cpu, cuda, mps (default: auto)")
    add("--embedding-url", help="server for --backend ollama/openai (default: --ollama-url for ollama)")
    add("--llm", default=DEFAULT_LLM, help=f"Ollama chat model that writes the answer (default: {DEFAULT_LLM})")
    add("--ollama-url", default=DEFAULT_OLLAMA_URL, help=f"Ollama server (default: {DEFAULT_OLLAMA_URL})")
    add("--index-dir", type=Path, help="where the index is saved (default: a folder under ~/.cache/embeddinggemma)")
    add("--rebuild", action="store_true", help="re-embed the documents even if a matching index exists")
    add("--retrieval-only", action="store_true", help="print the retrieved passages; do not call the LLM")
    args = parser.parse_args(argv)
    if args.top_k < 1:
        parser.error(f"--top-k must be at least 1, got {args.top_k}")
    args.questions = args.question or [DEFAULT_QUESTION]
    if args.model is None and args.backend == "ollama":
        args.model = "embeddinggemma"  # Ollama's name for the model
    elif args.model is None:
        args.model = os.environ.get("EMBEDDINGGEMMA_MODEL", DEFAULT_MODEL)
    if args.embedding_url is None and args.backend == "ollama":
        args.embedding_url = args.ollama_url
    args.docs = args.docs.expanduser().resolve()
    if args.index_dir is None:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        tag = hashlib.sha256(str(args.docs).encode()).hexdigest()[:10]
        args.index_dir = cache / "embeddinggemma" / "rag" / f"{app}-{tag}"
    args.index_dir = args.index_dir.expanduser().resolve()
    return args


# -- corpus --------------------------------------------------------------------------------------


def corpus_files(folder: Path) -> list[Path]:
    """The .md/.txt files under ``folder`` (recursively, hidden ones skipped), in a stable order."""
    if not folder.is_dir():
        raise AppError(f"--docs {folder} is not a folder: pass a folder of .md or .txt files.")
    files = sorted(
        path
        for path in folder.rglob("*")
        if path.is_file()
        and path.suffix.lower() in DOC_SUFFIXES
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )
    if not files:
        raise AppError(f"--docs {folder} holds no .md or .txt files: add some, or pass another folder.")
    return files


def source_name(path: Path, folder: Path) -> str:
    """How answers cite a file: its path inside the docs folder."""
    return path.relative_to(folder).as_posix()


def document_title(path: Path) -> str:
    """The file's first markdown heading, else its name made readable (``bm25-and-hybrid`` → ``Bm25 and hybrid``)."""
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("# ") and line[2:].strip():
            return line[2:].strip()
    return path.stem.replace("-", " ").replace("_", " ").strip().capitalize() or path.name


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fingerprint(files: Sequence[Path], folder: Path) -> dict[str, str]:
    """``{source name: sha256 of the file}``: what the index was built from."""
    return {source_name(path, folder): _sha256(path) for path in files}


def vector_settings(config: EmbeddingConfig, **splitting: object) -> dict[str, object]:
    """The settings that shape the index: the embedding settings that change vectors, plus splitting."""
    values = {name: getattr(config, name) for name in VECTOR_SETTINGS}
    if config.backend == "local" and Path(config.model).expanduser().exists():
        values["model"] = str(Path(config.model).expanduser().resolve())
    prompts = config.prompts
    values["prompts"] = {"query": prompts.query, "document": prompts.document}
    return {**values, **splitting}


# -- the index folder and its manifest -----------------------------------------------------------


@dataclass(frozen=True)
class IndexPlan:
    """Whether to load the saved index, and the line that tells the user why."""

    reuse: bool
    reason: str


def _index_files(folder: Path) -> dict[str, str]:
    return {p.name: _sha256(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name != MANIFEST}


def _changes(old: dict[str, str], new: dict[str, str]) -> str:
    parts = []
    for label, names in (
        ("added", [n for n in new if n not in old]),
        ("modified", [n for n in new if n in old and new[n] != old[n]]),
        ("removed", [n for n in old if n not in new]),
    ):
        if names:
            shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            parts.append(f"{label} {shown}")
    return "; ".join(parts)


def _read_manifest(folder: Path, app: str) -> dict | None:
    """This app's manifest in ``folder``, or ``None`` when there is none (or another program's)."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ours = isinstance(manifest, dict) and manifest.get("app") == app and manifest.get("format") == MANIFEST_FORMAT
    return manifest if ours and isinstance(manifest.get("index_files"), dict) else None


def plan_index(folder: Path, app: str, settings: dict, documents: dict[str, str], *, rebuild: bool) -> IndexPlan:
    """Decide between loading ``folder`` and (re)building it.

    Only an index this app wrote is ever loaded: the folder must hold this app's manifest, and every
    index file must still have the hash the manifest recorded (LangChain's FAISS docstore is a pickle,
    and loading a pickle can run code). A folder holding anything this app did not write is neither
    loaded nor overwritten.
    """
    if not folder.exists() or not any(folder.iterdir()):
        return IndexPlan(False, f"building a new index in {folder}")
    manifest = _read_manifest(folder, app)
    if manifest is None:
        raise AppError(
            f"not loading or overwriting {folder}: it holds files but no manifest written by {app}, and this "
            "app only loads indexes it wrote itself. Choose another --index-dir, or delete that folder yourself."
        )
    recorded = manifest["index_files"]
    foreign = sorted(p.name for p in folder.iterdir() if p.name != MANIFEST and p.name not in recorded)
    if foreign:
        raise AppError(
            f"not loading or overwriting {folder}: it holds files this app did not write ({', '.join(foreign)}). "
            "Move them away, or choose another --index-dir."
        )
    if rebuild:
        return IndexPlan(False, f"rebuilding {folder} (--rebuild)")
    if _index_files(folder) != recorded:
        return IndexPlan(False, f"rebuilding {folder}: its files changed after this app wrote them (not loading them)")
    old = manifest.get("settings", {})
    changed = [f"{key} {old.get(key)!r} -> {value!r}" for key, value in settings.items() if old.get(key) != value]
    if changed:
        return IndexPlan(False, f"rebuilding {folder}: embedding settings changed ({'; '.join(changed)})")
    if manifest.get("documents") != documents:
        changes = _changes(manifest.get("documents", {}), documents)
        return IndexPlan(False, f"rebuilding {folder}: documents changed ({changes})")
    return IndexPlan(
        True,
        f"reusing the index in {folder}, written by this app on {manifest.get('written')} "
        f"({manifest.get('chunks')} chunks; documents and settings unchanged, files verified)",
    )


def clear_index(folder: Path, app: str) -> None:
    """Before a (re)build: delete this app's manifest, then the files it lists, and nothing else.

    The manifest goes first, so a half-written index is never trusted. :func:`plan_index` has made sure
    the folder holds nothing else.
    """
    manifest = _read_manifest(folder, app) if folder.exists() else None
    (folder / MANIFEST).unlink(missing_ok=True)
    for name in (manifest or {}).get("index_files", {}):
        (folder / name).unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)


def write_manifest(folder: Path, app: str, settings: dict, documents: dict[str, str], chunks: int) -> None:
    """Record what the index in ``folder`` was built from; written last, after the index files."""
    manifest = {
        "app": app,
        "format": MANIFEST_FORMAT,
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": settings,
        "documents": documents,
        "chunks": chunks,
        "index_files": _index_files(folder),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")


# -- embedding with progress ----------------------------------------------------------------------


def embed_with_progress(embedder: Embedder, texts: Sequence[str], titles: Sequence[str | None]) -> list[list[float]]:
    """Document vectors (each text with its title in the prompt), with a progress bar: texts and tokens/s.

    ``embedder`` is the adapter's core pipeline (``embeddings.embedder``); its report carries the token
    counts the bar shows (server backends do not count tokens, so the bar then shows texts only).
    """
    load_backend(embedder.config)  # load the model first, so the bar measures embedding only
    vectors: list[list[float]] = []
    step = embedder.config.batch_size
    tokens, started = 0, time.perf_counter()
    with tqdm(total=len(texts), desc="embedding", unit="text", file=sys.stderr) as bar:
        for start in range(0, len(texts), step):
            batch, report = embedder.embed_with_report(
                list(texts[start : start + step]), side="document", titles=list(titles[start : start + step])
            )
            vectors.extend(batch.tolist())
            bar.update(len(batch))
            if report.token_counts is not None:
                tokens += sum(report.token_counts)
                bar.set_postfix_str(f"{tokens / (time.perf_counter() - started):,.0f} tokens/s")
    return vectors


# -- output and failures -------------------------------------------------------------------------


@dataclass(frozen=True)
class Passage:
    """One retrieved chunk, as both apps print it."""

    source: str
    title: str
    score: float
    text: str


def print_passages(question: str, passages: Sequence[Passage]) -> None:
    print(f"\nquestion: {question}")
    print(f"retrieved {len(passages)} passages (score: cosine similarity):")
    for rank, passage in enumerate(passages, 1):
        print(f"  {rank}. {passage.score:.4f}  [{passage.source}] {passage.title}")
        snippet = textwrap.shorten(" ".join(passage.text.split()), width=160, placeholder=" ...")
        print(textwrap.indent(snippet, "       "))


def llm_hint(error: BaseException, llm: str, url: str) -> str | None:
    """A one-line hint when ``error`` means Ollama is down or the LLM is not pulled; else ``None``."""
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


def run(main: Callable[[], int]) -> None:
    """Run an app's ``main`` and exit with its status; user-fixable errors become one line, not a traceback."""
    try:
        status = main()
    except KeyboardInterrupt:
        status = 130
    except (AppError, EmbeddingGemmaError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        status = 1
    sys.exit(status)
