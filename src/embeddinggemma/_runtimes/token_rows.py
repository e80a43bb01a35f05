"""Token embedding rows for the ONNX runtimes, read from disk a row at a time.

The 262,144-row table is never part of an ONNX graph and never loaded whole: the float32 runtime reads
its rows straight from the model's own ``model.safetensors`` (no copy on disk), the int8 runtime from the
int8 table its build wrote. Rows are read with ``pread``: mapped pages would count in the process'
resident memory, read pages stay in the OS cache.
"""

from __future__ import annotations

import json
import os
import weakref
from pathlib import Path

import numpy as np

from .._errors import ModelLoadError

_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2")}


class SafetensorsRows:
    """Rows of one 2-D float tensor of a safetensors file, as float32."""

    def __init__(self, path: Path, name: str) -> None:
        with open(path, "rb") as handle:
            length = int.from_bytes(handle.read(8), "little")
            header = json.loads(handle.read(length))
        entry = header.get(name)
        if entry is None or entry.get("dtype") not in _DTYPES or len(entry.get("shape", ())) != 2:
            raise ModelLoadError(f"{str(path)!r} has no 2-D float tensor {name!r} (the token embedding table).")
        self.rows, self.width = (int(n) for n in entry["shape"])
        self._dtype = entry["dtype"]
        self._stored = _DTYPES[self._dtype]
        self._row_bytes = self.width * self._stored.itemsize
        self._offset = 8 + length + int(entry["data_offsets"][0])
        self._fd = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, self._fd)

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        """Float32 rows ``(len(ids), width)`` for token ids in any order (repeats read once)."""
        unique, inverse = np.unique(np.asarray(ids, dtype=np.int64), return_inverse=True)
        if len(unique) and not (0 <= unique[0] and unique[-1] < self.rows):
            raise IndexError(f"token ids outside the table of {self.rows} rows: {unique[[0, -1]].tolist()}")
        raw = np.empty((len(unique), self._row_bytes), dtype=np.uint8)
        for i, token in enumerate(unique.tolist()):
            raw[i] = np.frombuffer(
                os.pread(self._fd, self._row_bytes, self._offset + token * self._row_bytes), np.uint8
            )
        stored = raw.view(self._stored)
        if self._dtype == "BF16":  # bfloat16 is the top half of a float32
            rows = (stored.astype(np.uint32) << 16).view(np.float32)
        else:
            rows = stored.astype(np.float32, copy=False)
        return rows[inverse]


class Int8Rows:
    """Rows of the int8 table an ``int8`` build wrote (one float32 scale per row), as float32."""

    def __init__(self, table: Path, scales: Path) -> None:
        self._table = np.load(table, mmap_mode="r")
        self._scales = np.load(scales)
        self.rows, self.width = self._table.shape

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        return np.asarray(self._table[ids], dtype=np.float32) * self._scales[ids, None]
