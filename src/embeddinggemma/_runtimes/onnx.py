"""ONNX Runtime backend: EmbeddingGemma with int8 weights, no torch at run time.

The int8 graph (built once from the model folder by :func:`embeddinggemma.quantize.build_onnx`) runs
the transformer, mean pooling and both Dense layers; it takes scaled token embeddings, which come from
a memory-mapped int8 table (only the rows a text uses are read). Tokenization uses the model folder's
``tokenizer.json`` through the ``tokenizers`` library, the same Rust tokenizer sentence-transformers
uses, so token counts and truncation match the torch path exactly.

Each text runs on its own (batch of one): dynamic int8 quantization scales activations per tensor, so
a text's vector would otherwise depend on the other texts and the padding in its batch.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._errors import ModelLoadError
from .cpu import threads


def _import_onnxruntime():
    try:
        import onnxruntime
        import tokenizers  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "quantization='int8' runs on ONNX Runtime, which is not installed: pip install 'embeddinggemma[onnx]'"
        ) from exc
    return onnxruntime


class OnnxModel:
    """EmbeddingGemma as an int8 ONNX Runtime session, safe to share between threads."""

    def __init__(self, model: str, *, quantization: str = "int8") -> None:
        ort = _import_onnxruntime()
        from tokenizers import Tokenizer

        from ..quantize import build_onnx
        from ..quantize._cache import resolve_model_dir
        from ..quantize._onnx_export import table_paths

        folder = resolve_model_dir(model)
        self.artifact = build_onnx(folder, quantization)
        tokenizer_file = Path(folder) / "tokenizer.json"
        if not tokenizer_file.is_file():
            raise ModelLoadError(f"{str(folder)!r} has no tokenizer.json; the ONNX runtime tokenizes with it.")
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        table_path, scales_path = table_paths(self.artifact)
        self._table = np.load(table_path, mmap_mode="r")
        self._scales = np.load(scales_path)
        self._scale = np.float32(np.sqrt(self._table.shape[1]))

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._session = ort.InferenceSession(str(self.artifact), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # a corrupt or foreign file: say which and how to rebuild
            raise ModelLoadError(
                f"ONNX Runtime could not load {str(self.artifact)!r}: {exc}. Delete it to rebuild it, or run "
                f"`python -m embeddinggemma quantize {model} --quantization {quantization}`."
            ) from exc
        self.full_dimensions = int(self._session.get_outputs()[0].shape[-1])
        # The tokenizer's truncation setting is shared state; one lock serialises callers.
        self._lock = threading.Lock()

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        with self._lock:
            self._tokenizer.no_truncation()
            return [len(e.ids) for e in self._tokenizer.encode_batch(list(texts), add_special_tokens=True)]

    def _embeddings(self, ids: list[int]) -> np.ndarray:
        rows = np.asarray(self._table[ids], dtype=np.float32) * self._scales[ids, None]
        return (rows * self._scale)[None]

    def encode(self, texts: Sequence[str], *, max_seq_length: int, batch_size: int, show_progress: bool) -> np.ndarray:
        from tqdm import tqdm

        out = np.empty((len(texts), self.full_dimensions), dtype=np.float32)
        with self._lock:
            # The tokenizer cuts the text, not its <bos>/<eos>, exactly as the torch path does.
            self._tokenizer.enable_truncation(max_length=max_seq_length)
            try:
                encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=True)
            finally:
                self._tokenizer.no_truncation()
            for i, encoding in enumerate(tqdm(encodings, disable=not show_progress, unit="text")):
                embeds = self._embeddings(encoding.ids)
                mask = np.ones((1, embeds.shape[1]), dtype=np.int64)
                out[i] = self._session.run(None, {"inputs_embeds": embeds, "attention_mask": mask})[0][0]
        return out
