"""The ONNX Runtime engine on the CPU: EmbeddingGemma exact in float32 (the default on CPU), or with
block-wise 8-bit (``int8``) or mostly 4-bit (``int4``, the smallest) ``MatMulNBits`` weights.

The graph (built once from the model folder by :func:`build`, no torch needed: :mod:`.onnx_graph`
writes it from the safetensors, :mod:`.onnx_nbits` quantizes it) runs the
transformer, mean pooling and both Dense layers on *scaled token embeddings*; the token rows are read
from disk as a text needs them (:mod:`embeddinggemma._token_rows`). Tokenization uses the light
tokenizer (:mod:`embeddinggemma._tokenizer`), id for id the model's Hugging Face tokenizer, so token
counts and truncation match the torch path exactly.

Texts run in calls of similar lengths (:data:`BATCH_TOKENS`); every precision quantizes activations per
row, so a text's vector never depends on the other texts of its call.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._errors import MissingExtraError, ModelLoadError, require
from .._registry import artifacts_of
from .._threads import threads
from .._token_rows import Int8Rows, token_table
from .artifacts import artifact_path, build_once, data_path, in_own_process
from .base import RuntimeSpec
from .onnx_nbits import RECIPES, RECIPES_BY_NAME, Recipe, recipe_for
from .onnx_table import table_paths

_ARTIFACT_NAMES = {artifact.precision: artifact.name for artifact in artifacts_of("onnxruntime")}
"""The command line's name for each precision's artifact."""
PRECISIONS = tuple(_ARTIFACT_NAMES)
_SUFFIX = ".onnx"
BATCH_TOKENS = 1024
"""Padded tokens per ONNX Runtime call. Texts sorted by length are packed up to this many (texts × the
longest): a dozen-token text alone leaves the CPU's matrix units idle. Measured on this repository's
2-core machines (400 STSBenchmark sentences of ~16 tokens, float32): 3.5x the docs/s of one text per
call, vectors equal to 1e-6; 450-token passages go two at a time, as fast as one at a time."""


def build(
    folder: Path, precision: str = "f32", cache_dir: str | os.PathLike[str] | None = None, *, force: bool = False
) -> Path:
    """The ONNX model of ``folder``: exact ``f32`` (the default CPU engine), ``int8`` or ``int4`` (block-wise
    4-bit ``MatMulNBits`` weights; both quantized ones carry an int8 token table). Built once, checked on
    every call. Written straight from the safetensors with ``onnx`` and numpy, streaming the weights."""
    if precision not in PRECISIONS:
        raise ValueError(f"quantization={precision!r} is not an ONNX type; use one of {', '.join(PRECISIONS)}.")
    target = artifact_path(folder, precision, _SUFFIX, cache_dir)
    files = [target, data_path(target), *([] if precision == "f32" else table_paths(target))]
    recipe = recipe_for(folder, precision) if precision in RECIPES else None
    return build_once(
        folder,
        target,
        lambda source, temporary: _write(source, temporary, target, recipe),
        files=files,
        record={"format": "onnx", "quantization": precision, "converter": "embeddinggemma._engines.onnx_graph"},
        recipe=recipe.recipe() if recipe is not None else None,
        force=force,
    )


def _write(folder: Path, temporary: Path, target: Path, recipe: Recipe | None) -> None:
    # The writers import onnx (6 MB), which loading a built artifact never needs: found, not imported here.
    if importlib.util.find_spec("onnx") is None:
        raise MissingExtraError("building the ONNX graph", "onnx", None)
    if recipe is None:  # float32, streamed from the safetensors: under 100 MB
        from .onnx_graph import write_onnx_graph

        write_onnx_graph(folder, temporary, data_name=data_path(target).name)
    else:  # calibration runs the float32 graph (~700 MB): not in the user's process
        in_own_process(write_quantized, str(folder), str(temporary), str(target), recipe.name)


def write_quantized(folder: str, temporary: str, target: str, recipe_name: str) -> None:
    """The graph of the recipe named ``recipe_name`` (the one the manifest records, chosen by the caller) at
    ``temporary`` (its data file and int8 token table under ``target``'s names): the float32 graph written,
    calibrated and quantized one weight at a time."""
    from .onnx_graph import write_onnx_graph
    from .onnx_nbits import quantize_graph_nbits
    from .onnx_table import write_int8_table

    source, written, final = Path(folder), Path(temporary), Path(target)
    float_graph = written.with_name(written.name + ".f32.onnx")
    try:
        write_onnx_graph(source, float_graph)
        recipe = RECIPES_BY_NAME[recipe_name]
        quantize_graph_nbits(float_graph, written, model_folder=source, data_name=data_path(final).name, recipe=recipe)
    finally:
        float_graph.unlink(missing_ok=True)
        data_path(float_graph).unlink(missing_ok=True)
    write_int8_table(source, final)


def recipe_of(spec: RuntimeSpec) -> dict[str, object] | None:
    """How ``spec``'s quantized graph is built (it depends on the CPU), as its manifest records it: part of its
    vectors' identity, so that no vector of another recipe, or of an earlier version of this one, is reused."""
    return recipe_for(Path(spec.model), spec.quantization).recipe() if spec.quantization in RECIPES else None


def load(spec: RuntimeSpec) -> OnnxModel:
    return OnnxModel(spec.model, precision=spec.quantization or "f32")


class GraphModel:
    """The model's ONNX graph behind any runner, safe to share between threads: the artifact, the tokenizer,
    the token rows, and texts batched by length. A runner (ONNX Runtime here; OpenVINO in :mod:`.openvino`)
    supplies :meth:`_infer`."""

    def __init__(self, model: str, precision: str) -> None:
        from .._tokenizer import load_tokenizer

        folder = Path(model)
        self.artifact = build(folder, precision)
        self._tokenizer = load_tokenizer(folder)  # shared with the splitters of this process
        if precision == "f32":
            self._rows = token_table(folder / "model.safetensors")
        else:
            self._rows = Int8Rows(*table_paths(self.artifact))
        self._scale = np.float32(np.sqrt(self._rows.width))
        self._lock = threading.Lock()  # one run at a time: the runner already uses every core
        self.full_dimensions = 0
        """Set by the runner from its compiled graph's output."""

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self._tokenizer.count(texts)

    def encode(self, texts: Sequence[str], *, max_seq_length: int, batch_size: int, show_progress: bool) -> np.ndarray:
        from tqdm.auto import tqdm

        out = np.empty((len(texts), self.full_dimensions), dtype=np.float32)
        encoded = self._tokenizer.encode(texts, max_seq_length)  # cut as the torch path cuts: <bos> … <eos>
        with self._lock, tqdm(total=len(texts), disable=not show_progress, unit="text") as progress:
            for group in by_length(encoded, BATCH_TOKENS, batch_size):
                out[group] = self._run([encoded[i] for i in group])
                progress.update(len(group))
        return out

    def _run(self, batch: list[list[int]]) -> np.ndarray:
        """One call: the texts padded to the longest, the padding masked (keys only, as transformers does)."""
        longest = max(len(ids) for ids in batch)
        embeds = np.zeros((len(batch), longest, self._rows.width), dtype=np.float32)
        mask = np.zeros((len(batch), longest), dtype=np.int64)
        for row, ids in enumerate(batch):
            embeds[row, : len(ids)] = self._rows(np.asarray(ids)) * self._scale
            mask[row, : len(ids)] = 1
        return self._infer(embeds, mask)

    def _infer(self, embeds: np.ndarray, mask: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class OnnxModel(GraphModel):
    """EmbeddingGemma as an ONNX Runtime session."""

    def __init__(self, model: str, *, precision: str = "f32") -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision={precision!r} is not an ONNX precision; use one of {PRECISIONS}.")
        ort = require("onnxruntime", what="the ONNX Runtime engine", extra=None)
        super().__init__(model, precision)
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

    def _infer(self, embeds: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self._session.run(None, {"inputs_embeds": embeds, "attention_mask": mask})[0]


def by_length(encoded: Sequence[Sequence[int]], budget: int, rows: int) -> list[list[int]]:
    """Indices of ``encoded`` in calls of similar lengths: sorted by length, each call at most ``rows`` texts
    and ``budget`` padded tokens (a longer text alone). The caller puts each vector back at its index."""
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    groups: list[list[int]] = []
    for i in order:
        group = groups[-1] if groups else None
        # Sorted ascending: the text joining a call is its longest, so the call pads to its length.
        if group is not None and len(group) < rows and (len(group) + 1) * len(encoded[i]) <= budget:
            group.append(i)
        else:
            groups.append([i])
    return groups
