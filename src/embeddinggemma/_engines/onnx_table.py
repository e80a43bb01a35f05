"""The int8 token table an ``int8`` ONNX build writes beside its graph (one float32 scale per row).

The float32 runtime reads rows straight from the model's safetensors; the int8 one reads this quarter-
size copy. It is written block by block from the safetensors file, never holding the whole table.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._token_rows import token_table
from .artifacts import atomic_target

_BLOCK = 8192  # rows quantized at a time (24 MB of float32)


def table_paths(artifact: Path) -> tuple[Path, Path]:
    """The int8 token table and its per-row scales, beside the ONNX file."""
    return artifact.with_name(artifact.stem + ".table.npy"), artifact.with_name(artifact.stem + ".scales.npy")


def write_int8_table(folder: Path, artifact: Path) -> None:
    """Per-row symmetric int8 quantization of the model's token table, streamed from its safetensors.

    Read and written a block at a time with plain reads and writes: a memory map of the 805 MB float table
    (or of the 201 MB int8 one) would count every page it touched in the building process's memory."""
    rows = token_table(folder / "model.safetensors")
    table_path, scales_path = table_paths(artifact)
    scales = np.empty(rows.rows, dtype=np.float32)
    temporary = atomic_target(table_path)
    with open(temporary, "wb") as table:
        header = {"descr": np.dtype(np.int8).str, "fortran_order": False, "shape": (rows.rows, rows.width)}
        np.lib.format.write_array_header_1_0(table, header)
        for start in range(0, rows.rows, _BLOCK):
            block = rows.span(start, start + _BLOCK)
            block_scales = np.abs(block).max(axis=1) / 127.0
            block_scales[block_scales == 0] = 1.0
            table.write(np.clip(np.rint(block / block_scales[:, None]), -127, 127).astype(np.int8).tobytes())
            scales[start : start + len(block)] = block_scales
    np.save(scales_path, scales)
    os.replace(temporary, table_path)
