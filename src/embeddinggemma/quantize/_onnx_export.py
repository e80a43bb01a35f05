"""Export EmbeddingGemma to ONNX (transformer + mean pooling + both Dense layers), then quantize to int8.

The graph takes *scaled token embeddings* and the attention mask, not token ids: the 262,144-row token
table stays out of ONNX Runtime's memory and is read row by row from a memory-mapped int8 file beside
the model (``<artifact>.table.npy`` + ``<artifact>.scales.npy``), as the GGUF runtime does.

Masks are built here from the 2-D attention mask, as explicit tensors (full and sliding-window,
bidirectional) and handed to the transformer: nothing about padding is traced from the example input,
so results do not depend on batch composition or padding (the tests check this).
Needs torch and transformers at build time only; running the artifact needs onnxruntime and numpy.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ._cache import atomic_target

OPSET = 18


def table_paths(artifact: Path) -> tuple[Path, Path]:
    """The int8 token table and its per-row scales, beside the ONNX file."""
    return artifact.with_name(artifact.stem + ".table.npy"), artifact.with_name(artifact.stem + ".scales.npy")


def write_token_table(weights: np.ndarray, artifact: Path) -> None:
    """Per-row symmetric int8 quantization of the token table (one float32 scale per token)."""
    table_path, scales_path = table_paths(artifact)
    scales = np.abs(weights).max(axis=1) / 127.0
    scales[scales == 0] = 1.0
    temporary = atomic_target(table_path)
    table = np.lib.format.open_memmap(temporary, mode="w+", dtype=np.int8, shape=weights.shape)
    for start in range(0, weights.shape[0], 16384):
        block = weights[start : start + 16384]
        table[start : start + 16384] = np.clip(np.rint(block / scales[start : start + 16384, None]), -127, 127)
    table.flush()
    del table
    np.save(scales_path, scales.astype(np.float32))
    os.replace(temporary, table_path)


def _module(folder: Path):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(folder)
    transformer = AutoModel.from_pretrained(
        folder, config=config, attn_implementation="eager", dtype=torch.float32, trust_remote_code=False
    ).eval()
    modules = json.loads((folder / "modules.json").read_text())
    dense = []
    for module in (m for m in modules if m["type"].endswith("Dense")):
        weight = load_file(str(folder / module["path"] / "model.safetensors"))["linear.weight"].float()
        layer = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False)
        layer.weight.data.copy_(weight)
        dense.append(layer)
    window = int(config.sliding_window)  # transformers' in-memory (exclusive) bidirectional window

    class EmbeddingGemmaGraph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer
            self.dense = torch.nn.Sequential(*dense)

        def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            length = inputs_embeds.shape[1]
            keys = attention_mask[:, None, None, :].bool()
            positions = torch.arange(length, device=inputs_embeds.device)
            near = (positions[:, None] - positions[None, :]).abs() < window
            blocked = torch.finfo(inputs_embeds.dtype).min
            full = torch.where(keys, 0.0, blocked).to(inputs_embeds.dtype)
            sliding = torch.where(keys & near[None, None], 0.0, blocked).to(inputs_embeds.dtype)
            hidden = self.transformer(
                inputs_embeds=inputs_embeds,
                attention_mask={"full_attention": full, "sliding_attention": sliding},
                position_ids=positions[None, :],
            ).last_hidden_state
            weights = attention_mask.to(hidden.dtype)[:, :, None]
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return self.dense(pooled)

    return EmbeddingGemmaGraph().eval(), transformer.get_input_embeddings().weight.detach().numpy(), config


def quantize_graph(float_path: Path, target: Path, intermediate: int, hidden: int) -> Path:
    """Dynamic int8 weights for every projection except the MLP's down projections.

    ONNX Runtime's dynamic quantization scales a MatMul's activations per tensor. The down projection's
    input (GELU(gate) * up) has outliers that one scale cannot hold: with it quantized the mean cosine to
    float32 was ~0.97 (0.93 on long texts), with it left in float32 ~0.995, for 60 MiB more weights.
    Per-channel weight scales did not help (0.88-0.98), so weights use one scale per tensor.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(float_path), load_external_data=False).graph
    shapes = {init.name: tuple(init.dims) for init in graph.initializer}
    down = [
        node.name
        for node in graph.node
        if node.op_type == "MatMul" and shapes.get(node.input[1]) == (intermediate, hidden)
    ]
    quantize_dynamic(
        float_path,
        target,
        weight_type=QuantType.QInt8,
        per_channel=False,
        op_types_to_quantize=["MatMul"],
        nodes_to_exclude=down,
    )
    return target


def export_onnx(folder: Path, target: Path, quantization: str = "int8", *, artifact: Path | None = None) -> Path:
    """Write the ONNX graph to ``target`` (int8 weights when ``quantization="int8"``), and the token table
    beside ``artifact`` (the graph's final path, when ``target`` is a temporary file)."""
    import torch

    graph, table, config = _module(folder)
    hidden = int(config.hidden_size)
    float_path = target.with_name(target.name + ".f32.onnx")
    embeds = torch.randn(2, 7, hidden)
    mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3], dtype=torch.int64)
    batch, length = torch.export.Dim("batch", min=1, max=4096), torch.export.Dim("length", min=1, max=2048)
    with torch.no_grad():
        program = torch.onnx.export(
            graph,
            (embeds, mask),
            input_names=["inputs_embeds", "attention_mask"],
            output_names=["embeddings"],
            dynamic_shapes={"inputs_embeds": {0: batch, 1: length}, "attention_mask": {0: batch, 1: length}},
            opset_version=OPSET,
            dynamo=True,
            external_data=False,
            optimize=True,
        )
    program.save(str(float_path), external_data=False)
    try:
        if quantization == "int8":
            quantize_graph(float_path, target, int(config.intermediate_size), hidden)
        else:
            float_path.replace(target)
    finally:
        float_path.unlink(missing_ok=True)
    write_token_table(table, artifact or target)
    return target
