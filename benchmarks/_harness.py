"""What every benchmark shares: paths, evaluation data, machine info, memory readings, JSON reports, and
running one configuration in a worker process.

Benchmarks run from the repository root as modules, ``python -m benchmarks.throughput ...``; by path,
``python benchmarks/throughput.py ...`` re-runs itself as that module (:func:`rerun_as_module`).

Worker protocol (one for every benchmark): the parent runs ``python -m benchmarks.SCRIPT --worker ...
--out FILE --spawned-at T`` (:func:`run_worker`); the worker does its one measurement and writes its result,
or the error it died of, as JSON to ``FILE`` (:func:`write_worker_result`).

Standard library only at import, so a worker's measured start-up pays for nothing here.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DOCS = REPO / "examples" / "sample_docs"
TINY_BEIR = REPO / "benchmarks" / "data" / "tiny_beir"
MODEL_ENV = "EMBEDDINGGEMMA_MODEL"
EVAL_DIR_ENV = "EMBEDDINGGEMMA_EVAL_DIR"
"""Overrides where the STS sets are (default: ``../shared/eval`` beside the repository)."""
HUB_MODEL = "google/embeddinggemma-300m"

PACKAGES = (
    "embeddinggemma",
    "numpy",
    "onnxruntime",
    "llama-cpp-python",
    "torch",
    "transformers",
    "sentence-transformers",
    "tokenizers",
    "langchain-core",
    "langchain-huggingface",
    "llama-index-core",
    "llama-index-embeddings-huggingface",
    "faiss-cpu",
    "ray",
    "scipy",
)
"""Versions reported with every result (those installed)."""
CPU_FLAGS = (
    "fma",
    "f16c",
    "avx",
    "avx2",
    "avx_vnni",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
    "asimd",
    "asimddp",
    "i8mm",
    "bf16",
    "sve",
)
"""The instruction-set flags that decide which kernels ONNX Runtime, llama.cpp and torch use (x86 and Arm)."""
THREAD_ENV = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "RAYON_NUM_THREADS",
    "EMBEDDINGGEMMA_THREADS",
)


# --- paths and data ----------------------------------------------------------------------------------


def default_model() -> str:
    return os.environ.get(MODEL_ENV) or HUB_MODEL


def eval_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The folder of the STS sets: ``override``, else ``$EMBEDDINGGEMMA_EVAL_DIR``, else ``../shared/eval``."""
    chosen = override or os.environ.get(EVAL_DIR_ENV)
    return Path(chosen) if chosen else REPO.parent / "shared" / "eval"


@dataclass
class Pairs:
    """An STS set: sentence pairs and their gold scores (0-5)."""

    first: list[str]
    second: list[str]
    gold: np.ndarray


def read_pair_rows(pairs_file: Path, limit: int | None = None) -> list[dict[str, str]]:
    """The rows of a ``pairs.tsv`` (``sentence1``, ``sentence2``, ``score``), the first ``limit`` if given."""
    with open(pairs_file, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return rows if limit is None else rows[:limit]


def load_pairs(folder: Path, file: str = "pairs.tsv", limit: int | None = None) -> Pairs:
    """One STS set of the eval folder (``folder/pairs.tsv``), its first ``limit`` pairs if given."""
    import numpy as np

    rows = read_pair_rows(Path(folder) / file, limit)
    return Pairs(
        [r["sentence1"] for r in rows], [r["sentence2"] for r in rows], np.array([float(r["score"]) for r in rows])
    )


def distinct_sentences(pairs_file: Path) -> list[str]:
    """Every distinct sentence of a ``pairs.tsv`` in file order (sentence1, then sentence2 of each row),
    whitespace collapsed; empty when the file is missing."""
    if not pairs_file.is_file():
        return []
    seen: dict[str, None] = {}
    for row in read_pair_rows(pairs_file):
        for key in ("sentence1", "sentence2"):
            seen.setdefault(" ".join(row[key].split()), None)
    return [s for s in seen if s]


EmbedFn = Callable[[list[str]], Any]
"""Texts → their vectors (a list of lists, or an array): any framework's document-embedding call."""


def embed_sentences(embed: EmbedFn, pairs: Pairs, chunk: int = 256, progress: bool = True) -> dict[str, np.ndarray]:
    """Each distinct sentence embedded once (pairs repeat sentences)."""
    import numpy as np
    from tqdm import tqdm

    unique = sorted(set(pairs.first) | set(pairs.second), key=len)  # similar lengths share a batch: less padding
    vectors: dict[str, np.ndarray] = {}
    for start in tqdm(range(0, len(unique), chunk), desc="embedding", unit="chunk", disable=not progress):
        batch = unique[start : start + chunk]
        for text, vector in zip(batch, embed(batch), strict=True):
            vectors[text] = np.asarray(vector, dtype=np.float32)
    return vectors


def cosines_of(vectors: Mapping[str, np.ndarray], pairs: Pairs) -> np.ndarray:
    import numpy as np

    a = np.stack([vectors[t] for t in pairs.first])
    b = np.stack([vectors[t] for t in pairs.second])
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def pair_cosines(embed: EmbedFn, pairs: Pairs, chunk: int = 256, progress: bool = True) -> np.ndarray:
    """Cosine of each pair."""
    return cosines_of(embed_sentences(embed, pairs, chunk, progress), pairs)


def sts_spearman(embed: EmbedFn, pairs: Pairs, chunk: int = 256, progress: bool = True) -> float:
    """Spearman of the gold scores against the cosine of each pair (the STS metric)."""
    from scipy.stats import spearmanr

    return float(spearmanr(pairs.gold, pair_cosines(embed, pairs, chunk, progress)).statistic)


@dataclass(frozen=True)
class Document:
    """One text file of a documents folder."""

    source: str
    """Its path inside the folder (``notes/faq.md``)."""
    title: str
    text: str


DOC_SUFFIXES = (".md", ".txt")


def read_documents(folder: Path = SAMPLE_DOCS) -> list[Document]:
    """The .md/.txt files under ``folder`` (hidden ones skipped) in path order, titled by their first
    ``# `` heading or their readable file name: for a plain folder, what the RAG examples index."""
    documents = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.suffix not in DOC_SUFFIXES or not path.is_file() or any(p.startswith(".") for p in relative.parts):
            continue
        text = path.read_text(encoding="utf-8")
        if text.strip():
            documents.append(Document(relative.as_posix(), document_title(text, path), text))
    return documents


def document_title(text: str, path: Path) -> str:
    for line in text.splitlines():
        if line.startswith("# ") and line[2:].strip():
            return line[2:].strip()
    return path.stem.replace("-", " ").replace("_", " ").strip().capitalize() or path.name


# --- machine -----------------------------------------------------------------------------------------


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def cpu_model() -> str:
    for line in _cpuinfo():
        if line.startswith(("model name", "Model")):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """The :data:`CPU_FLAGS` this CPU has (from ``/proc/cpuinfo``; empty where there is none)."""
    for line in _cpuinfo():
        if line.startswith(("flags", "Features")):
            present = set(line.split(":", 1)[1].split())
            return [flag for flag in CPU_FLAGS if flag in present]
    return []


def usable_cores() -> int:
    """Cores this process may run on (its affinity; a container's CPU limit may be lower still)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def package_versions(packages: Sequence[str] = PACKAGES) -> dict[str, str]:
    versions = {}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return versions


def now_utc() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def machine_info(packages: Sequence[str] = PACKAGES) -> dict[str, Any]:
    """CPU model and flags, cores, memory, platform, Python, package versions, and the date (UTC)."""
    memory = ""
    try:
        memory = Path("/proc/meminfo").read_text().splitlines()[0].split(":", 1)[1].strip()
    except (OSError, IndexError):
        pass
    return {
        "cpu": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "memory": memory,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": package_versions(packages),
        "date": now_utc(),
    }


def machine_summary(info: dict[str, Any] | None = None) -> str:
    """One line for a printed report: CPU, flags, cores, Python, date."""
    info = info or machine_info()
    flags = ", ".join(info["cpu_flags"]) or "no flags read"
    return (
        f"{info['cpu']} ({flags}), {info['usable_cores']} usable of {info['cores']} cores, "
        f"Python {info['python']}, {info['date']}"
    )


# --- memory ------------------------------------------------------------------------------------------

MEMORY_FIELDS = ("VmRSS", "VmHWM", "RssAnon", "RssFile")


def memory_mb() -> dict[str, float]:
    """This process's ``VmRSS``, ``VmHWM`` (peak RSS), ``RssAnon`` and ``RssFile`` in MiB, from
    ``/proc/self/status`` (NaN where it has none)."""
    values = dict.fromkeys(MEMORY_FIELDS, float("nan"))
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                key, _, rest = line.partition(":")
                if key in values:
                    values[key] = int(rest.split()[0]) / 1024
    except OSError:
        pass
    return values


def rss_mb() -> float:
    return memory_mb()["VmRSS"]


def peak_rss_mb() -> float:
    """Peak RSS of this process image. ``VmHWM``, not ``ru_maxrss``: that one survives ``exec`` and reports
    the parent's peak whenever the parent was bigger than the worker."""
    peak = memory_mb()["VmHWM"]
    if peak == peak:
        return peak
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux (no /proc elsewhere)


# --- reports -----------------------------------------------------------------------------------------


def report_header() -> dict[str, Any]:
    """What every JSON report starts with: the date and the machine."""
    return {"date": now_utc(), "machine": machine_info()}


def write_json(path: Path | None, report: dict[str, Any]) -> None:
    if path is not None:
        Path(path).write_text(json.dumps(report, indent=2))


def add_common_arguments(parser: argparse.ArgumentParser, *, eval_data: bool = False) -> None:
    """``--model`` and ``--json``; with ``eval_data``, ``--eval-dir`` too (see :func:`eval_dir`)."""
    parser.add_argument(
        "--model", default=default_model(), help=f"model folder or hub id (default: ${MODEL_ENV} or {HUB_MODEL})"
    )
    parser.add_argument("--json", type=Path, help="write the results, machine and date to this file")
    if eval_data:
        parser.add_argument(
            "--eval-dir", type=Path, default=eval_dir(), help=f"folder of the STS sets (default: {eval_dir()})"
        )


def error_summary(error: BaseException) -> str:
    """The error on one line (pydantic's multi-line messages included, its doc links left out)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("For further information")]
    return f"{type(error).__name__}: {' '.join(lines)}"


# --- running as a module, and in a worker process ----------------------------------------------------


def module_name(script: str | os.PathLike[str]) -> str:
    """``benchmarks/throughput.py`` → ``benchmarks.throughput``."""
    return f"{Path(script).parent.name}.{Path(script).stem}"


def _with_repo_on_path(env: dict[str, str]) -> dict[str, str]:
    return {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))}


def rerun_as_module(script: str | os.PathLike[str]) -> None:
    """Replace this process with ``python -m benchmarks.SCRIPT`` and the same arguments: the one way a
    benchmark imports its siblings, whichever way it was started (no ``sys.path`` edits)."""
    command = [sys.executable, "-m", module_name(script), *sys.argv[1:]]
    os.execve(sys.executable, command, _with_repo_on_path(dict(os.environ)))


def worker_env(threads: int | None = None) -> dict[str, str]:
    """The environment of a worker: the repository importable, the hub offline unless asked otherwise, and
    with ``threads`` every thread pool (OpenMP, BLAS, tokenizers, ours) at that size."""
    env = _with_repo_on_path(dict(os.environ))
    env.setdefault("HF_HUB_OFFLINE", "1")
    if threads is not None:
        env.update({name: str(threads) for name in THREAD_ENV})
        env["TOKENIZERS_PARALLELISM"] = "true"
    return env


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """The hidden options of the worker protocol: ``--worker``, ``--out FILE``, ``--spawned-at T``."""
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--spawned-at", type=float, default=None, help=argparse.SUPPRESS)


def run_worker(
    script: str | os.PathLike[str],
    args: Sequence[str],
    out: Path,
    *,
    threads: int | None = None,
    timeout: float | None = None,
    label: str | None = None,
) -> dict[str, Any]:
    """Run ``python -m benchmarks.SCRIPT --worker ARGS --out OUT --spawned-at NOW`` in a fresh interpreter
    and return the JSON it wrote, or ``{"error": ...}`` when it wrote none (with the last lines of its log,
    ``OUT`` with suffix ``.log``). A failed worker is a result, never an exception."""
    log = out.with_suffix(".log")
    if label:
        print(f"[{time.strftime('%H:%M:%S')}] {label} …", file=sys.stderr, flush=True)
    command = [sys.executable, "-m", module_name(script), "--worker", *args, "--out", str(out)]
    with open(log, "w") as handle:
        command += ["--spawned-at", repr(time.time())]
        try:
            code = subprocess.run(
                command, env=worker_env(threads), stdout=handle, stderr=subprocess.STDOUT, timeout=timeout
            ).returncode
        except subprocess.TimeoutExpired:
            code = None
    result: dict[str, Any] = json.loads(out.read_text()) if out.is_file() else {}
    if code != 0 and "error" not in result:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        reason = f"timed out after {timeout}s" if code is None else f"exit code {code}"
        result = {"error": f"{reason}: {' | '.join(tail)}"}
    result.pop("traceback", None)  # it stays in the log
    if "error" in result:
        print(f"    failed: {result['error'][:300]}", file=sys.stderr, flush=True)
    return result


def write_worker_result(out: Path, measure: Callable[[], dict[str, Any]]) -> int:
    """The worker's side: ``measure()`` and write its result to ``out`` as JSON, or the error it raised
    (with its traceback, also printed to the log). The exit code: 0, or 1 after an error."""
    try:
        result = measure()
    except BaseException as error:  # recorded as the result: the parent goes on with the next one
        out.write_text(json.dumps({"error": error_summary(error), "traceback": traceback.format_exc()}))
        traceback.print_exc()
        return 1
    out.write_text(json.dumps(result))
    return 0
