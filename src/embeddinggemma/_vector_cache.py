"""A vector cache that can never hand back the wrong vector.

An entry's key is a SHA-256 of everything that decides the vector: the model files' content hash (or,
for a server, its address and model name), the engine, quantization, device and dtype, the task's
prompts, the dimensions, ``max_seq_length``, the side (query or document) and the exact string the
model sees (prompt and title included). A changed setting is a different key: a miss, never a stale
vector. Each entry carries its size, the text's token count and a checksum over its key and bytes; an
entry that is truncated, corrupt, or stored under another key is recomputed, never returned.

The store is a folder (one file per entry, written to a temporary name and renamed into place, so
processes sharing a folder never see half an entry) or any object with LangChain's ``ByteStore``
methods ``mget``/``mset``; LlamaIndex key-value stores (``get``/``put`` with a ``collection``) are
wrapped as such.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import struct
import threading
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["CacheStore", "CacheWriteWarning", "VectorCache"]

_MAGIC = b"EGv1"
_HEADER = struct.Struct("<4sIi")  # magic, dimensions, token count (-1: not counted)
_DIGEST = 16
_FORMAT = 1
_UNIT_TOLERANCE = 1e-3


@runtime_checkable
class CacheStore(Protocol):
    """The key-value interface a cache store needs: LangChain's ``ByteStore`` methods."""

    def mget(self, keys: Sequence[str]) -> list[bytes | None]: ...

    def mset(self, key_value_pairs: Sequence[tuple[str, bytes]]) -> None: ...


class _FolderStore:
    """One file per key under ``folder``; each write is a rename, so readers never see half a file."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder).expanduser()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.folder)!r})"

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / key

    def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        out: list[bytes | None] = []
        for key in keys:
            path = self._path(key)
            try:
                out.append(path.read_bytes())
            except IsADirectoryError:  # the entry's name is taken: a damaged entry, never a vector
                out.append(b"")
            except OSError:  # missing, or unreadable: a miss either way
                out.append(None)
        return out

    def mset(self, key_value_pairs: Sequence[tuple[str, bytes]]) -> None:
        failures = self.write_each(key_value_pairs)
        if failures:
            raise failures[0]

    def write_each(self, key_value_pairs: Sequence[tuple[str, bytes]]) -> list[OSError]:
        """Write every pair that can be written; the errors of those that could not."""
        failures = []
        for key, value in key_value_pairs:
            path = self._path(key)
            temporary = path.with_name(f".{key}.{os.getpid()}.{threading.get_ident()}.tmp")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                temporary.write_bytes(value)
                os.replace(temporary, path)
            except OSError as error:  # read-only, full, or the name taken by a folder
                failures.append(error)
            finally:
                with contextlib.suppress(OSError):
                    temporary.unlink(missing_ok=True)
        return failures


class _KeyValueStore:
    """A LlamaIndex ``BaseKVStore`` (``get``/``put`` of dicts in a collection) as a :class:`CacheStore`."""

    collection = "embeddinggemma_vectors"

    def __init__(self, store: Any) -> None:
        self.store = store

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.store!r})"

    def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        out: list[bytes | None] = []
        for key in keys:
            value = self.store.get(key, collection=self.collection)
            try:
                out.append(base64.b64decode(value["entry"], validate=True) if value is not None else None)
            except (TypeError, KeyError, ValueError):
                out.append(None)
        return out

    def mset(self, key_value_pairs: Sequence[tuple[str, bytes]]) -> None:
        for key, value in key_value_pairs:
            self.store.put(key, {"entry": base64.b64encode(value).decode("ascii")}, collection=self.collection)


class VectorCache:
    """Vectors by key, in a folder or a key-value store, with hit and miss counts.

    Pass it (or just a folder path) as ``cache=`` to either adapter or to :class:`Embedder`; one cache
    may serve many models and settings, since every setting that decides a vector is in the key.

    Example:
        .. code-block:: python

            from embeddinggemma import Embedder, VectorCache

            cache = VectorCache("~/.cache/embeddinggemma/vectors")
            embedder = Embedder(cache=cache)  # or either adapter: EmbeddingGemmaEmbeddings(cache=cache)
            embedder.embed(["Mars is red."])
            embedder.embed(["Mars is red."])  # from the cache
            print(cache.hits, cache.misses)  # 1 1
    """

    def __init__(self, store: str | os.PathLike[str] | CacheStore | Any) -> None:
        if isinstance(store, str | os.PathLike):
            if not os.fspath(store).strip():
                raise ValueError(
                    f"cache={store!r} is an empty path, which would scatter entries into the current folder: "
                    "pass the folder to keep vectors in (e.g. '~/.cache/embeddinggemma/vectors'), or None."
                )
            self.store: CacheStore = _FolderStore(store)
        elif isinstance(store, CacheStore):
            self.store = store
        elif callable(getattr(store, "get", None)) and callable(getattr(store, "put", None)):
            self.store = _KeyValueStore(store)
        else:
            raise TypeError(
                f"a cache store must be a folder path or have mget/mset (LangChain's ByteStore) or get/put "
                f"(LlamaIndex's BaseKVStore); got {type(store).__name__}."
            )
        self.hits = 0
        self.misses = 0
        self.writes = 0
        """Vectors stored: each one a text that was embedded (the same text twice in a call counts once)."""
        self.rejected = 0
        """Entries found but not used: truncated, corrupt, or written for another key."""
        self.failed_writes = 0
        """Vectors that could not be stored (a read-only folder, a full disk, a store that refused them).
        Embedding never fails for that: the vectors are returned, and one warning per cache says why."""
        self._warned = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        counts = f"hits={self.hits}, misses={self.misses}, writes={self.writes}, failed_writes={self.failed_writes}"
        return f"VectorCache({self.store!r}, {counts})"

    def __getstate__(self) -> dict[str, Any]:  # picklable for worker processes (Ray, multiprocessing)
        state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @staticmethod
    def namespace(identity: Mapping[str, object]) -> str:
        """A short id of the settings that decide a vector (part of every key)."""
        text = json.dumps({"format": _FORMAT, **identity}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    @staticmethod
    def key(namespace: str, side: str, text: str) -> str:
        """The key of ``text`` (prompt included) embedded on ``side`` under ``namespace``."""
        digest = hashlib.sha256()
        for part in (namespace, side, text):
            digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
        return digest.hexdigest()

    def get(self, keys: Sequence[str], dimensions: int) -> list[tuple[np.ndarray, int] | None]:
        """``(vector, token count or -1)`` for each key, or None where it is missing or unusable."""
        found: list[tuple[np.ndarray, int] | None] = []
        rejected = 0
        try:
            entries = self.store.mget(list(keys))
        except Exception as error:  # a store that cannot be read: every text is a miss, embedding goes on
            entries = [None] * len(keys)
            self._warn_once(f"cannot read vectors ({_reason(error)})")
        for key, entry in zip(keys, entries, strict=True):
            decoded = None if entry is None else _decode(key, entry, dimensions)
            rejected += entry is not None and decoded is None
            found.append(decoded)
        with self._lock:
            hits = sum(item is not None for item in found)
            self.hits += hits
            self.misses += len(found) - hits
            self.rejected += rejected
        return found

    def put(self, items: Sequence[tuple[str, np.ndarray, int]]) -> None:
        """Store ``(key, vector, token count or -1)`` items. A write that fails is skipped and counted
        (:attr:`failed_writes`), with one :class:`CacheWriteWarning` per cache: a cache never makes
        embedding fail."""
        pairs = [(key, _encode(key, vector, tokens)) for key, vector, tokens in items]
        if isinstance(self.store, _FolderStore):
            failures: list[Exception] = list(self.store.write_each(pairs))
            failed = len(failures)
        else:
            try:
                self.store.mset(pairs)
                failures, failed = [], 0
            except Exception as error:  # any store, any failure: the vectors are still returned
                failures, failed = [error], len(pairs)
        with self._lock:
            self.writes += len(items) - failed
            self.failed_writes += failed
        if failures:
            self._warn_once(f"cannot store vectors ({_reason(failures[0])})")

    def _warn_once(self, problem: str) -> None:
        with self._lock:
            warned, self._warned = self._warned, True
        if not warned:
            warnings.warn(
                f"the vector cache {self._where()} {problem}; embedding goes on without it (see "
                "VectorCache.failed_writes). Point cache= at a writable folder, free disk space, or pass cache=None.",
                CacheWriteWarning,
                stacklevel=5,
            )

    def _where(self) -> str:
        if isinstance(self.store, _FolderStore):
            return f"in {str(self.store.folder)!r}"
        return f"in {type(self.store).__name__}"


class CacheWriteWarning(UserWarning):
    """A vector cache could not store (or read) vectors; they were computed and returned all the same."""


def _reason(error: Exception) -> str:
    if isinstance(error, OSError) and error.strerror:
        where = f": {error.filename}" if error.filename else ""
        return f"{error.strerror}{where}"
    return f"{type(error).__name__}: {error}"


def _encode(key: str, vector: np.ndarray, tokens: int) -> bytes:
    body = _HEADER.pack(_MAGIC, vector.shape[0], tokens) + np.ascontiguousarray(vector, dtype="<f4").tobytes()
    return body + _digest(key, body)


def _decode(key: str, entry: bytes, dimensions: int) -> tuple[np.ndarray, int] | None:
    if not isinstance(entry, bytes | bytearray) or len(entry) != _HEADER.size + 4 * dimensions + _DIGEST:
        return None
    body, digest = bytes(entry[:-_DIGEST]), bytes(entry[-_DIGEST:])
    magic, size, tokens = _HEADER.unpack_from(body)
    if magic != _MAGIC or size != dimensions or digest != _digest(key, body):
        return None
    vector = np.frombuffer(body, dtype="<f4", offset=_HEADER.size).astype(np.float32)
    if not np.isfinite(vector).all() or abs(float(np.linalg.norm(vector)) - 1.0) > _UNIT_TOLERANCE:
        return None
    return vector, tokens


def _digest(key: str, body: bytes) -> bytes:
    return hashlib.blake2b(key.encode() + b"\0" + body, digest_size=_DIGEST).digest()
