"""The int8 token table an ``int8`` ONNX build writes beside its graph (one float32 scale per row).

The float32 runtime reads rows straight from the model's safetensors; the int8 one reads this quarter-
size copy. It is written block by block from the safetensors file, never holding the whole table.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .artifacts import atomic_target

TOKEN_TABLE = "embed_tokens.weight"
_BLOCK = 16384  # rows quantized at a time


def table_paths(artifact: Path) -> tuple[Path, Path]:
    """The int8 token table and its per-row scales, beside the ONNX file."""
    return artifact.with_name(artifact.stem + ".table.npy"), artifact.with_name(artifact.stem + ".scales.npy")


def write_int8_table(folder: Path, artifact: Path) -> None:
    """Per-row symmetric int8 quantization of the model's token table, streamed from its safetensors."""
    from safetensors import safe_open

    table_path, scales_path = table_paths(artifact)
    with safe_open(str(folder / "model.safetensors"), framework="numpy") as weights:
        rows = weights.get_slice(TOKEN_TABLE)
        count, width = rows.get_shape()
        scales = np.empty(count, dtype=np.float32)
        temporary = atomic_target(table_path)
        table = np.lib.format.open_memmap(temporary, mode="w+", dtype=np.int8, shape=(count, width))
        for start in range(0, count, _BLOCK):
            block = np.asarray(rows[start : min(start + _BLOCK, count)], dtype=np.float32)
            block_scales = np.abs(block).max(axis=1) / 127.0
            block_scales[block_scales == 0] = 1.0
            table[start : start + len(block)] = np.clip(np.rint(block / block_scales[:, None]), -127, 127)
            scales[start : start + len(block)] = block_scales
        table.flush()
        del table
    np.save(scales_path, scales)
    os.replace(temporary, table_path)
