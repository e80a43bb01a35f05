"""Block-wise 4-bit weights for the float32 ONNX graph, by ONNX Runtime's own weight-only quantizer.

Every projection of the transformer becomes a ``com.microsoft.MatMulNBits`` with 4-bit symmetric weights
in blocks of :data:`BLOCK_SIZE` along the input axis (one float32 scale per block); both Dense layers
(3% of the weights) get 8-bit blocks. The quantizer is ONNX Runtime's ``MatMulNBitsQuantizer``
(round to nearest).

Round to nearest alone loses too much on this (not quantization-aware trained) checkpoint: mean cosine
to float32 0.984 on STSBenchmark sentences and 0.951 on 350-token passages, and the model card's
similarities moved by up to 0.028. The loss comes from a few input channels whose activations are 10-70x
the median, whose weight rounding errors every token then carries. So before quantizing, each group of
projections that reads one activation gets activation-aware channel scales (AWQ, Lin et al. 2023): the
weights' input rows are multiplied by ``s`` and the activation by ``1/s`` (one ``Mul`` node; exact in
float32), with ``s = mean|x| ** alpha`` measured by running the float32 graph over the built-in
:data:`CALIBRATION` texts, and ``alpha`` searched per group to minimise that group's output error under
4-bit rounding. With that and 8-bit Dense layers: 0.993 / 0.983, and the model card's similarities move by
up to 0.023 (measured on the real model; see tests/real_model/test_int4_real.py), for 2.5 MB more than all-4-bit.

The weights go to a data file beside the graph, each at a page-aligned offset: ONNX Runtime maps them,
repacks them for its kernels and lets the mapping go, so loading never holds a protobuf copy of them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

BLOCK_SIZE = 32
"""Weights per scale. 32 against 64 and 128 on the real model (RTN, before channel scaling): mean
cosine to float32 0.982 / 0.977 / 0.972 on STSBenchmark sentences, 0.956 / 0.946 / 0.940 on passages;
STSBenchmark Spearman moved the same (-0.002) for all three. 64 and 128 are 10-45% faster and 19-29 MB
smaller in memory, but lose fidelity that no later step wins back."""
ACCURACY_LEVEL = 4
"""MatMulNBits' ``accuracy_level``: 4 multiplies with int8 activations quantized per block, faster than
float32 compute (level 0: no faster than the float32 graph on an AVX-512 CPU) with the same cosines."""
ALPHAS = tuple(a / 10 for a in range(11))
"""Exponents tried for each group's channel scales (0: no scaling)."""
CALIBRATION_ROWS = 16
"""Activation rows kept per calibration text and activation for the exponent search."""
_ALIGNMENT = 4096
_EXTERNAL_FROM = 4096
"""Initializers of at least this many bytes go to the data file; smaller ones stay in the graph."""

_PROMPTS = ("title: none | text: ", "task: search result | query: ", "task: sentence similarity | query: ")
CALIBRATION = (
    "The river rose three metres overnight after a week of heavy rain in the hills. By morning the lower "
    "streets of the town were under water, and volunteers were carrying sandbags to the bakery, the school "
    "and the old people's home. The mayor said the new flood wall had held where it was finished, and that "
    "the unfinished stretch near the bridge would be completed before winter.",
    "How do I reset my password if I no longer have access to the email address on my account?",
    "Photosynthesis converts light energy into chemical energy. Chlorophyll absorbs mostly blue and red "
    "light; the energy splits water molecules, releasing oxygen, and drives the synthesis of ATP and NADPH, "
    "which the Calvin cycle then uses to fix carbon dioxide into sugars.",
    "def merge_sorted(a, b):\n    out, i, j = [], 0, 0\n    while i < len(a) and j < len(b):\n"
    "        if a[i] <= b[j]:\n            out.append(a[i]); i += 1\n        else:\n"
    "            out.append(b[j]); j += 1\n    return out + a[i:] + b[j:]",
    "Quarterly revenue grew 12% to $4.3 billion, driven by subscriptions, while operating margin fell to "
    "18% because of higher cloud costs. The company expects flat revenue next quarter and will buy back "
    "up to $500 million of shares.",
    "A man is playing a guitar on a street corner.",
    "Two dogs are running through a snowy field.",
    "Die Bahn hat den Fahrplan für den Winter geändert: Der Nachtzug nach Wien fährt nun täglich, und in "
    "Salzburg gibt es einen direkten Anschluss. La gare centrale sera fermée deux semaines pour travaux. "
    "東京駅から京都駅まで新幹線で約二時間十五分かかります。",
    "Symptoms of dehydration include thirst, dark urine, fatigue, dizziness and confusion. Older adults and "
    "young children are most at risk. Drink water regularly, more in hot weather or during exercise, and "
    "seek medical help if symptoms persist.",
    "Is it true that the Great Wall of China is visible from the Moon with the naked eye?",
    "In 1969 the Apollo 11 mission landed the first humans on the Moon. Neil Armstrong and Buzz Aldrin "
    "spent about two and a half hours outside the lunar module, collecting 21.5 kg of samples, while "
    "Michael Collins orbited above in the command module.",
    "SELECT customer_id, COUNT(*) AS orders, SUM(total) AS spent FROM orders WHERE created_at >= "
    "'2024-01-01' GROUP BY customer_id HAVING COUNT(*) > 3 ORDER BY spent DESC LIMIT 20;",
    "The recipe needs 200 g of flour, two eggs, 300 ml of milk and a pinch of salt. Whisk until smooth, let "
    "the batter rest for half an hour, then cook thin pancakes in a hot buttered pan, one minute per side.",
    "Markets rallied after the central bank held interest rates steady and signalled that cuts could come "
    "later in the year if inflation keeps easing.",
    "A retrieval system embeds the query and every document into vectors and returns the documents whose "
    "vectors are closest to the query's, usually by cosine similarity; a reranker can then reorder the top "
    "results with a slower, more precise model.",
    "The cat sat on the windowsill, watching the birds in the garden and ignoring everyone.",
)
"""Texts whose activations set the channel scales: prose, questions, short sentences, code, numbers and
other languages, each under one of the model's prompts (written for this purpose, no data set)."""


def quantize_graph_int4(
    float_path: Path,
    target: Path,
    *,
    model_folder: Path,
    data_name: str,
    block_size: int = BLOCK_SIZE,
    accuracy_level: int = ACCURACY_LEVEL,
) -> Path:
    """Write ``target``: the graph at ``float_path`` (built from ``model_folder``) with activation-aware
    channel scales, then 4-bit block-wise weights (8-bit for the Dense layers) in ``MatMulNBits`` nodes.

    Its weights go to ``data_name`` beside it (the final name when ``target`` is a temporary file).
    """
    import onnx

    activations = _observe(Path(float_path), Path(model_folder))
    model = onnx.load(str(float_path))  # with its weights, as arrays for the quantizer
    _scale_channels(model, activations, block_size)
    names = [node.name for node in _weight_matmuls(model)]
    eight = _dense_layers(model)
    quantizer_class = _quantizer_class()
    for bits, excluded in ((8, [name for name in names if name not in eight]), (4, eight)):
        if len(excluded) == len(names):
            continue
        quantizer = quantizer_class(
            model,
            bits=bits,
            block_size=block_size,
            is_symmetric=True,
            accuracy_level=accuracy_level,
            nodes_to_exclude=excluded,
        )
        quantizer.process()
        model = quantizer.model.model
    left = _weight_matmuls(model)
    if left:
        raise RuntimeError(f"the int4 quantizer left {len(left)} weight MatMuls in float32 (first: {left[0].name})")
    _save_with_aligned_data(model, Path(target), data_name)
    return target


def _weight_matmuls(model: Any) -> list[Any]:
    """Every MatMul node whose second input is a weight (an initializer)."""
    weights = {tensor.name for tensor in model.graph.initializer}
    return [node for node in model.graph.node if node.op_type == "MatMul" and node.input[1] in weights]


def _dense_layers(model: Any) -> list[str]:
    """Names of the Dense layers' MatMuls (kept at 8 bits): those met walking back from the output through
    MatMul, bias Add and Identity nodes, up to the pooling. Found by structure, not by name."""
    weights = {tensor.name for tensor in model.graph.initializer}
    producers = {output: node for node in model.graph.node for output in node.output}
    found, name = [], model.graph.output[0].name
    while (node := producers.get(name)) is not None and node.op_type in ("MatMul", "Add", "Identity"):
        inputs = [i for i in node.input if i not in weights]
        if node.op_type == "MatMul" and len(inputs) == 1:
            found.append(node.name)
        if len(inputs) != 1:
            break
        name = inputs[0]
    return found


# -- calibration ------------------------------------------------------------------------------------


class _Activations:
    """Per activation that feeds weight MatMuls: mean |x| per channel and a sample of rows."""

    def __init__(self) -> None:
        self.sums: dict[str, np.ndarray] = {}
        self.counts: dict[str, int] = {}
        self.rows: dict[str, list[np.ndarray]] = {}

    def add(self, name: str, value: np.ndarray, rng: np.random.Generator) -> None:
        flat = value.reshape(-1, value.shape[-1]).astype(np.float32, copy=False)
        self.sums[name] = self.sums.get(name, 0) + np.abs(flat).sum(0, dtype=np.float64)
        self.counts[name] = self.counts.get(name, 0) + len(flat)
        keep = rng.choice(len(flat), size=min(len(flat), CALIBRATION_ROWS), replace=False)
        self.rows.setdefault(name, []).append(flat[np.sort(keep)].copy())

    def mean(self, name: str) -> np.ndarray:
        return self.sums[name] / self.counts[name]

    def sample(self, name: str) -> np.ndarray:
        return np.concatenate(self.rows[name])


def _observe(float_path: Path, folder: Path) -> _Activations:
    """Run the float32 graph over :data:`CALIBRATION`, recording every weight MatMul's input activation."""
    import onnx
    import onnxruntime as ort

    from .._threads import threads
    from .._token_rows import SafetensorsRows
    from .._tokenizer import Tokenizer

    graph_model = onnx.load(str(float_path), load_external_data=False)
    inputs = list(dict.fromkeys(node.input[0] for node in _weight_matmuls(graph_model)))
    for name in inputs:
        graph_model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    # Beside the float graph: ONNX Runtime only reads external data from the model's own folder.
    observer = float_path.with_name(float_path.name + ".observe.onnx")
    try:
        onnx.save_model(graph_model, str(observer))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads()
        session = ort.InferenceSession(str(observer), options, providers=["CPUExecutionProvider"])
    finally:
        observer.unlink(missing_ok=True)
    tokenizer = Tokenizer(folder)
    rows = SafetensorsRows(folder / "model.safetensors", "embed_tokens.weight")
    scale = np.float32(np.sqrt(rows.width))
    texts = [_PROMPTS[i % len(_PROMPTS)] + text for i, text in enumerate(CALIBRATION)]
    activations, rng = _Activations(), np.random.default_rng(0)
    for ids in tokenizer.encode(texts, 512):
        embeds = (rows(np.asarray(ids)) * scale)[None]
        outputs = session.run(inputs, {"inputs_embeds": embeds, "attention_mask": np.ones((1, len(ids)), np.int64)})
        for name, value in zip(inputs, outputs, strict=True):
            activations.add(name, value, rng)
    return activations


# -- activation-aware channel scales ------------------------------------------------------------------


def _round_to_nearest(weight: np.ndarray, block_size: int) -> np.ndarray:
    """``weight`` ``[K, N]`` after symmetric 4-bit rounding in blocks along K, as ONNX Runtime rounds it
    (the block's largest-magnitude value maps to -8)."""
    rows, columns = weight.shape
    padded = np.zeros((-(-rows // block_size) * block_size, columns), dtype=weight.dtype)
    padded[:rows] = weight
    blocks = padded.reshape(-1, block_size, columns)
    index = np.abs(blocks).argmax(1)[:, None, :]
    extreme = np.take_along_axis(blocks, index, 1)
    scale = extreme / -8.0
    scale[scale == 0] = 1.0
    return (np.clip(np.rint(blocks / scale), -8, 7) * scale).reshape(-1, columns)[:rows]


def _channel_scales(mean: np.ndarray, sample: np.ndarray, weight: np.ndarray, block_size: int) -> np.ndarray | None:
    """The scales ``s`` (weights' rows × s, activation ÷ s) with the least 4-bit output error on ``sample``,
    or None when no scaling does best."""
    mean = np.maximum(mean, 1e-5 * max(float(mean.max()), 1e-30))
    x = sample.astype(np.float64)
    reference = x @ weight
    best_error, best = float(((x @ _round_to_nearest(weight, block_size) - reference) ** 2).mean()), None
    for alpha in ALPHAS[1:]:
        scales = mean**alpha
        scales /= np.sqrt(scales.max() * scales.min())
        rounded = _round_to_nearest(weight * scales[:, None], block_size)
        error = float((((x / scales) @ rounded - reference) ** 2).mean())
        if error < best_error:
            best_error, best = error, scales
    return best


def _scale_channels(model: Any, activations: _Activations, block_size: int) -> None:
    """Give each group of 4-bit projections reading one activation its channel scales, in place."""
    from onnx import helper, numpy_helper

    tensors = {tensor.name: tensor for tensor in model.graph.initializer}
    groups: dict[str, list[Any]] = {}
    dense = set(_dense_layers(model))
    for node in _weight_matmuls(model):
        if node.name not in dense:
            groups.setdefault(node.input[0], []).append(node)
    inserted: dict[str, Any] = {}
    for name, nodes in groups.items():
        weights = [numpy_helper.to_array(tensors[node.input[1]]).astype(np.float64) for node in nodes]
        joined = np.concatenate(weights, 1)
        scales = _channel_scales(activations.mean(name), activations.sample(name), joined, block_size)
        if scales is None:
            continue
        inverse = numpy_helper.from_array((1.0 / scales).astype(np.float32), f"{name}/awq.inverse")
        model.graph.initializer.append(inverse)
        scaled = f"{name}/awq"
        inserted[scaled] = helper.make_node("Mul", [name, inverse.name], [scaled], name=f"{name}/awq.mul")
        for node, weight in zip(nodes, weights, strict=True):
            scaled_weight = (weight * scales[:, None]).astype(np.float32)
            tensors[node.input[1]].CopyFrom(numpy_helper.from_array(scaled_weight, node.input[1]))
            node.input[0] = scaled
    ordered = []
    for node in model.graph.node:  # each Mul just before the first node that reads it: still topological
        ordered.extend(inserted.pop(i) for i in node.input if i in inserted)
        ordered.append(node)
    model.graph.ClearField("node")
    model.graph.node.extend(ordered)


# -- ONNX Runtime's quantizer and the aligned save -----------------------------------------------------


def _quantizer_class() -> Any:
    """ONNX Runtime's ``MatMulNBitsQuantizer``, imported without its side effect on the caller's logging.

    Its module calls ``logging.basicConfig(level=INFO)`` on import, which would make every library in the
    user's process print its INFO records; the root logger is put back as it was, and the quantizer's
    own per-node INFO lines (thousands) are silenced.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    finally:
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
        root.setLevel(level)
    logging.getLogger(MatMulNBitsQuantizer.__module__).setLevel(logging.WARNING)
    return MatMulNBitsQuantizer


def _save_with_aligned_data(model: Any, target: Path, data_name: str) -> None:
    """Save ``model`` with its large initializers in ``data_name``, page-aligned; data first, then graph,
    each under a temporary name moved into place, so a reader never sees a graph without its data."""
    import onnx
    from onnx import TensorProto

    data_final = target.with_name(data_name)
    temporary_data = data_final.with_name(f".{data_final.name}.{os.getpid()}.tmp")
    temporary_graph = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(temporary_data, "wb") as data:
            for tensor in model.graph.initializer:
                if tensor.data_location == TensorProto.EXTERNAL or len(tensor.raw_data) < _EXTERNAL_FROM:
                    continue
                data.write(b"\0" * (-data.tell() % _ALIGNMENT))
                offset, length = data.tell(), len(tensor.raw_data)
                data.write(tensor.raw_data)
                tensor.ClearField("raw_data")
                tensor.data_location = TensorProto.EXTERNAL
                for key, value in (("location", data_name), ("offset", str(offset)), ("length", str(length))):
                    tensor.external_data.add(key=key, value=value)
        onnx.save_model(model, str(temporary_graph))
        os.replace(temporary_data, data_final)
        os.replace(temporary_graph, target)
    finally:
        temporary_graph.unlink(missing_ok=True)
        temporary_data.unlink(missing_ok=True)
