"""Split a GGUF into the transformer llama.cpp runs and the token table Python reads by memory map.

Why: llama.cpp allocates, and zero-fills, a logits buffer of ``n_vocab`` floats for every token of a
batch even when it only returns pooled embeddings. With Gemma's 262,144-token vocabulary that is 1 MiB
per token: 512 MiB for one 512-token passage, 2 GiB for a 2048-token one. The *runtime* GGUF written
here is the same model with a one-token placeholder vocabulary (so that buffer is 4 bytes per token);
the real token table stays in the source file, memory-mapped, and the backend feeds llama.cpp the
looked-up (and ``sqrt(hidden)``-scaled) rows directly. Only the table rows a text uses are ever paged
in. Tokenization still uses the source file's own vocabulary (a vocab-only llama.cpp load).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._errors import ModelLoadError
from .artifacts import atomic_target

ARCH = "gemma-embedding"
TABLE = "token_embd.weight"
_PREFIX = "embeddinggemma.token_table."
# Keys that describe the vocabulary: the runtime file replaces them with a placeholder.
_DROPPED_KEY_PREFIXES = ("tokenizer.", "GGUF.", "general.architecture")


@dataclass(frozen=True)
class TokenTable:
    """Where the token embedding table lies inside the source GGUF."""

    source: Path
    offset: int
    rows: int
    width: int
    ggml_type: int
    source_size: int

    def open(self) -> TableReader:
        return TableReader(self)


class TableReader:
    """Reads the rows of a token table from its file on demand.

    Rows are read with ``pread`` rather than through a memory map: mapped pages would count in the
    process' resident memory (up to a page per distinct token seen), read pages stay in the OS cache.
    """

    def __init__(self, table: TokenTable) -> None:
        import gguf

        block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(table.ggml_type)]
        self.row_bytes = table.width // block * type_size
        self.rows = table.rows
        self._offset = table.offset
        self._fd = os.open(table.source, os.O_RDONLY)

    def __getitem__(self, ids: np.ndarray) -> np.ndarray:
        """The raw bytes of rows ``ids`` (any order), shape ``(len(ids), row_bytes)``."""
        out = np.empty((len(ids), self.row_bytes), dtype=np.uint8)
        for i, token in enumerate(np.asarray(ids, dtype=np.int64)):
            if not 0 <= token < self.rows:
                raise IndexError(f"token id {int(token)} is outside the table of {self.rows} rows")
            out[i] = np.frombuffer(
                os.pread(self._fd, self.row_bytes, self._offset + int(token) * self.row_bytes), np.uint8
            )
        return out

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)
            self._fd = None


def _int_field(reader, key: str) -> int | None:
    field = reader.get_field(key)
    return None if field is None else int(field.contents())


def _check_source(reader, source: Path) -> None:
    arch = reader.get_field("general.architecture")
    name = arch.contents() if arch is not None else None
    if name != ARCH:
        raise ModelLoadError(
            f"{str(source)!r} is a GGUF of architecture {name!r}, not EmbeddingGemma ({ARCH!r}). "
            "Pass an EmbeddingGemma GGUF or the model folder with quantization='q8_0' / 'q4_0'."
        )
    width = _int_field(reader, f"{ARCH}.embedding_length")
    dims = [_int_field(reader, f"{ARCH}.{key}") for key in ("dense_2_feat_in", "dense_3_feat_out")]
    if any(d not in (None, width) for d in dims):  # llama.cpp asserts this and would abort the process
        raise ModelLoadError(f"{str(source)!r}: Dense features {dims} do not match the hidden size {width}.")
    tensors = {t.name for t in reader.tensors}
    if not {"dense_2.weight", "dense_3.weight"} <= tensors:
        raise ModelLoadError(
            f"{str(source)!r} lacks EmbeddingGemma's two Dense projections (it was converted without "
            "--sentence-transformers-dense-modules), so its vectors are not EmbeddingGemma's. Build a complete "
            "one with `python -m embeddinggemma quantize MODEL_FOLDER --quantization q8_0`."
        )


def split_gguf(source: Path, target: Path) -> Path:
    """Write the runtime GGUF for ``source`` (no vocabulary, placeholder table) to ``target``."""
    import gguf

    from .._model_files import read_gguf

    reader = read_gguf(source)
    _check_source(reader, source)
    table = next(t for t in reader.tensors if t.name == TABLE)
    width, rows = (int(n) for n in table.shape[:2])
    temporary = atomic_target(target)
    writer = gguf.GGUFWriter(str(temporary), ARCH, use_temp_file=False)
    for key, field in reader.fields.items():
        if key.startswith(_DROPPED_KEY_PREFIXES) or not field.types:
            continue
        main = field.types[0]
        sub = field.types[-1] if main == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), main, sub_type=sub)
    writer.add_tokenizer_model("no_vocab")
    writer.add_vocab_size(1)
    writer.add_uint64(_PREFIX + "offset", int(table.data_offset))
    writer.add_uint32(_PREFIX + "rows", rows)
    writer.add_uint32(_PREFIX + "width", width)
    writer.add_uint32(_PREFIX + "type", int(table.tensor_type))
    writer.add_uint64(_PREFIX + "source_size", source.stat().st_size)
    writer.add_string(_PREFIX + "source", source.name)
    for tensor in reader.tensors:
        if tensor.name == "output.weight":  # a vocabulary-sized head: unused for embeddings
            continue
        if tensor.name == TABLE:
            writer.add_tensor(TABLE, np.zeros((1, width), dtype=np.float32))
            continue
        kind = gguf.GGMLQuantizationType(tensor.tensor_type)
        if kind in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
            writer.add_tensor(tensor.name, np.asarray(tensor.data).reshape(tuple(reversed(tensor.shape.tolist()))))
        else:
            writer.add_tensor(tensor.name, np.asarray(tensor.data), raw_dtype=kind)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(temporary, target)
    return target


def read_table(runtime: Path, source: Path) -> TokenTable | None:
    """The table location recorded in ``runtime``; ``None`` when stale or not a runtime file."""
    import gguf

    reader = gguf.GGUFReader(str(runtime))

    def value(name: str):
        field = reader.get_field(_PREFIX + name)
        return None if field is None else field.contents()

    size = value("source_size")
    if size is None or size != source.stat().st_size or value("source") != source.name:
        return None
    return TokenTable(source, int(value("offset")), int(value("rows")), int(value("width")), int(value("type")), size)
