"""ONNX Runtime on the CPU: EmbeddingGemma exact in float32 (the default on CPU), with int8 weights, or with
block-wise int4 weights (``MatMulNBits``, the smallest).

The graph (built once from the model folder by :func:`embeddinggemma.quantize.build_onnx`, no torch
needed) runs the transformer, mean pooling and both Dense layers on *scaled token embeddings*; the
token rows are read from disk as a text needs them (:mod:`.token_rows`). Tokenization uses the light
tokenizer (:mod:`embeddinggemma._tokenizer`), id for id the model's Hugging Face tokenizer, so token
counts and truncation match the torch path exactly.

Each text runs on its own (batch of one): a padded batch spends work on padding, and int8's dynamic
quantization would make a text's vector depend on the other texts in its batch.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._errors import ModelLoadError
from .cpu import threads
from .token_rows import Int8Rows, SafetensorsRows

TOKEN_TABLE = "embed_tokens.weight"
PRECISIONS = ("f32", "int8", "int4")
_ARTIFACT_NAMES = {"f32": "onnx-f32", "int8": "int8", "int4": "int4"}
"""The command line's name for each precision's artifact."""


def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError as exc:
        raise ImportError(
            "the ONNX Runtime engine is not installed: pip install 'embeddinggemma' (it is a default "
            "dependency) or pip install onnxruntime"
        ) from exc
    return onnxruntime


class OnnxModel:
    """EmbeddingGemma as an ONNX Runtime session, safe to share between threads."""

    def __init__(self, model: str, *, precision: str = "f32") -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision={precision!r} is not an ONNX precision; use one of {PRECISIONS}.")
        ort = _import_onnxruntime()
        from .._tokenizer import load_tokenizer
        from ..quantize import build_onnx
        from ..quantize._cache import resolve_model_dir
        from ..quantize._onnx_table import table_paths

        folder = resolve_model_dir(model)
        self.artifact = build_onnx(folder, precision)
        self._tokenizer = load_tokenizer(folder)  # shared with the splitters of this process
        if precision == "f32":
            self._rows = SafetensorsRows(Path(folder) / "model.safetensors", TOKEN_TABLE)
        else:
            self._rows = Int8Rows(*table_paths(self.artifact))
        self._scale = np.float32(np.sqrt(self._rows.width))

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._session = ort.InferenceSession(str(self.artifact), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # a foreign file: say which and how to rebuild
            raise ModelLoadError(
                f"ONNX Runtime could not load {str(self.artifact)!r}: {exc}. Delete it to rebuild it, or run "
                f"`python -m embeddinggemma quantize {model} --quantization {_ARTIFACT_NAMES[precision]}`."
            ) from exc
        self.full_dimensions = int(self._session.get_outputs()[0].shape[-1])
        self._lock = threading.Lock()  # one run at a time: the session already uses every core

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self._tokenizer.count(texts)

    def encode(self, texts: Sequence[str], *, max_seq_length: int, batch_size: int, show_progress: bool) -> np.ndarray:
        from tqdm.auto import tqdm

        out = np.empty((len(texts), self.full_dimensions), dtype=np.float32)
        encoded = self._tokenizer.encode(texts, max_seq_length)  # cut as the torch path cuts: <bos> … <eos>
        with self._lock:
            for i, ids in enumerate(tqdm(encoded, disable=not show_progress, unit="text")):
                embeds = (self._rows(np.asarray(ids)) * self._scale)[None]
                mask = np.ones((1, embeds.shape[1]), dtype=np.int64)
                out[i] = self._session.run(None, {"inputs_embeds": embeds, "attention_mask": mask})[0][0]
        return out
