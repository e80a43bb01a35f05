"""Token embedding rows for the ONNX runtimes, read from disk a row at a time.

The 262,144-row table is never part of an ONNX graph and never loaded whole: the float32 runtime reads
its rows straight from the model's own ``model.safetensors`` (no copy on disk), the int8 and int4
runtimes from the int8 table their build wrote. Rows are read with ``pread``: mapped pages would count
in the process' resident memory, read pages stay in the OS cache.
"""

from __future__ import annotations

import json
import os
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import ModelLoadError

TOKEN_TABLE = "embed_tokens.weight"
"""The token table's tensor name, after the text model's prefix."""
_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2")}


class _RowFile:
    """Fixed-size rows of a file, read with ``pread`` from ``offset`` on: the part both tables share."""

    def __init__(self, path: Path, offset: int, rows: int, row_bytes: int) -> None:
        self.rows, self._offset, self._row_bytes = rows, offset, row_bytes
        self._fd = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, self._fd)

    def read(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(unique ids, their raw rows as uint8, inverse)``: repeats are read once."""
        unique, inverse = np.unique(np.asarray(ids, dtype=np.int64), return_inverse=True)
        if len(unique) and not (0 <= unique[0] and unique[-1] < self.rows):
            raise IndexError(f"token ids outside the table of {self.rows} rows: {unique[[0, -1]].tolist()}")
        raw = np.empty((len(unique), self._row_bytes), dtype=np.uint8)
        for i, token in enumerate(unique.tolist()):
            raw[i] = np.frombuffer(
                os.pread(self._fd, self._row_bytes, self._offset + token * self._row_bytes), np.uint8
            )
        return unique, raw, inverse

    def span(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start`` to ``stop`` as uint8, in one read."""
        count = max(0, min(stop, self.rows) - start)
        raw = os.pread(self._fd, count * self._row_bytes, self._offset + start * self._row_bytes)
        return np.frombuffer(raw, np.uint8).reshape(count, self._row_bytes)


def safetensors_header(path: Path) -> tuple[dict[str, Any], int]:
    """A safetensors file's header (its tensors by name) and where its data starts."""
    with open(path, "rb") as handle:
        length = int.from_bytes(handle.read(8), "little")
        return json.loads(handle.read(length)), 8 + length


class SafetensorsTensor:
    """One float tensor of a safetensors file, read a span of rows (its first axis) at a time, as float32."""

    def __init__(self, path: Path, name: str, header: tuple[dict[str, Any], int] | None = None) -> None:
        tensors, start = header or safetensors_header(path)
        entry = tensors.get(name)
        if entry is None or entry.get("dtype") not in _DTYPES:
            raise ModelLoadError(f"{str(path)!r} has no float tensor {name!r}.")
        self.shape = tuple(int(n) for n in entry["shape"])
        self._dtype = entry["dtype"]
        self._stored = _DTYPES[self._dtype]
        row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self._stored.itemsize
        self._file = _RowFile(path, start + int(entry["data_offsets"][0]), self.shape[0], row_bytes)

    def span(self, start: int, stop: int) -> np.ndarray:
        """Float32 rows ``start`` to ``stop`` (a block of the tensor, read at once)."""
        return self._float(self._file.span(start, stop)).reshape((-1, *self.shape[1:]))

    def _float(self, raw: np.ndarray) -> np.ndarray:
        stored = raw.view(self._stored)
        if self._dtype == "BF16":  # bfloat16 is the top half of a float32
            return (stored.astype(np.uint32) << 16).view(np.float32)
        return stored.astype(np.float32, copy=False)


class SafetensorsFile:
    """The float tensors of one safetensors file, each read whole when asked for (``pread``, never mapped):
    float32, bfloat16 and float16 alike come back as float32."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._header = safetensors_header(self.path)

    def keys(self) -> list[str]:
        return [name for name in self._header[0] if name != "__metadata__"]

    def get_tensor(self, name: str) -> np.ndarray:
        tensor = SafetensorsTensor(self.path, name, self._header)
        rows = tensor.shape[0] if tensor.shape else 1
        return tensor.span(0, rows).reshape(tensor.shape)

    def text_model_prefix(self) -> str:
        """What the text transformer's tensor names start with: ``""``, ``"model."``, or for EmbeddingGemma
        2's composite checkpoint ``"language_model."`` (its vision and audio towers have layers too, but no
        token table)."""
        names = set(self.keys())
        for name in sorted(names, key=len):
            if name.endswith(TOKEN_TABLE):
                prefix = name[: -len(TOKEN_TABLE)]
                if f"{prefix}layers.0.input_layernorm.weight" in names:
                    return prefix
        raise ModelLoadError(f"{str(self.path)!r} holds no Gemma text transformer (no token table beside its layers).")


def token_table(path: Path) -> SafetensorsRows:
    """The text model's token table in the safetensors file at ``path``, whatever its tensors' prefix."""
    return SafetensorsRows(path, SafetensorsFile(path).text_model_prefix() + TOKEN_TABLE)


class SafetensorsRows(SafetensorsTensor):
    """Rows of one 2-D float tensor of a safetensors file (the token table), as float32."""

    def __init__(self, path: Path, name: str) -> None:
        header = safetensors_header(path)
        entry = header[0].get(name)
        if entry is None or entry.get("dtype") not in _DTYPES or len(entry.get("shape", ())) != 2:
            raise ModelLoadError(f"{str(path)!r} has no 2-D float tensor {name!r} (the token embedding table).")
        super().__init__(path, name, header)
        self.rows, self.width = self.shape

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        """Float32 rows ``(len(ids), width)`` for token ids in any order (repeats read once)."""
        _, raw, inverse = self._file.read(ids)
        return self._float(raw)[inverse]


def npy_header(path: Path) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """A ``.npy`` file's ``(shape, fortran_order, dtype, data offset)``, read without loading (or unpickling)
    anything."""
    with open(path, "rb") as handle:
        major, _ = np.lib.format.read_magic(handle)
        read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(handle)
        return shape, fortran, dtype, handle.tell()


class NpyRows:
    """Rows of a 2-D float32 ``.npy`` file, read with ``pread`` as asked for (the file is never mapped, so its
    pages count in the OS cache, not in this process's memory)."""

    def __init__(self, path: Path) -> None:
        shape, fortran, dtype, offset = npy_header(path)
        if dtype != np.dtype("<f4") or fortran or len(shape) != 2:
            raise ValueError(f"{str(path)!r} is not a 2-D little-endian float32 array.")
        self.rows, self.width = (int(n) for n in shape)
        if os.path.getsize(path) < offset + self.rows * self.width * 4:
            raise ValueError(f"{str(path)!r} is truncated: it holds fewer than its {self.rows} rows.")
        self._file = _RowFile(path, offset, self.rows, self.width * 4)

    def __len__(self) -> int:
        return self.rows

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        """Float32 rows ``(len(ids), width)`` in the order of ``ids`` (repeats read once)."""
        _, raw, inverse = self._file.read(ids)
        return raw.view("<f4")[inverse]


class Int8Rows:
    """Rows of the int8 table an ``int8`` / ``int4`` build wrote (one float32 scale per row), as float32.

    The table (a ``.npy`` file) is read with ``pread`` like the safetensors rows; only its 1 MiB of scales
    is held in memory.
    """

    def __init__(self, table: Path, scales: Path) -> None:
        shape, fortran, dtype, offset = npy_header(table)
        if dtype != np.int8 or fortran or len(shape) != 2:
            raise ModelLoadError(f"{str(table)!r} is not a 2-D int8 token table; delete it to rebuild it.")
        self.rows, self.width = (int(n) for n in shape)
        self._scales = np.load(scales)
        if self._scales.shape != (self.rows,):
            raise ModelLoadError(f"{str(scales)!r} does not hold one scale per token row; delete it to rebuild it.")
        self._file = _RowFile(table, offset, self.rows, self.width)

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        """Float32 rows ``(len(ids), width)`` for token ids in any order (repeats read once)."""
        unique, raw, inverse = self._file.read(ids)
        return (raw.view(np.int8).astype(np.float32) * self._scales[unique, None])[inverse]
