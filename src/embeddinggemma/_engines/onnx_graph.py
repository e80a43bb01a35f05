"""Write EmbeddingGemma's float32 ONNX graph straight from the model folder, without torch.

The graph computes what sentence-transformers computes with transformers' ``Gemma3TextModel``
(EmbeddingGemma) or ``EmbeddingGemma2TextModel`` (EmbeddingGemma 2), spelled out op by op: the text
transformer with bidirectional attention, mean pooling over the attention mask, then EmbeddingGemma's
Dense layers or EmbeddingGemma 2's embedding projection (not normalised: callers normalise after any
Matryoshka truncation). EmbeddingGemma 2's layers add per-layer embeddings (PLE: a projection of the
input embeddings, one slice gating each layer), value norms, wider full-attention heads and a scalar
per layer; its norms multiply by their weight where Gemma 3's multiply by ``1 + weight``.

Its inputs are ``inputs_embeds`` (float32 ``[batch, length, hidden]``: token rows already multiplied by
``sqrt(hidden)``, looked up outside the graph, so the 262,144-row token table is never part of it) and
``attention_mask`` (int64 ``[batch, length]``); its output is ``embeddings`` (float32 ``[batch, width]``).

Design:

- Only ``onnx``, ``numpy`` and ``safetensors`` are needed: no torch, transformers or onnxscript.
- Weights stream: each tensor is read from the safetensors file (float32, bfloat16 or float16), transposed
  for ``MatMul`` and written at once to the external-data file beside the graph; the graph proto only
  points at it. Tensors are read with ``pread``, never mapped, so one weight at a time is in memory.
- Plain opset-18 ops, in the shapes ONNX Runtime's optimizer recognises: RMSNorm as
  Pow/ReduceMean/Add/Sqrt/Div/Mul (fused to ``SimplifiedLayerNormalization``), tanh-GELU as its textbook
  formula (fused to ``FastGelu``), attention as MatMul/Add/Softmax/MatMul.
- Masks are computed in the graph from ``attention_mask`` (keys only, as transformers does), so a text's
  vector does not depend on the padding or the other texts in its batch.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .artifacts import atomic_target, data_path

OPSET = 18
IR_VERSION = 8  # the first IR version that carries opset 18; ONNX Runtime 1.14+ reads it
INPUTS = ("inputs_embeds", "attention_mask")
OUTPUT = "embeddings"
_ALIGNMENT = 4096  # page-aligned offsets let ONNX Runtime map the data file rather than read it into buffers
_MASKED = float(np.finfo(np.float32).min)  # finite, so a row with every key masked stays NaN-free
_TANH_GELU = {"gelu_pytorch_tanh", "gelu_new", "gelu_fast", "gelu_python_tanh"}


@dataclass(frozen=True)
class LayerShape:
    """One layer's attention: its kind and head sizes (EmbeddingGemma 2's full-attention layers are wider)."""

    kind: str
    kv_heads: int
    head_dim: int


@dataclass(frozen=True)
class Architecture:
    """The text transformer's shape, read from ``config.json``."""

    hidden: int
    intermediate: int
    heads: int
    eps: float
    query_scale: float
    window: int
    """Sliding layers let position ``i`` see ``j`` when ``abs(i - j) < window``."""
    layers: tuple[LayerShape, ...]
    inverse_frequencies: dict[str, np.ndarray]
    """RoPE inverse frequencies (float32, ``head_dim / 2``) by layer type."""
    norm_offset: float = 1.0
    """Gemma 3's norms scale by ``1 + weight``, EmbeddingGemma 2's by ``weight``."""
    value_norm: bool = False
    """Values are RMS-normalised (no weight) before attention (EmbeddingGemma 2)."""
    per_layer_width: int = 0
    """Width of each layer's slice of the per-layer embeddings (0: none, as in Gemma 3)."""
    layer_scalar: bool = False
    """Each layer's output is multiplied by its stored ``layer_scalar``."""
    projection: int = 0
    """Width of the linear embedding projection after the final norm (0: none, as in Gemma 3)."""

    @property
    def layer_types(self) -> tuple[str, ...]:
        return tuple(layer.kind for layer in self.layers)


@dataclass(frozen=True)
class Dense:
    """One sentence-transformers Dense layer (identity activation)."""

    folder: Path
    in_features: int
    out_features: int
    bias: bool


def read_architecture(config: dict[str, Any]) -> Architecture:
    """The transformer's hyper-parameters, with transformers' defaults and conventions applied."""
    model_type = config.get("model_type")
    if model_type == "embedding_gemma2":  # the composite model: only its text model is run
        config = config.get("text_config") or {}
        model_type = config.get("model_type", "embedding_gemma2_text")
    if model_type == "embedding_gemma2_text":
        return _embedding_gemma2(config)
    if model_type not in ("gemma3_text", None):
        raise ValueError(
            f"expected a gemma3_text (EmbeddingGemma) or embedding_gemma2_text (EmbeddingGemma 2) transformer, "
            f"not {model_type!r}"
        )
    if not config.get("use_bidirectional_attention"):
        raise ValueError("the graph is bidirectional; this config is a causal (generative) Gemma 3")
    hidden, heads, kv_heads, head_dim, layer_types = _common(config)
    # transformers' Gemma3TextConfig turns the saved window into an exclusive half-width when attention
    # is bidirectional ("due to fa we set exclusive bounds"): 512 on disk lets |i - j| <= 256 attend.
    window = int(config.get("sliding_window") or 4096) // 2 + 1
    # Gemma3Attention never passes attn_logit_softcapping to its attention function, and
    # final_logit_softcapping belongs to the LM head: neither changes the text model's output.
    return Architecture(
        hidden=hidden,
        intermediate=int(config["intermediate_size"]),
        heads=heads,
        eps=float(config.get("rms_norm_eps", 1e-6)),
        query_scale=float(config.get("query_pre_attn_scalar", 256)) ** -0.5,
        window=window,
        layers=tuple(LayerShape(kind, kv_heads, head_dim) for kind in layer_types),
        inverse_frequencies={kind: _inverse_frequencies(rope, head_dim) for kind, rope in _rope(config).items()},
    )


def _common(config: dict[str, Any]) -> tuple[int, int, int, int, list[str]]:
    """What both families' configs spell alike: widths, heads and layer types, checked."""
    if config.get("attention_bias"):
        raise ValueError("attention_bias=true is not supported (EmbeddingGemma's projections have no bias)")
    activation = config.get("hidden_activation", "gelu_pytorch_tanh")
    if activation not in _TANH_GELU:
        raise ValueError(f"hidden_activation={activation!r} is not supported (tanh-approximated GELU is)")
    hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
    kv_heads = _kv_heads(heads, config.get("num_key_value_heads"))
    head_dim = int(config.get("head_dim") or hidden // heads)
    layers = int(config["num_hidden_layers"])
    pattern = int(config.get("sliding_window_pattern", config.get("_sliding_window_pattern", 6)))
    layer_types = list(
        config.get("layer_types")
        or ["sliding_attention" if (i + 1) % pattern else "full_attention" for i in range(layers)]
    )
    return hidden, heads, kv_heads, head_dim, layer_types


def _kv_heads(heads: int, given: object) -> int:
    kv_heads = int(given or heads)  # type: ignore[call-overload]
    if heads % kv_heads:
        raise ValueError(f"{heads} attention heads cannot share {kv_heads} key/value heads evenly")
    return kv_heads


def _embedding_gemma2(config: dict[str, Any]) -> Architecture:
    """EmbeddingGemma 2's text model, as ``EmbeddingGemma2TextConfig`` derives it from ``config.json``."""
    hidden, heads, kv_heads, head_dim, layer_types = _common(config)
    layer_types[-1] = "full_attention"  # the config forces it (with a warning) when the saved list says otherwise
    # Full-attention layers are wider: saved per layer index, or as the builder's two keys.
    per_layer = {int(index): value for index, value in (config.get("per_layer_config") or {}).items()}
    if "per_layer_config" not in config:  # saved as {} when full-attention layers are as wide as the others
        wide = {
            "head_dim": config.get("global_head_dim", 512),
            "num_key_value_heads": config.get("num_global_key_value_heads", 1),
        }
        per_layer = {i: wide for i, kind in enumerate(layer_types) if kind == "full_attention"}
    layers = tuple(
        LayerShape(
            kind,
            _kv_heads(heads, per_layer.get(i, {}).get("num_key_value_heads") or kv_heads),
            int(per_layer.get(i, {}).get("head_dim") or head_dim),
        )
        for i, kind in enumerate(layer_types)
    )
    rope = {
        "sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0},
        "full_attention": {"rope_type": "default", "rope_theta": 1_000_000.0},
        **_rope_by_type(config),
    }
    frequencies = {}
    for kind in set(layer_types):
        widths = {layer.head_dim for layer in layers if layer.kind == kind}
        if len(widths) != 1:
            raise ValueError(f"{kind} layers of different head sizes {sorted(widths)} are not supported")
        frequencies[kind] = _inverse_frequencies(rope[kind], widths.pop())
    return Architecture(
        hidden=hidden,
        intermediate=int(config["intermediate_size"]),
        heads=heads,
        eps=float(config.get("rms_norm_eps", 1e-6)),
        query_scale=1.0,
        # A symmetric radius, inclusive: |i - j| <= sliding_window attends.
        window=int(config.get("sliding_window", 512)) + 1,
        layers=layers,
        inverse_frequencies=frequencies,
        norm_offset=0.0,
        value_norm=True,
        per_layer_width=int(config.get("hidden_size_per_layer_input", 512)),
        layer_scalar=True,
        projection=int(config.get("embedding_dim", 768)),
    )


def _rope(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """RoPE parameters by layer type, from the new ``rope_parameters`` or the older flat keys."""
    parameters = _rope_by_type(config)
    # As Gemma3TextConfig does: rope_scaling applies to the full-attention layers only, and the flat
    # keys fill in a missing theta.
    full = parameters.setdefault("full_attention", {})
    full.update(config.get("rope_scaling") or {})
    full.setdefault("rope_theta", float(config.get("rope_theta", 1_000_000.0)))
    sliding = parameters.setdefault("sliding_attention", {})
    sliding.setdefault("rope_theta", float(config.get("rope_local_base_freq", 10_000.0)))
    return parameters


def _rope_by_type(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``rope_parameters`` as saved, by layer type (a flat one, for every layer alike, is refused)."""
    given = config.get("rope_parameters") or {}
    if "rope_type" in given or "rope_theta" in given:
        raise ValueError("expected rope_parameters per layer type (full_attention, sliding_attention)")
    return {kind: dict(value or {}) for kind, value in given.items()}


def _inverse_frequencies(rope: dict[str, Any], head_dim: int) -> np.ndarray:
    kind = rope.get("rope_type", rope.get("type", "default"))
    if kind not in ("default", "linear"):
        raise ValueError(f"rope_type={kind!r} is not supported (default and linear are)")
    exponents = np.arange(0, head_dim, 2, dtype=np.float32) / np.float32(head_dim)
    # transformers: 1.0 / (base ** exponents) in float32; the power is taken in float64 and rounded,
    # which matches torch's float32 pow to the last bit on all but one of 128 frequencies (1 ulp there).
    powers = (np.float64(rope["rope_theta"]) ** exponents.astype(np.float64)).astype(np.float32)
    inverse = np.float32(1.0) / powers
    if kind == "linear":
        inverse = inverse / np.float32(rope["factor"])
    return inverse.astype(np.float32)


def read_dense_stack(folder: Path) -> list[Dense]:
    """The Dense layers after mean pooling, checking the sentence-transformers stack is the expected one."""
    modules = json.loads((folder / "modules.json").read_text())
    kinds = [module["type"].rsplit(".", 1)[-1] for module in modules]
    if not kinds or kinds[0] != "Transformer" or kinds[1:2] != ["Pooling"]:
        raise ValueError(f"expected Transformer then Pooling in modules.json, found {kinds}")
    if modules[0].get("path", "") not in ("", "."):
        raise ValueError("the transformer must sit at the top of the model folder")
    _check_pooling(json.loads((folder / modules[1]["path"] / "config.json").read_text()))
    dense: list[Dense] = []
    for module, kind in zip(modules[2:], kinds[2:], strict=True):
        if kind == "Normalize":
            continue  # the graph's output is not normalised: callers normalise (and truncate) after
        if kind != "Dense":
            raise ValueError(f"module {module['path']!r} ({kind}) is not supported after pooling")
        path = folder / module["path"]
        settings = json.loads((path / "config.json").read_text())
        activation = settings.get("activation_function", "torch.nn.modules.linear.Identity")
        if not activation.endswith("Identity"):
            raise ValueError(f"{module['path']}: activation {activation!r} is not supported (Identity is)")
        width = int(settings["in_features"]), int(settings["out_features"])
        dense.append(Dense(path, *width, bias=bool(settings.get("bias", True))))
    return dense


def _check_pooling(settings: dict[str, Any]) -> None:
    mode = settings.get("pooling_mode")
    if mode is None:
        chosen = [key for key, value in settings.items() if key.startswith("pooling_mode_") and value]
        mode = "mean" if chosen == ["pooling_mode_mean_tokens"] else ",".join(chosen)
    if mode != "mean":
        raise ValueError(f"pooling {mode!r} is not supported (mean is)")
    if not settings.get("include_prompt", True):
        raise ValueError("include_prompt=false pooling is not supported")


class ExternalData:
    """A graph's external-data file: each tensor appended at a page-aligned offset, so ONNX Runtime maps it."""

    def __init__(self, data: IO[bytes], location: str) -> None:
        self._data = data
        self.location = location

    def tensor(self, name: str, array: np.ndarray) -> TensorProto:
        """Append ``array`` to the file and declare it as external data named ``name``."""
        array = np.ascontiguousarray(array)
        self._data.write(b"\0" * (-self._data.tell() % _ALIGNMENT))
        offset = self._data.tell()
        self._data.write(memoryview(array).cast("B"))
        tensor = TensorProto(name=name, data_type=helper.np_dtype_to_tensor_dtype(array.dtype), dims=array.shape)
        tensor.data_location = TensorProto.EXTERNAL
        for key, value in (("location", self.location), ("offset", str(offset)), ("length", str(array.nbytes))):
            tensor.external_data.add(key=key, value=value)
        return tensor


def save_with_data(target: Path, data_final: Path, build: Callable[[ExternalData], onnx.ModelProto]) -> None:
    """The model ``build`` makes, at ``target``, with the weights it writes in ``data_final``. Both are written
    under temporary names and moved into place, the data first, so a reader never sees a half-written pair."""
    temporary_graph, temporary_data = atomic_target(target), atomic_target(data_final)
    try:
        with open(temporary_data, "wb") as data:
            model = build(ExternalData(data, data_final.name))
        temporary_graph.write_bytes(model.SerializeToString())
        os.replace(temporary_data, data_final)
        os.replace(temporary_graph, target)
    finally:
        temporary_graph.unlink(missing_ok=True)
        temporary_data.unlink(missing_ok=True)


class GraphWriter:
    """Nodes and initializers of one graph; weights go straight into the external-data file."""

    def __init__(self, external: ExternalData) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[TensorProto] = []
        self._external = external
        self._constants: dict[tuple[str, bytes, tuple[int, ...]], str] = {}
        self._scope = ""
        self._count = 0

    @contextmanager
    def scope(self, name: str) -> Iterator[None]:
        """Prefix the names of the nodes made inside (``layers.3/``): readable profiles and graphs."""
        outer, self._scope = self._scope, f"{self._scope}{name}/"
        try:
            yield
        finally:
            self._scope = outer

    def op(self, op_type: str, *inputs: str, outputs: int = 1, **attributes: Any) -> Any:
        """Add a node; its one output name, or a list of them when ``outputs > 1``."""
        self._count += 1
        name = f"{self._scope}{op_type}_{self._count}"
        names = [f"{name}:{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, name=name, **attributes))
        return names[0] if outputs == 1 else names

    def constant(self, value: Any, dtype: type = np.float32) -> str:
        """A small inline initializer (shapes, scalars), shared by every node that uses the same value."""
        array = np.asarray(value, dtype=dtype)
        key = (array.dtype.str, array.tobytes(), array.shape)
        if key not in self._constants:
            name = f"const_{len(self._constants)}"
            self.initializers.append(numpy_helper.from_array(array, name))
            self._constants[key] = name
        return self._constants[key]

    def weight(self, name: str, array: np.ndarray) -> str:
        """Append ``array`` (as little-endian float32) to the data file and declare it as external data."""
        self.initializers.append(self._external.tensor(name, np.ascontiguousarray(array, dtype="<f4")))
        return name


class LayerTensors:
    """The tensors of one module (``layers.3``, ``head``), read from an open safetensors file on demand."""

    def __init__(self, tensors: Any, prefix: str, name: str) -> None:
        self._tensors = tensors
        self._prefix = prefix
        self.name = name

    def __call__(self, key: str) -> np.ndarray:
        return self._tensors.get_tensor(f"{self._prefix}{key}")


class GemmaGraph:
    """Builds the transformer, pooling and Dense layers into a :class:`GraphWriter`."""

    def __init__(self, graph: GraphWriter, arch: Architecture) -> None:
        self.g = graph
        self.arch = arch

    def rms_norm(self, x: str, layer: LayerTensors | None, key: str) -> str:
        """Gemma RMSNorm over the last axis: ``x / sqrt(mean(x^2) + eps) * (offset + weight)``, all float32
        (``layer=None``: no weight, as EmbeddingGemma 2's value norm)."""
        g = self.g
        mean = g.op("ReduceMean", g.op("Pow", x, g.constant(2.0)), g.constant([-1], np.int64), keepdims=1)
        normalised = g.op("Div", x, g.op("Sqrt", g.op("Add", mean, g.constant(self.arch.eps))))
        if layer is None:
            return normalised
        # (1 + weight) is folded here in float32, exactly as Gemma3RMSNorm computes it at run time.
        scale = np.float32(self.arch.norm_offset) + layer(f"{key}.weight")
        return g.op("Mul", normalised, g.weight(f"{layer.name}.{key}.scale", scale))

    def linear(self, x: str, layer: LayerTensors, key: str) -> str:
        """``x @ weight.T`` for a torch ``[out, in]`` weight (stored transposed, as MatMul wants it)."""
        return self.g.op("MatMul", x, self.g.weight(f"{layer.name}.{key}.weight_t", layer(f"{key}.weight").T))

    def gelu(self, x: str) -> str:
        """tanh-approximated GELU, ``0.5 x (1 + tanh(sqrt(2/pi) x (1 + 0.044715 x^2)))``.

        Spelled in the order ONNX Runtime's FastGeluFusion matches: its other pattern, with Pow(x, 3),
        only knows Pow up to opset 13.
        """
        g = self.g
        square = g.op("Mul", g.op("Mul", x, g.constant(0.044715)), x)
        scaled = g.op("Mul", x, g.constant(math.sqrt(2.0 / math.pi)))
        tanh = g.op("Tanh", g.op("Mul", scaled, g.op("Add", square, g.constant(1.0))))
        return g.op("Mul", g.op("Mul", x, g.constant(0.5)), g.op("Add", tanh, g.constant(1.0)))

    def rotary_tables(self, positions: str) -> dict[str, tuple[str, str]]:
        """Per layer type: ``cos`` and the sign-folded ``sin`` as ``[length, 1, 1, head_dim]``.

        transformers rotates with ``x * cos + cat(-x2, x1) * sin``; here it is ``x * cos + cat(x2, x1) *
        cat(-sin, sin)``, the same products bit for bit, with one Neg per layer type instead of per head.
        """
        g = self.g
        column, broadcast = g.constant([1], np.int64), g.constant([1, 2], np.int64)
        tables = {}
        for kind in sorted(set(self.arch.layer_types)):
            angles = g.op("Mul", g.op("Unsqueeze", positions, column), g.constant(self.arch.inverse_frequencies[kind]))
            cos, sin = g.op("Cos", angles), g.op("Sin", angles)
            cos = g.op("Unsqueeze", g.op("Concat", cos, cos, axis=-1), broadcast)
            sin = g.op("Unsqueeze", g.op("Concat", g.op("Neg", sin), sin, axis=-1), broadcast)
            tables[kind] = (cos, sin)
        return tables

    def rotate(self, x: str, table: tuple[str, str]) -> str:
        cos, sin = table
        first, second = self.g.op("Split", x, axis=-1, num_outputs=2, outputs=2)
        swapped = self.g.op("Concat", second, first, axis=-1)
        return self.g.op("Add", self.g.op("Mul", x, cos), self.g.op("Mul", swapped, sin))

    def heads(self, x: str, layer: LayerTensors, key: str, shape: LayerShape, group: int) -> str:
        """A projection split into heads, ``[batch, length, kv_heads, group, head_dim]``."""
        dims = self.g.constant([0, 0, shape.kv_heads, group, shape.head_dim], np.int64)
        return self.g.op("Reshape", self.linear(x, layer, key), dims)

    def attention(self, x: str, layer: LayerTensors, shape: LayerShape, rotary: tuple[str, str], bias: str) -> str:
        """Grouped-query attention in ``[batch, kv_heads, group, length, head_dim]`` layout.

        Query head ``h`` reads key/value head ``h // group`` (transformers' ``repeat_kv``), which is what
        splitting the query heads as ``(kv_heads, group)`` and broadcasting the keys over ``group`` does.
        """
        g, a = self.g, self.arch
        q = self.heads(x, layer, "self_attn.q_proj", shape, a.heads // shape.kv_heads)
        k = self.heads(x, layer, "self_attn.k_proj", shape, 1)
        v = self.heads(x, layer, "self_attn.v_proj", shape, 1)
        q = self.rotate(self.rms_norm(q, layer, "self_attn.q_norm"), rotary)
        k = self.rotate(self.rms_norm(k, layer, "self_attn.k_norm"), rotary)
        if a.value_norm:
            v = self.rms_norm(v, None, "self_attn.v_norm")
        if a.query_scale != 1.0:
            # Scaling the query instead of the scores: exact when the scale is a power of two (1/16 here).
            q = g.op("Mul", q, g.constant(a.query_scale))
        q = g.op("Transpose", q, perm=[0, 2, 3, 1, 4])  # [B, kv, group, L, D]
        k = g.op("Transpose", k, perm=[0, 2, 3, 4, 1])  # [B, kv, 1, D, L]
        v = g.op("Transpose", v, perm=[0, 2, 3, 1, 4])  # [B, kv, 1, L, D]
        scores = g.op("Add", g.op("MatMul", q, k), bias)
        context = g.op("MatMul", g.op("Softmax", scores, axis=-1), v)  # [B, kv, group, L, D]
        context = g.op("Transpose", context, perm=[0, 3, 1, 2, 4])  # [B, L, kv, group, D]
        context = g.op("Reshape", context, g.constant([0, 0, a.heads * shape.head_dim], np.int64))
        return self.linear(context, layer, "self_attn.o_proj")

    def mlp(self, x: str, layer: LayerTensors) -> str:
        gate = self.gelu(self.linear(x, layer, "mlp.gate_proj"))
        up = self.linear(x, layer, "mlp.up_proj")
        return self.linear(self.g.op("Mul", gate, up), layer, "mlp.down_proj")

    def decoder_layer(
        self,
        x: str,
        layer: LayerTensors,
        shape: LayerShape,
        rotary: tuple[str, str],
        bias: str,
        per_layer_input: str | None = None,
    ) -> str:
        attended = self.attention(self.rms_norm(x, layer, "input_layernorm"), layer, shape, rotary, bias)
        x = self.g.op("Add", x, self.rms_norm(attended, layer, "post_attention_layernorm"))
        fed = self.mlp(self.rms_norm(x, layer, "pre_feedforward_layernorm"), layer)
        x = self.g.op("Add", x, self.rms_norm(fed, layer, "post_feedforward_layernorm"))
        if per_layer_input is not None:  # EmbeddingGemma 2's third residual block
            gated = self.g.op(
                "Mul", self.gelu(self.linear(x, layer, "ple_block.per_layer_input_gate")), per_layer_input
            )
            mixed = self.linear(gated, layer, "ple_block.per_layer_projection")
            x = self.g.op("Add", x, self.rms_norm(mixed, layer, "ple_block.post_per_layer_input_norm"))
        if self.arch.layer_scalar:
            x = self.g.op("Mul", x, self.g.weight(f"{layer.name}.layer_scalar", layer("layer_scalar")))
        return x

    def per_layer_inputs(self, embeds: str, model: LayerTensors) -> list[str]:
        """EmbeddingGemma 2's per-layer embeddings: the input embeddings projected to ``layers x width``,
        scaled by ``hidden ** -0.5``, split per layer and RMS-normalised; one ``[B, L, width]`` per layer."""
        g, a = self.g, self.arch
        projected = g.op(
            "Mul", self.linear(embeds, model, "ple.per_layer_model_projection"), g.constant(a.hidden**-0.5)
        )
        split = g.op("Reshape", projected, g.constant([0, 0, len(a.layers), a.per_layer_width], np.int64))
        normed = self.rms_norm(split, model, "ple.per_layer_projection_norm")
        return [g.op("Gather", normed, g.constant(i, np.int64), axis=2) for i in range(len(a.layers))]

    def attention_biases(self, mask: str, positions: str) -> dict[str, str]:
        """Additive biases by layer type, ``[B, 1, 1, 1|L, L]``: 0 where a key may be seen, else float32 min.

        Only keys are masked (padded queries still attend, as in transformers); the sliding window is
        symmetric and exclusive, ``abs(i - j) < window``.
        """
        g = self.g
        keys = g.op("Unsqueeze", g.op("Cast", mask, to=TensorProto.BOOL), g.constant([1, 2, 3], np.int64))
        rows = g.op("Unsqueeze", positions, g.constant([1], np.int64))
        columns = g.op("Unsqueeze", positions, g.constant([0], np.int64))
        near = g.op("Less", g.op("Abs", g.op("Sub", rows, columns)), g.constant(self.arch.window, np.int64))
        zero, blocked = g.constant(0.0), g.constant(_MASKED)
        return {
            "full_attention": g.op("Where", keys, zero, blocked),
            "sliding_attention": g.op("Where", g.op("And", keys, near), zero, blocked),
        }

    def mean_pool(self, hidden: str, mask: str) -> str:
        """sentence-transformers' mean pooling: masked sum over length / max(count, 1e-9)."""
        g = self.g
        weights = g.op("Unsqueeze", g.op("Cast", mask, to=TensorProto.FLOAT), g.constant([2], np.int64))
        axis = g.constant([1], np.int64)
        total = g.op("ReduceSum", g.op("Mul", hidden, weights), axis, keepdims=0)
        count = g.op("Max", g.op("ReduceSum", weights, axis, keepdims=0), g.constant(1e-9))
        return g.op("Div", total, count)


def build_graph(folder: Path, external: ExternalData) -> onnx.ModelProto:
    """The ONNX model of ``folder``, its weights written to ``external``."""
    from .._token_rows import SafetensorsFile

    arch = read_architecture(json.loads((folder / "config.json").read_text()))
    dense = read_dense_stack(folder)
    path = folder / "model.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing (sharded checkpoints are not supported)")
    # Read one tensor at a time (pread, never mapped): at most one weight is in memory at once.
    tensors = SafetensorsFile(path)
    prefix = tensors.text_model_prefix()
    graph = GraphWriter(external)
    gemma = GemmaGraph(graph, arch)
    g = graph

    length = g.op("Squeeze", g.op("Shape", INPUTS[1], start=1, end=2), g.constant([0], np.int64))
    positions = g.op("Range", g.constant(0, np.int64), length, g.constant(1, np.int64))
    rotary = gemma.rotary_tables(g.op("Cast", positions, to=TensorProto.FLOAT))
    biases = gemma.attention_biases(INPUTS[1], positions)

    hidden = INPUTS[0]
    model = LayerTensors(tensors, prefix, "model")
    per_layer: list[str | None] = [None] * len(arch.layers)
    if arch.per_layer_width:
        with g.scope("ple"):
            per_layer = list(gemma.per_layer_inputs(hidden, model))
    for index, shape in enumerate(arch.layers):
        name = f"layers.{index}"
        with g.scope(name):
            layer = LayerTensors(tensors, f"{prefix}{name}.", name)
            hidden = gemma.decoder_layer(hidden, layer, shape, rotary[shape.kind], biases[shape.kind], per_layer[index])
    width = arch.hidden
    with g.scope("head"):
        hidden = gemma.rms_norm(hidden, LayerTensors(tensors, prefix, "final"), "norm")
        pooled = gemma.mean_pool(hidden, INPUTS[1])
        if arch.projection:  # linear, so projecting the mean is projecting every token, then the mean
            pooled = gemma.linear(pooled, LayerTensors(tensors, prefix, "head"), "embedding_projection")
            width = arch.projection
    for dense_layer in dense:
        name = dense_layer.folder.name
        if dense_layer.in_features != width:
            raise ValueError(f"{name} takes {dense_layer.in_features} features, not {width}")
        with g.scope(name):
            layer = LayerTensors(SafetensorsFile(dense_layer.folder / "model.safetensors"), "", name)
            pooled = gemma.linear(pooled, layer, "linear")
            if dense_layer.bias:
                pooled = g.op("Add", pooled, g.weight(f"{name}.linear.bias", layer("linear.bias")))
        width = dense_layer.out_features
    g.nodes.append(helper.make_node("Identity", [pooled], [OUTPUT], name="output"))

    onnx_graph = helper.make_graph(
        g.nodes,
        "embeddinggemma",
        [
            helper.make_tensor_value_info(INPUTS[0], TensorProto.FLOAT, ["batch", "length", arch.hidden]),
            helper.make_tensor_value_info(INPUTS[1], TensorProto.INT64, ["batch", "length"]),
        ],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", width])],
        initializer=g.initializers,
    )
    model = helper.make_model(
        onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="embeddinggemma"
    )
    model.ir_version = IR_VERSION
    return model


def write_onnx_graph(folder: Path, target: Path, *, data_name: str | None = None) -> Path:
    """Write the float32 graph of the model in ``folder`` to ``target``, its weights beside it.

    The weights go to ``data_name`` (default ``<target name>.data``) in ``target``'s folder; pass the
    final name when ``target`` is a temporary file that will be renamed. Both files are written under
    temporary names and moved into place, the data first, so a reader never sees a half-written pair.
    """
    folder, target = Path(folder), Path(target)
    data_final = target.with_name(data_name) if data_name else data_path(target)
    save_with_data(target, data_final, lambda external: build_graph(folder, external))
    return target
