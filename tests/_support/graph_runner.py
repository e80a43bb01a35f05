"""Running a graph written by ``_engines.onnx_graph`` as the ONNX runtime does, and the sentence-transformers
vectors it must equal: shared by the tiny and the real model's graph tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


class GraphRunner:
    """Runs a built graph the way the ONNX runtime does: token rows * sqrt(hidden) in, vectors out."""

    def __init__(self, folder: Path, graph: Path) -> None:
        import onnxruntime as ort
        from safetensors import safe_open
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        # Row by row, as the runtime reads them: the real table is 805 MB.
        self._weights = safe_open(str(folder / "model.safetensors"), framework="numpy")
        # EmbeddingGemma 2's composite checkpoint nests it as ``language_model.embed_tokens.weight``.
        table = next(key for key in sorted(self._weights.keys(), key=len) if key.endswith("embed_tokens.weight"))
        self.table = self._weights.get_slice(table)
        self.hidden = int(self.table.get_shape()[1])
        self.scale = np.float32(np.sqrt(self.hidden))
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        self.session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])

    def ids(self, texts: list[str]) -> list[list[int]]:
        return [encoding.ids for encoding in self.tokenizer.encode_batch(texts, add_special_tokens=True)]

    def run(self, ids: list[list[int]]) -> np.ndarray:
        """One padded batch (right padding, zero rows under the mask)."""
        length = max(map(len, ids))
        embeds = np.zeros((len(ids), length, self.hidden), dtype=np.float32)
        mask = np.zeros((len(ids), length), dtype=np.int64)
        for row, tokens in enumerate(ids):
            embeds[row, : len(tokens)] = np.concatenate([self.table[i : i + 1] for i in tokens]) * self.scale
            mask[row, : len(tokens)] = 1
        return self.session.run(None, {"inputs_embeds": embeds, "attention_mask": mask})[0]

    def one_by_one(self, ids: list[list[int]]) -> np.ndarray:
        return np.concatenate([self.run([tokens]) for tokens in ids])


def unnormalised_reference(folder: Path, texts: list[str]) -> np.ndarray:
    """sentence-transformers float32 vectors before the stack's final Normalize (the graph's output)."""
    pytest.importorskip("sentence_transformers", reason="the reference is sentence-transformers (the [torch] extra)")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu")
    assert type(model[-1]).__name__ == "Normalize"
    del model[-1]
    return model.encode(texts, normalize_embeddings=False, convert_to_numpy=True, batch_size=len(texts))


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
