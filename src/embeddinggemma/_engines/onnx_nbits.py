"""8-bit and 4-bit weights for the float32 ONNX graph, written one weight at a time: no C++ compiler, and a
build that never holds the model in memory. Block-wise weights run as ``com.microsoft.MatMulNBits``; 8-bit
columns with 8-bit activation rows as ``MatMulInteger`` (ONNX Runtime's integer GEMM, on AMX or VNNI).

A :class:`Recipe` gives each projection kind (``q k v o gate up down``, and the Dense head) its
:class:`Blocks`: bits, weights per scale, ONNX Runtime's ``accuracy_level`` (4: the multiply runs on int8
activations quantized per block; 0: float32 arithmetic on the restored weights), and whether each
block's range is clipped to the value with the least error. Measured on the real model against the
float32 graph (~450-token passages, STSBenchmark sentences; ``benchmarks/RESULTS.md``):

- Rounding to nearest loses most where a few input channels carry activations 10-70x the median, whose
  rounding errors every token then carries (and, at ``accuracy_level`` 4, whose activation blocks lose
  their small values). So each group of projections reading one activation gets channel scales
  ``s = mean|x| ** alpha`` (weights' input rows x s, activation / s; AWQ, Lin et al. 2023), ``alpha``
  searched per group for the least output error on calibration rows *including* the activation rounding
  (SmoothQuant's point). ``1/s`` folds into the RMSNorm weight before q/k/v and gate/up and into the up
  projection's columns before down (exact); the output projection gets one ``Mul``. 8-bit blocks of 64
  at level 4: min cosine 0.9997 with it, 0.9990 without; 4-bit: 0.935 -> 0.993 with the mix below.
- 4 bits do not suit every projection: one kind at a time at 4 bits, the rest float32, the values (v),
  output (o) and MLP down projections each cost 0.01-0.02 of min cosine, q/k/gate/up under 0.004. The
  4-bit recipe keeps those three at 8 bits (Google's mixed QAT recipe and Ollama's q4_0 keep parts at
  higher precision for the same reason).
- The integer GEMM rounds each activation row as a whole, so one large value sets the step of the
  whole row: the 32 input channels with the largest calibration values are multiplied in float32 apart
  (LLM.int8(), Dettmers et al. 2022), min cosine 0.9969 -> 0.9994; it runs at 1.6-1.8x the float32 graph
  on an AMX CPU, where ``MatMulNBits`` ran at 0.77x.
- The two Dense layers (768x3072, 3072x768, no bias, no activation between them) are one linear map:
  fused into one 768x768 matrix (in float64) they are 1.2 MB at 8 bits instead of 4.7 MB, and one
  multiply instead of two.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._families import family_of_folder
from .cpu import CPUINFO, cpu_flags
from .onnx_calibration import Activations, observe, weight_matmuls

if TYPE_CHECKING:  # onnx_graph imports onnx, which loading a built artifact never needs
    from .onnx_graph import ExternalData

ALPHAS = tuple(a / 10 for a in range(11))
"""Exponents tried for each group's channel scales (0: no scaling)."""
CLIPS = tuple(np.linspace(1.0, 0.55, 19))
"""Fractions of each block's largest magnitude tried as its range when a kind clips."""
_EXTERNAL_FROM = 4096
"""Initializers of at least this many bytes go to the data file, page-aligned; smaller ones stay inline."""


@dataclass(frozen=True)
class Blocks:
    """How one projection's weights are stored: symmetric ``bits``-bit integers, one float32 scale per
    ``block`` of weights along the input axis."""

    bits: int
    block: int
    accuracy_level: int = 4
    clip: bool = False
    """Search each block's range for the least error weighted by its inputs' mean square (4-bit only pays)."""
    absmax: bool = False
    """Scale ``max|w| / (2**(bits-1) - 1)``, as llama.cpp's ``q8_0`` (the grid a QAT q8_0 checkpoint was trained
    on); otherwise the block's signed extreme maps to ``-2**(bits-1)``, as ONNX Runtime's and ``q4_0``'s."""
    integer: bool = False
    """8-bit weights with one scale per output column (``block`` 0: the whole input axis) and activations
    rounded to 8 bits per row, multiplied by ONNX Runtime's integer GEMM (``MatMulInteger``, on AMX or VNNI
    where the CPU has them) instead of ``MatMulNBits``."""
    outliers: int = 0
    """With ``integer``: the input channels with the largest calibration values, multiplied in float32 apart,
    so that they do not set every row's rounding step (LLM.int8(), Dettmers et al. 2022)."""

    def size(self, rows: int) -> int:
        """Weights per scale for a projection of ``rows`` inputs."""
        return rows if self.integer else self.block


@dataclass(frozen=True)
class Recipe:
    name: str
    default: Blocks
    kinds: dict[str, Blocks] = field(default_factory=dict)
    """Per projection kind (``q k v o gate up down dense ple``), where not :attr:`default`."""
    smooth: bool = True
    """Channel scales before rounding (off for QAT weights: scaling would move them off their grid)."""
    fuse_dense: bool = True

    def blocks(self, kind: str) -> Blocks:
        return self.kinds.get(kind, self.default)

    def recipe(self) -> dict[str, object]:
        """What the artifact manifest records: a changed recipe rebuilds old artifacts."""
        kinds = {"default": self.default, **dict(sorted(self.kinds.items()))}
        return {
            "name": self.name,
            **{kind: str(blocks) for kind, blocks in kinds.items()},
            "smooth": self.smooth,
            "fuse_dense": self.fuse_dense,
        }


_INTEGER_8 = Blocks(8, 0, integer=True, outliers=32)
RECIPES = {
    # 8 bits: int8 columns and rows through the integer GEMM, the 32 input channels with the largest
    # calibration values in float32: 1.6-1.8x the float32 graph's docs/s on an AMX CPU, min cosine 0.9993 /
    # 0.9994 on short texts / ~450-token passages. Without the float32 channels: 2.2x but 0.9969 on passages;
    # with 8 or 16 of them, 0.9993 / 0.9990 on short texts (benchmarks/recipes.py).
    "int8": Recipe("int8", _INTEGER_8),
    # 4 bits: blocks of 32, clipped, in float32 arithmetic (level 4 ran at 0.67x float32 MatMul on batches),
    # the sensitive projections through the 8-bit integer GEMM: 1.07-1.10x the float32 graph's docs/s, where
    # the block-wise recipe below ran at 0.82-0.84x, as exact. 8 float32 channels there, not 32: 4.2 MB less
    # for 0.0002 of min cosine (0.99505 / 0.99482 short / passages, against 0.99525 / 0.99486; none: 0.99255).
    "int4": Recipe(
        "int4",
        Blocks(4, 32, accuracy_level=0, clip=True),
        dict.fromkeys(("v", "o", "down", "dense"), Blocks(8, 0, integer=True, outliers=8)),
    ),
}
BLOCK_WISE = {
    "int8": Recipe("int8 block-wise", Blocks(8, 32)),
    "int4": Recipe(
        "int4 block-wise", Blocks(4, 32, clip=True), {kind: Blocks(8, 128) for kind in ("v", "o", "down", "dense")}
    ),
}
"""The recipes where the integer GEMM could be wrong (see :func:`integer_gemm_is_exact`). ``int8``: 8-bit blocks
of 32 at ``accuracy_level`` 4, min cosine 0.9996 on passages, 0.77x the float32 graph's docs/s. Level 0 (float32
arithmetic) was as exact and faster on batches, but restores every weight block on every call: a single query
took 142 ms against 33 ms for the float32 graph. Blocks of 64 / 128 at level 4: min cosine 0.99942 / 0.99896 on
~450-token passages. ``int4``: the sensitive projections as 8-bit blocks of 128."""
INTEGER_GEMM_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
"""x86 CPU features with which ONNX Runtime's u8 x s8 GEMM sums every product in 32 bits."""


def integer_gemm_is_exact(cpuinfo: Path = CPUINFO, machine: str | None = None) -> bool:
    """Whether ONNX Runtime's u8 x s8 integer GEMM is exact on this CPU. On x86 without VNNI or AMX it adds
    pairs of products in 16 bits (``VPMADDUBSW``), which saturate (ONNX Runtime's quantization docs); read
    from ``/proc/cpuinfo``, so other systems, and ARM, which this package has not measured, get the
    block-wise recipe."""
    if (machine or platform.machine()).lower() not in ("x86_64", "amd64"):
        return False
    return not cpu_flags(cpuinfo).isdisjoint(INTEGER_GEMM_FLAGS)


_Q8_0 = Blocks(8, 32, absmax=True)
QAT_RECIPES = {
    "int8": Recipe("int8 from QAT q8_0 weights", _Q8_0, smooth=False, fuse_dense=False),
    "int4": Recipe(
        "int4 from QAT q4_0 weights",
        Blocks(4, 32),
        {kind: _Q8_0 for kind in ("q", "k", "v", "o", "dense")},
        smooth=False,
        fuse_dense=False,
    ),
}
"""For Google's quantization-aware checkpoints (``embeddinggemma-300m-qat-q8_0-unquantized`` /
``-qat-q4_0-unquantized``: float32 weights trained to be rounded in blocks of 32 as llama.cpp rounds them):
that rounding and nothing else, since channel scales or clipping would move the weights off the grid they
were trained for. The 4-bit one keeps attention at 8 bits and the MLP at 4, Google's mixed recipe."""
FAMILY_RECIPES = {
    "embeddinggemma-2": {
        "int8": BLOCK_WISE["int8"],
        "int4": Recipe(
            "int4 for EmbeddingGemma 2",
            Blocks(4, 32, clip=True),
            {kind: Blocks(8, 128) for kind in ("q", "k", "v", "o", "down", "dense", "ple")},
        ),
    }
}
"""EmbeddingGemma 2's attention scores are unscaled dot products of RMS-normalised queries and keys, so
4-bit queries and keys move them far more than in version 1: on tiny random-weight version-2 models
(the real weights cannot be fetched here), 4-bit q/k cost 0.2 of min cosine to float32 and 8-bit ones
0.03, and the integer GEMM's int8 (activations rounded per row) 0.974 against 0.985 block-wise, so its
``int8`` stays block-wise. Its 4-bit mode keeps attention and the per-layer embeddings at 8 bits and the
MLP's gate and up projections at 4 (Google's mixed QAT recipe keeps attention at 8 bits too)."""
RECIPES_BY_NAME = {
    recipe.name: recipe
    for recipe in (
        *RECIPES.values(),
        *BLOCK_WISE.values(),
        *QAT_RECIPES.values(),
        *(recipe for recipes in FAMILY_RECIPES.values() for recipe in recipes.values()),
    )
}
"""Every recipe by its name, which a build process is given."""
QAT_NAME = re.compile(r"qat-(q8_0|q4_0)", re.IGNORECASE)
_QAT_MODE = {"q8_0": "int8", "q4_0": "int4"}


def recipe_for(folder: Path, precision: str) -> Recipe:
    """The recipe for ``precision`` of the model at ``folder``: the QAT one where the folder (or the hub
    cache path a hub id resolved to) names the matching QAT checkpoint, else its family's."""
    found = QAT_NAME.search(str(folder))
    if found is not None and _QAT_MODE[found.group(1).lower()] == precision:
        return QAT_RECIPES[precision]
    family = family_of_folder(folder)
    recipe = FAMILY_RECIPES.get(family.name if family else "", RECIPES)[precision]
    if any(blocks.integer for blocks in (recipe.default, *recipe.kinds.values())) and not integer_gemm_is_exact():
        return BLOCK_WISE[precision]
    return recipe


def quantize_graph_nbits(float_path: Path, target: Path, *, model_folder: Path, data_name: str, recipe: Recipe) -> Path:
    """Write ``target`` (its weights in ``data_name`` beside it): the graph at ``float_path``, built from
    ``model_folder``, with every weight projection as ``MatMulNBits`` under ``recipe``."""
    graph = _FloatGraph(Path(float_path))
    clips = recipe.default.clip or any(blocks.clip for blocks in recipe.kinds.values())
    activations = observe(Path(float_path), Path(model_folder)) if recipe.smooth or clips else Activations()
    if recipe.fuse_dense:
        graph.fuse_dense()
    if recipe.smooth:
        graph.smooth(activations, recipe)
    _write(graph, activations, recipe, Path(target), data_name)
    return target


def projection_kind(weight_name: str) -> str:
    """``q k v o gate up down`` from a projection's weight name, ``dense`` for the head (EmbeddingGemma's Dense
    layers, EmbeddingGemma 2's embedding projection), ``ple`` for EmbeddingGemma 2's per-layer embeddings."""
    if re.match(r"\d+_Dense\.", weight_name) or ".embedding_projection." in weight_name:
        return "dense"
    if ".ple." in weight_name or ".ple_block." in weight_name:
        return "ple"
    found = re.search(r"\.(q|k|v|o|gate|up|down)_proj\.", weight_name)
    if found is None:
        raise RuntimeError(f"weight {weight_name!r} is no projection this recipe knows")
    return found.group(1)


class _FloatGraph:
    """The float32 graph's structure in memory, its weights read one at a time from the data file (read,
    not mapped: mapped pages would stay in the process's memory), and the edits made before quantizing."""

    def __init__(self, path: Path) -> None:
        import onnx

        self.model = onnx.load(str(path), load_external_data=False)
        self._data = path.with_name(path.name + ".data")
        self.tensors = {tensor.name: tensor for tensor in self.model.graph.initializer}
        self.replaced: dict[str, np.ndarray] = {}
        """Weights changed before quantizing (scaled, fused), by name."""
        self.scales: dict[str, np.ndarray] = {}
        """Channel scales by the activation they divide."""

    def array(self, name: str) -> np.ndarray:
        if name in self.replaced:
            return self.replaced[name]
        from onnx import TensorProto, numpy_helper

        tensor = self.tensors[name]
        if tensor.data_location != TensorProto.EXTERNAL:
            return numpy_helper.to_array(tensor)
        where = {entry.key: entry.value for entry in tensor.external_data}
        with open(self._data, "rb") as data:
            raw = os.pread(data.fileno(), int(where["length"]), int(where.get("offset", 0)))
        return np.frombuffer(raw, dtype="<f4").reshape(tuple(tensor.dims))

    def producer(self, name: str) -> Any:
        return next((node for node in self.model.graph.node if name in node.output), None)

    def readers(self, name: str) -> list[Any]:
        return [node for node in self.model.graph.node if name in node.input]

    def fuse_dense(self) -> None:
        """One MatMul for two weight MatMuls in a row (the Dense head): their product, in float64."""
        for second in weight_matmuls(self.model):
            first = self.producer(second.input[0])
            if first is None or first not in weight_matmuls(self.model) or len(self.readers(first.output[0])) != 1:
                continue
            fused = self.array(first.input[1]).astype(np.float64) @ self.array(second.input[1]).astype(np.float64)
            self.replaced[second.input[1]] = fused.astype(np.float32)
            second.input[0] = first.input[0]
            self.model.graph.node.remove(first)
            return

    def smooth(self, activations: Activations, recipe: Recipe) -> None:
        """Channel scales for each group of projections reading one activation, folded where exact."""
        from onnx import helper, numpy_helper

        groups: dict[str, list[Any]] = {}
        for node in weight_matmuls(self.model):
            if projection_kind(node.input[1]) != "dense":
                groups.setdefault(node.input[0], []).append(node)
        for name, nodes in groups.items():
            members = [(self.array(n.input[1]), recipe.blocks(projection_kind(n.input[1]))) for n in nodes]
            scales = _channel_scales(activations.mean(name), activations.sample(name), members)
            if scales is None:
                continue
            self.scales[name] = scales
            for node, (weight, _) in zip(nodes, members, strict=True):
                self.replaced[node.input[1]] = (weight.astype(np.float64) * scales[:, None]).astype(np.float32)
            source = self.producer(name)
            is_product = source is not None and source.op_type == "Mul"
            norm = [i for i in source.input if i in self.tensors] if is_product else []
            up = [n for n in weight_matmuls(self.model) if is_product and n.output[0] in source.input]
            if norm and len(self.readers(norm[0])) == 1:  # an RMSNorm's output: its weight takes 1/s
                self.replaced[norm[0]] = (self.array(norm[0]) / scales).astype(np.float32)
            elif up:  # gelu(gate) * up: the up projection's columns take 1/s
                self.replaced[up[0].input[1]] = (self.array(up[0].input[1]).astype(np.float64) / scales).astype(
                    np.float32
                )
            else:  # one Mul node before the group
                inverse = f"{name}/smooth.inverse"
                self.model.graph.initializer.append(numpy_helper.from_array((1 / scales).astype(np.float32), inverse))
                self.tensors[inverse] = self.model.graph.initializer[-1]
                scaled = f"{name}/smooth"
                position = list(self.model.graph.node).index(nodes[0])
                self.model.graph.node.insert(position, helper.make_node("Mul", [name, inverse], [scaled], name=scaled))
                for node in nodes:
                    node.input[0] = scaled


# -- rounding ---------------------------------------------------------------------------------------------


def _blocked(weight: np.ndarray, block: int) -> np.ndarray:
    """``[K, N]`` -> ``[N, blocks, block]``, zero-padded along K (MatMulNBits' layout)."""
    k, n = weight.shape
    padded = np.zeros((-(-k // block) * block, n), dtype=np.float64)
    padded[:k] = weight
    return padded.T.reshape(n, -1, block)


def _round(
    blocks: np.ndarray, bits: int, clip: np.ndarray | float = 1.0, *, absmax: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric rounding as ONNX Runtime's quantizer rounds: the block's signed extreme (x ``clip``) maps to
    ``-2**(bits-1)``; with ``absmax``, as llama.cpp's ``q8_0``: ``max|w|`` maps to ``2**(bits-1) - 1``.
    Returns the codes (``q + 2**(bits-1)``, unsigned) and the float32 scales."""
    half = 2 ** (bits - 1)
    if absmax:
        scale = (np.abs(blocks).max(-1) * clip / (half - 1)).astype(np.float32)
    else:
        extreme = np.take_along_axis(blocks, np.abs(blocks).argmax(-1)[..., None], -1)[..., 0] * clip
        scale = (extreme / -half).astype(np.float32)
    scale[scale == 0] = 1.0
    codes = np.clip(np.rint(blocks / scale[..., None].astype(np.float64)), -half, half - 1) + half
    return codes.astype(np.uint8), scale


def _restore(codes: np.ndarray, scale: np.ndarray, bits: int, rows: int) -> np.ndarray:
    """The ``[K, N]`` weight MatMulNBits multiplies by."""
    values = (codes.astype(np.float64) - 2 ** (bits - 1)) * scale[..., None]
    return values.reshape(values.shape[0], -1).T[:rows]


def quantize(
    weight: np.ndarray, blocks: Blocks, inputs_square: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``weight`` ``[K, N]`` as codes ``[N, blocks, block]`` and scales ``[N, blocks]``; with ``blocks.clip``,
    each block's range is the one of :data:`CLIPS` with the least error weighted by ``inputs_square``."""
    size = blocks.size(weight.shape[0])
    grouped = _blocked(weight, size)
    codes, scale = _round(grouped, blocks.bits, absmax=blocks.absmax)
    if not blocks.clip:
        return codes, scale
    weights = np.ones(grouped.shape[1] * size)
    if inputs_square is not None:  # the zero padding past K weighs nothing
        weights[:] = 0
        weights[: weight.shape[0]] = inputs_square
    weights = weights.reshape(1, -1, size)
    half = 2 ** (blocks.bits - 1)

    def error(c: np.ndarray, s: np.ndarray) -> np.ndarray:
        return (((c.astype(np.float64) - half) * s[..., None] - grouped) ** 2 * weights).sum(-1)

    best = error(codes, scale)
    for clip in CLIPS[1:]:
        trial_codes, trial_scale = _round(grouped, blocks.bits, clip, absmax=blocks.absmax)
        trial = error(trial_codes, trial_scale)
        better = trial < best
        best = np.where(better, trial, best)
        codes = np.where(better[..., None], trial_codes, codes)
        scale = np.where(better, trial_scale, scale)
    return codes, scale


def _rounded_inputs(x: np.ndarray, block: int) -> np.ndarray:
    """``x`` as ``accuracy_level`` 4 multiplies it: int8 per block of ``block`` along K, scale max|x|/127."""
    rows, k = x.shape
    padded = np.zeros((rows, -(-k // block) * block))
    padded[:, :k] = x
    grouped = padded.reshape(rows, -1, block)
    scale = np.abs(grouped).max(-1, keepdims=True) / 127
    scale[scale == 0] = 1
    return (np.rint(grouped / scale) * scale).reshape(rows, -1)[:, :k]


def _channel_scales(
    mean: np.ndarray, sample: np.ndarray, members: list[tuple[np.ndarray, Blocks]]
) -> np.ndarray | None:
    """The scales ``s`` (weights' rows x s, activation / s) with the least summed output error of the group
    on ``sample`` under each member's rounding, or None when no scaling does best."""
    mean = np.maximum(mean, 1e-5 * max(float(mean.max()), 1e-30))
    x = sample.astype(np.float64)
    references = [x @ weight.astype(np.float64) for weight, _ in members]
    best, best_error = None, None
    for alpha in ALPHAS:
        scales = mean**alpha
        scales /= np.sqrt(scales.max() * scales.min())
        total = 0.0
        for (weight, blocks), reference in zip(members, references, strict=True):
            size = blocks.size(len(weight))
            plain = Blocks(blocks.bits, size)  # the search rounds to nearest: fast
            restored = _restore(*quantize(weight * scales[:, None], plain), blocks.bits, len(weight))
            scaled = x / scales
            if blocks.accuracy_level == 4 or blocks.integer:
                scaled = _rounded_inputs(scaled, size)
            total += float(((scaled @ restored - reference) ** 2).sum())
        if best_error is None or total < best_error:
            best_error, best = total, (None if alpha == 0 else scales)
    return best


# -- writing ----------------------------------------------------------------------------------------------


def _pack(codes: np.ndarray, bits: int) -> np.ndarray:
    """MatMulNBits' ``B``: ``[N, blocks, block * bits / 8]`` bytes, two 4-bit codes a byte (low nibble first)."""
    if bits == 8:
        return codes
    return (codes[..., 0::2] & 0xF) | ((codes[..., 1::2] & 0xF) << 4)


def _stored(external: ExternalData, name: str, array: np.ndarray) -> Any:
    """``array`` as an initializer: inline when small, else in the data file."""
    from onnx import numpy_helper

    array = np.ascontiguousarray(array).reshape(np.shape(array))  # ascontiguousarray makes a scalar 1-D
    return numpy_helper.from_array(array, name) if array.nbytes < _EXTERNAL_FROM else external.tensor(name, array)


def _write(graph: _FloatGraph, activations: Activations, recipe: Recipe, target: Path, data_name: str) -> None:
    """The quantized graph at ``target`` and its data file ``data_name`` beside it (written as a pair)."""
    from .onnx_graph import save_with_data

    save_with_data(target, target.with_name(data_name), lambda data: _quantized(graph, activations, recipe, data))


def _quantized(graph: _FloatGraph, activations: Activations, recipe: Recipe, external: ExternalData) -> Any:
    """``graph``'s model with every weight projection as its recipe says, the weights written to ``external``."""
    from onnx import helper

    model = graph.model
    projections = {node.input[1] for node in weight_matmuls(model)}
    tensors, nodes = [], []
    integer = _IntegerGemm(graph, activations, external)
    for node in model.graph.node:
        if node.op_type != "MatMul" or node.input[1] not in projections:
            nodes.append(node)
            continue
        name, weight = node.input[1], graph.array(node.input[1]).astype(np.float64)
        blocks = recipe.blocks(projection_kind(name))
        source = node.input[0].removesuffix("/smooth")
        square = None
        if blocks.clip and source in activations.rows:
            square = (activations.sample(source).astype(np.float64) / graph.scales.get(source, 1.0)) ** 2
            square = square.mean(0)
        if blocks.integer:
            nodes += integer.projection(node, weight, blocks, square)
            continue
        codes, scale = quantize(weight, blocks, square)
        packed = _stored(external, f"{name}_Q{blocks.bits}", _pack(codes, blocks.bits))
        scales = _stored(external, f"{name}_scales", scale.reshape(-1))
        tensors += [packed, scales]
        k, n = weight.shape
        attributes = {"K": k, "N": n, "bits": blocks.bits, "block_size": blocks.block}
        nodes.append(
            helper.make_node(
                "MatMulNBits",
                [node.input[0], packed.name, scales.name],
                list(node.output),
                name=f"{node.name}_Q{blocks.bits}",
                domain="com.microsoft",
                accuracy_level=blocks.accuracy_level,
                **attributes,
            )
        )
    tensors += integer.tensors
    used = {name for node in nodes for name in node.input}
    for tensor in model.graph.initializer:
        if tensor.name in used and tensor.name not in projections:
            tensors.append(_stored(external, tensor.name, graph.array(tensor.name)))
    model.graph.ClearField("node")
    model.graph.node.extend(nodes)
    model.graph.ClearField("initializer")
    model.graph.initializer.extend(tensors)
    if not any(opset.domain == "com.microsoft" for opset in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return model


class _IntegerGemm:
    """Projections as ``x @ W`` with ``x`` rounded per row to 8 bits around 128 (once per activation, its
    outlier channels set apart in float32), ``MatMulInteger`` with int8 columns, and the int32 result scaled
    back by row and column, plus the outlier channels' float32 product."""

    def __init__(self, graph: _FloatGraph, activations: Activations, external: ExternalData) -> None:
        self._graph, self._activations, self._external = graph, activations, external
        self.tensors: list[Any] = []
        self._rounded: dict[str, tuple[np.ndarray, str, str]] = {}
        """Per activation: its outlier channels, its codes and its row scales."""

    def projection(self, node: Any, weight: np.ndarray, blocks: Blocks, square: np.ndarray | None) -> list[Any]:
        from onnx import TensorProto, helper

        x, name = node.input[0], node.input[1]
        nodes = [] if x in self._rounded else self._round_rows(x, blocks.outliers, len(weight))
        channels, codes, row_scales = self._rounded[x]
        kept = weight.copy()
        kept[channels] = 0  # multiplied in float32 below
        weight_codes, scale = quantize(kept, blocks, square)
        columns = self._store(f"{name}_int8", (weight_codes[:, 0, :].T.astype(np.int16) - 128).astype(np.int8))
        column_scales = self._store(f"{name}_scales", scale[:, 0])
        p = f"{node.name}/int8"
        product = list(node.output) if not len(channels) else [f"{p}.integer_part"]
        nodes += [
            helper.make_node("MatMulInteger", [codes, columns, _ZERO_POINT], [f"{p}.int32"], name=f"{p}.gemm"),
            helper.make_node("Cast", [f"{p}.int32"], [f"{p}.float"], name=f"{p}.cast", to=TensorProto.FLOAT),
            helper.make_node("Mul", [f"{p}.float", row_scales], [f"{p}.rows"], name=f"{p}.rows"),
            helper.make_node("Mul", [f"{p}.rows", column_scales], product, name=f"{p}.columns"),
        ]
        if len(channels):
            rows = self._store(f"{name}_outlier_rows", weight[channels].astype(np.float32))
            outliers = f"{x}/int8.outliers"
            nodes += [
                helper.make_node("MatMul", [outliers, rows], [f"{p}.outlier_part"], name=f"{p}.outlier_part"),
                helper.make_node("Add", [product[0], f"{p}.outlier_part"], list(node.output), name=f"{p}.sum"),
            ]
        return nodes

    def _round_rows(self, x: str, outliers: int, width: int) -> list[Any]:
        from onnx import helper, numpy_helper

        if not self._rounded:  # the first activation: the constants every rounding reads
            self.tensors += [numpy_helper.from_array(value, name) for name, value in _INTEGER_CONSTANTS.items()]
        channels = self._outlier_channels(x, outliers)
        p, source, nodes = f"{x}/int8", x, []
        if len(channels):
            keep = np.ones(width, np.float32)
            keep[channels] = 0
            self._store(f"{p}.channels", channels)
            self._store(f"{p}.keep", keep)
            source = f"{p}.kept"
            nodes += [
                helper.make_node("Mul", [x, f"{p}.keep"], [source], name=source),
                helper.make_node("Gather", [x, f"{p}.channels"], [f"{p}.outliers"], name=f"{p}.outliers", axis=-1),
            ]
        steps = [
            ("Abs", [source], {}),
            ("ReduceMax", [f"{p}.Abs", "int8.last_axis"], {"keepdims": 1}),
            ("Max", [f"{p}.ReduceMax", "int8.smallest"], {}),  # an all-zero row (padding) stays zero
            ("Mul", [f"{p}.Max", "int8.per_code"], {}),
            ("Div", [source, f"{p}.Mul"], {}),
            ("QuantizeLinear", [f"{p}.Div", "int8.one", _ZERO_POINT], {}),
        ]
        nodes += [helper.make_node(op, inputs, [f"{p}.{op}"], name=f"{p}.{op}", **kw) for op, inputs, kw in steps]
        self._rounded[x] = (channels, f"{p}.QuantizeLinear", f"{p}.Mul")
        return nodes

    def _outlier_channels(self, x: str, count: int) -> np.ndarray:
        """The ``count`` channels of ``x`` (as the smoothed graph sees it) with the largest calibration values."""
        source = x.removesuffix("/smooth")
        if not count or source not in self._activations.rows:
            return np.zeros(0, np.int64)
        sample = np.abs(self._activations.sample(source) / self._graph.scales.get(source, 1.0))
        return np.sort(np.argsort(sample.max(0))[-count:]).astype(np.int64)

    def _store(self, name: str, array: np.ndarray) -> Any:
        tensor = _stored(self._external, name, array)
        self.tensors.append(tensor)
        return tensor.name


_ZERO_POINT = "int8.zero_point"
_INTEGER_CONSTANTS = {
    "int8.last_axis": np.array([-1], np.int64),
    "int8.smallest": np.float32(1e-30),
    "int8.per_code": np.float32(1 / 127),
    "int8.one": np.float32(1),
    _ZERO_POINT: np.uint8(128),
}
