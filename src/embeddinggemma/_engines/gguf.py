"""The llama.cpp engine: EmbeddingGemma as GGUF (q8_0 / q4_0 built from the folder, or a file you pass),
run in process.

The model's pooling and both Dense projections run inside llama.cpp; the core re-normalises. Memory is
kept close to the weights (see :mod:`.gguf_split`): llama.cpp loads a copy of
the model without its vocabulary-sized tables, the token table is read by memory map, and each call
packs whole sequences into batches of at most ``max(512, longest input)`` tokens, with a context sized
to that batch and shrunk back after a long input.
"""

from __future__ import annotations

import ctypes
import math
import os
import threading
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._errors import ModelLoadError, require
from .._model_files import check_gguf, fingerprint, record_files
from .._registry import artifacts_of
from .._threads import threads
from .artifacts import (
    IllegalInstruction,
    artifact_damage,
    artifact_path,
    build_once,
    cache_dir_for,
    in_own_process,
    write_manifest,
)
from .base import RuntimeSpec
from .cpu import cpu_flags
from .gguf_split import TokenTable, read_table, split_gguf

BATCH_TOKENS = 512
"""Tokens per llama.cpp call for ordinary inputs; one longer input gets a call (and context) of its own size."""
MAX_SEQUENCES = 64
"""Sequences packed into one call at most."""
_init_lock = threading.Lock()
_initialised = False
_log_lines: deque[str] = deque(maxlen=20)
_probed: set[tuple[str, str | None]] = set()
"""Models (and quantizations) that ran in a child process on this AMX CPU (:func:`_probe_on_amx`)."""
PORTABLE_REBUILD = 'CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install --no-cache-dir --force-reinstall llama-cpp-python'


PRECISIONS = tuple(artifact.precision for artifact in artifacts_of("llama.cpp"))
_SUFFIX = ".gguf"


def build(
    folder: Path, precision: str, cache_dir: str | os.PathLike[str] | None = None, *, force: bool = False
) -> Path:
    """The GGUF of ``folder`` in ``precision`` and its llama.cpp runtime copy (see :mod:`.gguf_split`),
    built once under one lock and recorded in one manifest; checked on every call."""
    if precision not in PRECISIONS:
        raise ValueError(f"quantization={precision!r} is not a GGUF type; use one of {', '.join(PRECISIONS)}.")
    require("gguf", what="building a GGUF", extra="gguf")
    from .gguf_convert import write_gguf

    target = artifact_path(folder, precision, _SUFFIX, cache_dir)
    runtime = _runtime_copy(target)
    return build_once(
        folder,
        target,
        lambda source, temporary: in_own_process(convert, str(source), str(temporary), precision),
        files=[target, runtime],
        record={"format": "gguf", "quantization": precision, "converter": write_gguf.__module__},
        force=force,
        finish=lambda written: in_own_process(split, str(written), str(runtime)),
    )


def convert(folder: str, target: str, precision: str) -> None:
    """:func:`write_gguf` with string arguments, for :func:`in_own_process`."""
    from .gguf_convert import write_gguf

    write_gguf(Path(folder), Path(target), precision)


def split(source: str, target: str) -> None:
    """:func:`split_gguf` with string arguments, for :func:`in_own_process`."""
    split_gguf(Path(source), Path(target))


def prepare(source: Path) -> tuple[Path, TokenTable]:
    """The runtime copy of a GGUF file the user passed (written once beside it, or in the user cache when its
    folder is read-only; checked on every use) and its token table."""
    from filelock import FileLock

    check_gguf(source)
    digest = fingerprint(source)
    # The name carries the content hash: two files of one name and size never share a copy.
    runtime = source.with_name(f"{source.stem}.{digest[:16]}.runtime.gguf")
    if not os.access(source.parent, os.W_OK):
        runtime = cache_dir_for(source.parent, None) / runtime.name
    with FileLock(str(runtime) + ".lock"):
        if artifact_damage(runtime) is not None:
            split_gguf(source, runtime)
            write_manifest(
                runtime, {"source": str(source), "source_xxh3_128": digest, "files": record_files([runtime])}
            )
    return runtime, _table(runtime, source)


def _runtime_copy(built: Path) -> Path:
    return built.with_name(built.stem + ".runtime.gguf")


def _table(runtime: Path, source: Path) -> TokenTable:
    table = read_table(runtime, source)
    if table is None:
        raise ModelLoadError(f"could not prepare a runtime copy of {str(source)!r}.")
    return table


def load(spec: RuntimeSpec) -> GGUFModel:
    return GGUFModel(spec.model, quantization=spec.quantization)


def has_amx() -> bool:
    return "amx_tile" in cpu_flags()


def probe(model: str, quantization: str) -> None:
    """Load ``model`` and embed one text, for :func:`in_own_process`: a build that dies does so there."""
    GGUFModel(model, quantization=quantization or None, probe_first=False).encode(
        ["probe"], max_seq_length=8, batch_size=1, show_progress=False
    )


def _probe_on_amx(model: str, quantization: str | None) -> None:
    """On a CPU with AMX, run ``model`` once in a child process before this one loads llama.cpp. A
    llama-cpp-python built there with ``-march=native`` runs an AMX instruction before configuring the
    CPU's tiles and the process dies of SIGILL on its first call (``benchmarks/RESULTS.md``): the child
    dies instead, and the user gets the fix rather than a dead process."""
    key = (model, quantization)
    if key in _probed or not has_amx():
        return
    try:
        in_own_process(probe, model, quantization or "")
    except IllegalInstruction:
        raise ModelLoadError(
            "llama.cpp stopped with an illegal instruction on this CPU, which has AMX: llama-cpp-python was "
            "built for it (-march=native) and runs an AMX instruction before configuring the CPU's tiles. "
            f"Rebuild it portable: `{PORTABLE_REBUILD}`; or use quantization='int8' / 'int4' (ONNX Runtime, "
            "no compiler)."
        ) from None
    _probed.add(key)


def _init_backend(lib) -> None:
    """Start llama.cpp once per process and keep its log (only errors are kept, for messages)."""
    global _initialised, _log_callback
    with _init_lock:
        if _initialised:
            return

        @lib.llama_log_callback
        def _log(level, text, _user):
            if level >= 4:  # GGML_LOG_LEVEL_ERROR
                _log_lines.append(text.decode("utf-8", "replace").strip())

        _log_callback = _log  # keep a reference: llama.cpp calls it for the process' lifetime
        lib.llama_log_set(_log_callback, ctypes.c_void_p())
        lib.llama_backend_init()
        _initialised = True


def _last_error() -> str:
    return " ".join(line for line in _log_lines if line) or "no detail from llama.cpp"


class _Model:
    """A llama.cpp model handle, freed with its owner."""

    def __init__(self, lib, path: Path, *, vocab_only: bool) -> None:
        self._lib = lib
        params = lib.llama_model_default_params()
        params.n_gpu_layers = 0
        params.vocab_only = vocab_only
        if not vocab_only:  # read into memory once (no mmap: weights are not resident twice)
            if hasattr(params, "use_mmap"):  # llama-cpp-python before load_mode replaced it
                params.use_mmap = False
            else:
                params.load_mode = 0
        _log_lines.clear()
        self.handle = lib.llama_model_load_from_file(str(path).encode(), params)
        if not self.handle:
            raise ModelLoadError(f"llama.cpp could not load {str(path)!r}: {_last_error()}")

    def __del__(self) -> None:
        if getattr(self, "handle", None):
            self._lib.llama_model_free(self.handle)
            self.handle = None


class _Context:
    """A llama.cpp context plus an embeddings-input batch, both sized for ``capacity`` tokens."""

    def __init__(self, lib, model: _Model, capacity: int, width: int, n_threads: int) -> None:
        self._lib = lib
        self.capacity = capacity
        params = lib.llama_context_default_params()
        params.n_ctx = params.n_batch = params.n_ubatch = capacity
        params.n_seq_max = MAX_SEQUENCES
        params.n_threads = params.n_threads_batch = n_threads
        params.embeddings = True
        params.pooling_type = lib.LLAMA_POOLING_TYPE_MEAN
        _log_lines.clear()
        self.handle = lib.llama_init_from_model(model.handle, params)
        if not self.handle:
            raise ModelLoadError(f"llama.cpp could not create a context of {capacity} tokens: {_last_error()}")
        self.batch = lib.llama_batch_init(capacity, width, 1)
        self.embd = np.ctypeslib.as_array(self.batch.embd, shape=(capacity, width))
        self.pos = np.ctypeslib.as_array(self.batch.pos, shape=(capacity,))
        self.n_seq_id = np.ctypeslib.as_array(self.batch.n_seq_id, shape=(capacity,))
        self.logits = np.ctypeslib.as_array(self.batch.logits, shape=(capacity,))
        self.seq_id = [self.batch.seq_id[i] for i in range(capacity)]

    def __del__(self) -> None:
        if getattr(self, "handle", None):
            self._lib.llama_batch_free(self.batch)
            self._lib.llama_free(self.handle)
            self.handle = None


class GGUFModel:
    """EmbeddingGemma from a GGUF file (built from a model folder on first use), run by llama.cpp."""

    def __init__(self, model: str, *, quantization: str | None = None, probe_first: bool = True) -> None:
        lib = require("llama_cpp", what="quantization='q8_0'/'q4_0' and .gguf models", extra="gguf")
        self._lib = lib
        if model.lower().endswith(_SUFFIX):  # a GGUF file the user has
            self.source = Path(model).expanduser()
            if not self.source.is_file():
                raise ModelLoadError(f"model={model!r} ends in .gguf but there is no such file.")
            runtime, table = prepare(self.source)
        else:  # a model folder, built into a GGUF once
            self.source = build(Path(model), quantization or "q8_0")
            runtime = _runtime_copy(self.source)
            table = _table(runtime, self.source)
        if probe_first:
            _probe_on_amx(model, quantization)
        _init_backend(lib)
        self._vocab_model = _Model(lib, self.source, vocab_only=True)
        self._vocab = lib.llama_model_get_vocab(self._vocab_model.handle)
        self._add_eos = bool(lib.llama_vocab_get_add_eos(self._vocab))
        self._model = _Model(lib, runtime, vocab_only=False)
        self._width = int(lib.llama_model_n_embd(self._model.handle))
        if table.width != self._width:
            raise ModelLoadError(f"{str(self.source)!r}: token table width {table.width} != model width {self._width}.")
        self.full_dimensions = int(lib.llama_model_n_embd_out(self._model.handle))
        self._table = table.open()
        self._table_type = table.ggml_type
        self._scale = np.float32(math.sqrt(self._width))
        self._threads = threads()
        self._context = _Context(lib, self._model, BATCH_TOKENS, self._width, self._threads)
        self._lock = threading.Lock()

    # -- tokens ---------------------------------------------------------------------------------
    def _tokenize(self, text: str) -> np.ndarray:
        data = text.encode("utf-8")
        room = len(data) + 8
        while True:
            buffer = (self._lib.llama_token * room)()
            n = self._lib.llama_tokenize(self._vocab, data, len(data), buffer, room, True, True)
            if n >= 0:
                return np.frombuffer(buffer, dtype=np.int32, count=n).copy()
            room = -n

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        with self._lock:
            return [len(self._tokenize(text)) for text in texts]

    def _cut(self, ids: np.ndarray, limit: int) -> np.ndarray:
        """Keep ``limit`` tokens, ending with <eos> as the HF tokenizer's truncation does."""
        if len(ids) <= limit:
            return ids
        if self._add_eos and limit >= 2:
            return np.concatenate([ids[: limit - 1], ids[-1:]])
        return ids[:limit]

    def _rows(self, ids: np.ndarray) -> np.ndarray:
        """Scaled embedding rows for ``ids``, read from the memory-mapped table."""
        import gguf

        unique, inverse = np.unique(ids, return_inverse=True)
        raw = np.asarray(self._table[unique])
        rows = gguf.quants.dequantize(raw, gguf.GGMLQuantizationType(self._table_type)).reshape(len(unique), -1)
        return (rows.astype(np.float32, copy=False) * self._scale)[inverse]

    # -- encode ---------------------------------------------------------------------------------
    def encode(self, texts: Sequence[str], *, max_seq_length: int, batch_size: int, show_progress: bool) -> np.ndarray:
        from tqdm import tqdm

        with self._lock:
            sequences = [self._cut(self._tokenize(text), max_seq_length) for text in texts]
            out = np.empty((len(sequences), self.full_dimensions), dtype=np.float32)
            order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
            progress = tqdm(total=len(sequences), disable=not show_progress, unit="text")
            try:
                for group in self._pack(order, sequences, batch_size):
                    self._run(group, sequences, out)
                    progress.update(len(group))
            finally:
                progress.close()
                if self._context.capacity > BATCH_TOKENS:  # give the long-input context back
                    self._context = _Context(self._lib, self._model, BATCH_TOKENS, self._width, self._threads)
        return out

    @staticmethod
    def _pack(order: list[int], sequences: list[np.ndarray], batch_size: int) -> list[list[int]]:
        """Consecutive inputs (shortest first) grouped into calls of at most BATCH_TOKENS tokens."""
        groups: list[list[int]] = []
        current: list[int] = []
        used = 0
        limit = min(batch_size, MAX_SEQUENCES)
        for i in order:
            n = len(sequences[i])
            if current and (used + n > BATCH_TOKENS or len(current) >= limit):
                groups.append(current)
                current, used = [], 0
            current.append(i)
            used += n
        if current:
            groups.append(current)
        return groups

    def _run(self, group: list[int], sequences: list[np.ndarray], out: np.ndarray) -> None:
        lib = self._lib
        total = sum(len(sequences[i]) for i in group)
        if total > self._context.capacity:
            self._context = None  # free the old context before making the larger one
            # llama.cpp pads a context to a multiple of 256 tokens; a batch of another size fails its graph checks.
            capacity = -(-total // 256) * 256
            self._context = _Context(lib, self._model, capacity, self._width, self._threads)
        ctx = self._context
        ids = np.concatenate([sequences[i] for i in group])
        ctx.embd[:total] = self._rows(ids)
        start = 0
        for seq, i in enumerate(group):
            n = len(sequences[i])
            ctx.pos[start : start + n] = np.arange(n, dtype=np.int32)
            for t in range(start, start + n):
                ctx.seq_id[t][0] = seq
            start += n
        ctx.n_seq_id[:total] = 1
        ctx.logits[:total] = 1
        ctx.batch.n_tokens = total
        _log_lines.clear()
        status = lib.llama_decode(ctx.handle, ctx.batch)
        if status != 0:
            raise RuntimeError(
                f"llama.cpp failed to embed a batch of {len(group)} texts (status {status}): {_last_error()}"
            )
        for seq, i in enumerate(group):
            pointer = lib.llama_get_embeddings_seq(ctx.handle, seq)
            if not pointer:
                raise RuntimeError(f"llama.cpp returned no pooled embedding for input {i}.")
            out[i] = np.ctypeslib.as_array(pointer, shape=(self.full_dimensions,))
