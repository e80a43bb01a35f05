"""Compressed vector indexes for EmbeddingGemma's unit vectors: a million chunks on a laptop.

Four precisions, each searched by inner product (= cosine similarity of unit vectors), combined with the
Matryoshka ``dimensions`` setting (768, 512, 256, 128):

- ``float32``: FAISS ``IndexFlatIP``, exact; 4 bytes per dimension.
- ``float16``: FAISS scalar quantizer ``QT_fp16``; 2 bytes per dimension.
- ``int8``: FAISS scalar quantizer ``QT_8bit``, one byte per dimension, its per-dimension ranges calibrated
  on the indexed vectors and stored inside the index file.
- ``binary``: one sign bit per dimension, searched by Hamming distance (``IndexBinaryFlat``) for
  ``k x oversample`` candidates, which are then re-ranked by the query's inner product with their int8
  (kept in memory) or float32 vectors (kept on disk: only the candidates' rows are read, with ``pread``).

The first three are plain FAISS indexes: LangChain's ``FAISS`` store and LlamaIndex's ``FaissVectorStore``
take them as they are (:func:`faiss_index`). The binary one has its own search, :class:`BinaryIndex`, which
the adapters' retrievers (``EmbeddingGemmaRetriever`` in both) wrap. Everything is saved in FAISS's own
formats and ``.npy`` arrays, never a pickle; :func:`describe` gives what an index manifest records
(precision, dimensions, a hash of the int8 calibration), so a mismatch rebuilds rather than searches wrong.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import require
from ._settings import INDEX_PRECISIONS, IndexSettings
from ._token_rows import NpyRows

__all__ = ["PRECISIONS", "BinaryIndex", "bytes_per_vector", "describe", "faiss_index", "pack_signs", "vector_index"]

PRECISIONS = INDEX_PRECISIONS
DEFAULT_OVERSAMPLE = IndexSettings.model_fields["oversample"].default

_BINARY_FILE = "binary.faissb"
_RESCORE_FILES = {"int8": "rescore-int8.faiss", "float32": "rescore-float32.npy"}
_BINARY_MANIFEST = "binary-index.json"


def _faiss() -> Any:
    return require("faiss", what="compressed vector indexes", extra="faiss")


def bytes_per_vector(dimensions: int, precision: str, rescore: str = "int8") -> int:
    """The memory one vector takes in the index (for ``binary``: the bits plus the in-memory rescoring codes;
    float32 rescoring vectors stay on disk)."""
    _check(precision, dimensions)
    if precision == "binary":
        return dimensions // 8 + (dimensions if rescore == "int8" else 0)
    return dimensions * {"float32": 4, "float16": 2, "int8": 1}[precision]


def faiss_index(dimensions: int, precision: str, training: np.ndarray | None = None) -> Any:
    """An empty inner-product FAISS index of ``precision`` (``float32``, ``float16`` or ``int8``), ready for
    ``add``: the ``int8`` one calibrated on ``training`` (the vectors to index, or a sample of them).

    Pass it to LangChain's ``FAISS(index=...)`` or LlamaIndex's ``FaissVectorStore(faiss_index=...)``."""
    faiss = _faiss()
    _check(precision, dimensions)
    if precision == "binary":
        raise ValueError("index_precision='binary' is searched by BinaryIndex (and the EmbeddingGemmaRetriever).")
    if precision == "float32":
        return faiss.IndexFlatIP(dimensions)
    kind = faiss.ScalarQuantizer.QT_fp16 if precision == "float16" else faiss.ScalarQuantizer.QT_8bit
    index = faiss.IndexScalarQuantizer(dimensions, kind, faiss.METRIC_INNER_PRODUCT)
    if precision == "int8":
        if training is None or len(training) == 0:
            raise ValueError("index_precision='int8' is calibrated on the vectors it will hold: pass them as training.")
        index.train(_rows(training, dimensions))
    else:
        index.train(np.zeros((1, dimensions), np.float32))  # fp16 needs no ranges; FAISS still asks for train()
    return index


class BinaryIndex:
    """Sign bits searched by Hamming distance, the ``k x oversample`` nearest re-ranked by inner product with
    the candidates' int8 (in memory) or float32 (read from disk as needed) vectors.

    ``add`` takes float32 unit vectors; ``search`` takes float32 queries and returns ``(scores, ids)`` as
    FAISS does (``-1`` ids where the index holds fewer than ``k`` vectors).
    """

    def __init__(self, dimensions: int, *, rescore: str = "int8", oversample: int = DEFAULT_OVERSAMPLE) -> None:
        faiss = _faiss()
        _check("binary", dimensions)
        IndexSettings(rescore=rescore, oversample=oversample)  # the settings' own checks and messages
        self.d, self.rescore, self.oversample = dimensions, rescore, oversample
        self.binary = faiss.IndexBinaryFlat(dimensions)
        self._codes: Any = None
        """The rescoring vectors: an int8 scalar-quantizer index, or the float32 rows (in memory while built; once
        saved and loaded, read from the file as needed)."""

    @property
    def ntotal(self) -> int:
        return int(self.binary.ntotal)

    def add(self, vectors: np.ndarray) -> None:
        rows = _rows(vectors, self.d)
        if self.rescore == "int8":
            if self._codes is None:  # calibrated on the first vectors added (all of them, in the usual build)
                self._codes = faiss_index(self.d, "int8", rows)
            self._codes.add(rows)
        else:
            if self._codes is not None and not isinstance(self._codes, np.ndarray):
                raise ValueError("a loaded binary index with float32 rescoring is read-only: build a new one.")
            self._codes = rows.copy() if self._codes is None else np.concatenate([self._codes, rows])
        self.binary.add(pack_signs(rows))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = _rows(queries, self.d)
        if k < 1:
            raise ValueError(f"k={k!r} must be at least 1.")
        candidates = min(self.ntotal, k * self.oversample)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        if candidates == 0:
            return scores, ids
        _, found = self.binary.search(pack_signs(queries), candidates)
        for row, (query, near) in enumerate(zip(queries, found, strict=True)):
            near = near[near >= 0]
            exact = self._vectors(near) @ query
            order = np.argsort(-exact, kind="stable")[:k]
            scores[row, : len(order)], ids[row, : len(order)] = exact[order], near[order]
        return scores, ids

    def _vectors(self, ids: np.ndarray) -> np.ndarray:
        if self.rescore == "int8":
            return self._codes.reconstruct_batch(ids)
        if isinstance(self._codes, np.ndarray):
            return self._codes[ids]
        return self._codes(ids)  # loaded: only these rows are read from disk

    def save(self, folder: str | Path) -> list[Path]:
        """Write the index into ``folder`` (FAISS's formats and ``.npy``, no pickle); returns the files."""
        faiss = _faiss()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = [folder / _BINARY_FILE, folder / _RESCORE_FILES[self.rescore], folder / _BINARY_MANIFEST]
        faiss.write_index_binary(self.binary, str(written[0]))
        if self.rescore == "int8":
            empty = faiss.IndexScalarQuantizer(self.d, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
            faiss.write_index(self._codes if self._codes is not None else empty, str(written[1]))
        else:
            if self._codes is not None and not isinstance(self._codes, np.ndarray):
                raise ValueError("a loaded binary index with float32 rescoring is saved already: copy its folder.")
            rows = self._codes if self._codes is not None else np.zeros((0, self.d), np.float32)
            np.save(written[1], rows, allow_pickle=False)
        record = {"precision": "binary", "dimensions": self.d, "rescore": self.rescore, "oversample": self.oversample}
        written[2].write_text(json.dumps(record), encoding="utf-8")
        return written

    @classmethod
    def load(cls, folder: str | Path) -> BinaryIndex:
        """The index :meth:`save` wrote; a damaged or mismatched file is a ``ValueError`` naming it."""
        faiss = _faiss()
        folder = Path(folder)
        try:
            record = json.loads((folder / _BINARY_MANIFEST).read_text(encoding="utf-8"))
            index = cls(int(record["dimensions"]), rescore=record["rescore"], oversample=int(record["oversample"]))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{folder / _BINARY_MANIFEST}: not a binary index record ({error}).") from None
        index.binary = _read(faiss.read_index_binary, folder / _BINARY_FILE)
        rescore_path = folder / _RESCORE_FILES[index.rescore]
        if index.rescore == "int8":
            index._codes = _read(faiss.read_index, rescore_path)
            count = index._codes.ntotal
        else:
            try:
                index._codes = NpyRows(rescore_path)
            except (OSError, ValueError) as error:
                raise ValueError(f"{rescore_path}: not a float32 vector file ({error}).") from None
            count = len(index._codes)
        if index.binary.d != index.d or count != index.ntotal:
            raise ValueError(
                f"{folder}: the binary index ({index.binary.ntotal} vectors of {index.binary.d} bits) and its "
                f"rescoring vectors ({count}) do not match."
            )
        return index


def vector_index(vectors: np.ndarray, settings: IndexSettings | None = None, **given: Any) -> Any:
    """An index holding ``vectors`` (unit vectors, one per row, in the order of their ids), as ``settings`` (or
    the :class:`~embeddinggemma.IndexSettings` keywords ``given``) say: a FAISS index for ``float32``,
    ``float16`` and ``int8``, a :class:`BinaryIndex` for ``binary``."""
    settings = settings or IndexSettings(**given)
    rows = _rows(vectors, np.shape(vectors)[1] if np.ndim(vectors) == 2 else -1)
    if settings.index_precision == "binary":
        index: Any = BinaryIndex(rows.shape[1], rescore=settings.rescore, oversample=settings.oversample)
    else:
        index = faiss_index(rows.shape[1], settings.index_precision, rows)
    index.add(rows)
    return index


def pack_signs(vectors: np.ndarray) -> np.ndarray:
    """One bit per dimension, set where the value is positive, packed 8 to a byte (``IndexBinaryFlat``'s codes)."""
    return np.packbits(np.asarray(vectors) > 0, axis=1)


def describe(index: Any) -> dict[str, object]:
    """What an index manifest records about ``index``: precision, dimensions, and for ``int8`` a hash of the
    calibrated ranges (a rebuilt calibration is a different index, never mixed with the old vectors)."""
    faiss = _faiss()
    if isinstance(index, BinaryIndex):
        calibration = _calibration(index._codes) if index.rescore == "int8" and index._codes is not None else None
        return {
            "precision": "binary",
            "dimensions": index.d,
            "rescore": index.rescore,
            "oversample": index.oversample,
            "calibration": calibration,
        }
    if isinstance(index, faiss.IndexFlatIP):
        return {"precision": "float32", "dimensions": index.d, "calibration": None}
    if isinstance(index, faiss.IndexScalarQuantizer):
        precision = "float16" if index.sq.qtype == faiss.ScalarQuantizer.QT_fp16 else "int8"
        return {
            "precision": precision,
            "dimensions": index.d,
            "calibration": _calibration(index) if precision == "int8" else None,
        }
    raise ValueError(f"{type(index).__name__} is not an index of embeddinggemma.vector_index.")


def _calibration(index: Any) -> str:
    faiss = _faiss()
    ranges = faiss.vector_to_array(index.sq.trained).astype("<f4")
    return hashlib.sha256(ranges.tobytes()).hexdigest()[:16]


def _read(reader: Any, path: Path) -> Any:
    try:
        return reader(str(path))
    except RuntimeError as error:  # FAISS reports a missing or malformed file as a RuntimeError
        raise ValueError(f"{path}: not a FAISS index ({str(error).splitlines()[0]}).") from None


def _rows(vectors: np.ndarray, dimensions: int) -> np.ndarray:
    rows = np.ascontiguousarray(vectors, dtype=np.float32)
    if rows.ndim != 2 or rows.shape[1] != dimensions:
        raise ValueError(f"expected vectors of shape (n, {dimensions}), got {rows.shape}.")
    if not np.isfinite(rows).all():
        raise ValueError("the vectors hold NaN or infinite values; they cannot be indexed.")
    return rows


def _check(precision: str, dimensions: int) -> None:
    IndexSettings(index_precision=precision)  # the settings' own check and message
    if isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 8 or dimensions % 8:
        raise ValueError(f"dimensions={dimensions!r} must be a positive multiple of 8 (768, 512, 256 or 128).")
