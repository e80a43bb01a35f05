"""Write an EmbeddingGemma sentence-transformers folder as one GGUF file for llama.cpp.

Our own converter for this one architecture (llama.cpp's ``gemma-embedding``), built on the ``gguf``
library's writer, tensor-name map and block quantizers. It needs neither torch nor llama.cpp's
``convert_hf_to_gguf.py`` (which a llama-cpp-python wheel does not ship), and keeps the whole
sentence-transformers stack: mean pooling and both Dense projections run inside llama.cpp.

Two things differ from a plain tensor copy, both to reproduce the torch model exactly:
- Gemma3's RMSNorm multiplies by ``1 + weight``; GGUF stores ``1 + weight``.
- llama.cpp scales queries by ``head_dim ** -0.5`` while Gemma3 uses ``query_pre_attn_scalar ** -0.5``;
  where they differ the ratio is folded into the query norm (RoPE is linear, so this is exact).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import Path

import numpy as np

from .._errors import ModelLoadError
from .._families import family_of_config
from .._token_rows import SafetensorsTensor, safetensors_header

ARCH = "gemma-embedding"
# Output types a caller may ask for → (GGML type of 2-D weights, llama.cpp file type).
TYPES = {
    "f32": ("F32", "ALL_F32"),
    "f16": ("F16", "MOSTLY_F16"),
    "q8_0": ("Q8_0", "MOSTLY_Q8_0"),
    "q4_0": ("Q4_0", "MOSTLY_Q4_0"),
}
_NORM_SUFFIXES = ("norm.weight",)
KEEP_8_BIT = ("token_embd.*", "dense_*", "blk.*.attn_v.*", "blk.*.ffn_down.*")
"""Tensors a q4_0 file keeps in q8_0, as llama.cpp's mixed recipes do: with every matrix in 4 bits the mean
cosine to float32 fell to ~0.97; with these (+20% on the transformer) it is ~0.994. The token table is only
paged in row by row, so its width costs disk, not memory."""
_ROWS_PER_CHUNK = 16384  # quantize big matrices in slices to bound the converter's memory


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _dense_modules(folder: Path) -> list[tuple[str, Path, dict]]:
    """The Dense modules after pooling, in order, each as (gguf prefix, folder, config)."""
    modules = _read_json(folder / "modules.json")
    dense = [m for m in modules if m["type"].endswith("Dense")]
    if len(dense) != 2:
        raise ModelLoadError(
            f"{str(folder)!r} has {len(dense)} Dense modules; EmbeddingGemma has two (2_Dense, 3_Dense)."
        )
    found = []
    for prefix, module in zip(("dense_2", "dense_3"), dense, strict=True):
        path = folder / module["path"]
        config = _read_json(path / "config.json")
        activation = config.get("activation_function", "")
        if not activation.endswith("Identity") or config.get("bias"):
            raise ModelLoadError(
                f"{module['path']} uses activation {activation!r} / bias={config.get('bias')}; the GGUF runtime "
                "supports EmbeddingGemma's bias-free identity projections only."
            )
        found.append((prefix, path, config))
    return found


def _pooling_is_mean(folder: Path) -> bool:
    for module in _read_json(folder / "modules.json"):
        if module["type"].endswith("Pooling"):
            config = _read_json(folder / module["path"] / "config.json")
            return bool(config.get("pooling_mode_mean_tokens")) or config.get("pooling_mode") == "mean"
    return False


def _rope_bases(config: dict) -> tuple[float, float]:
    """(global, local) RoPE bases from either the classic keys or transformers' ``rope_parameters``."""
    params = config.get("rope_parameters") or {}
    full = params.get("full_attention", params).get("rope_theta") if params else None
    local = params.get("sliding_attention", {}).get("rope_theta") if params else None
    return float(full or config.get("rope_theta", 1_000_000.0)), float(
        local or config.get("rope_local_base_freq", 10_000.0)
    )


def _write_metadata(writer, folder: Path, config: dict, file_type: str) -> None:
    import gguf

    layers = int(config["num_hidden_layers"])
    head_dim = int(config["head_dim"])
    writer.add_name(folder.resolve().name)
    writer.add_file_type(int(gguf.LlamaFileType[file_type]))
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_context_length(int(config["max_position_embeddings"]))
    writer.add_embedding_length(int(config["hidden_size"]))
    writer.add_block_count(layers)
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_head_count(int(config["num_attention_heads"]))
    writer.add_head_count_kv(int(config.get("num_key_value_heads", config["num_attention_heads"])))
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-6)))
    full_base, local_base = _rope_bases(config)
    writer.add_rope_freq_base(full_base)
    writer.add_rope_freq_base_swa(local_base)
    # The raw config value: transformers rewrites sliding_window for bidirectional attention in memory.
    writer.add_sliding_window(int(config["sliding_window"]))
    layer_types = config.get("layer_types") or [
        "full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(layers)
    ]
    writer.add_sliding_window_pattern([kind == "sliding_attention" for kind in layer_types])
    writer.add_pooling_type(gguf.PoolingType.MEAN)
    for prefix, _, dense in _dense_modules(folder):
        writer.add_dense_features_dims(prefix, int(dense["in_features"]), int(dense["out_features"]))


def _write_vocab(writer, folder: Path, vocab_size: int) -> None:
    """The tokenizer: Gemma's SentencePiece model when present, else the folder's byte-level BPE."""
    import gguf

    if (folder / "tokenizer.model").is_file():
        tokens, scores, types = _sentencepiece_vocab(folder, vocab_size)
        writer.add_tokenizer_model("llama")
        writer.add_tokenizer_pre("default")
        writer.add_token_list(tokens)
        writer.add_token_scores(scores)
        writer.add_token_types(types)
        writer.add_add_space_prefix(False)
        special = gguf.SpecialVocab(folder, load_merges=False, n_vocab=len(tokens))
    else:
        tokens, types = _bpe_vocab(folder)
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre("gpt-2")
        writer.add_token_list(tokens)
        writer.add_token_types(types)
        special = gguf.SpecialVocab(folder, load_merges=True, n_vocab=len(tokens))
    special.chat_template = None
    # EmbeddingGemma's tokenizer wraps every text as <bos> … <eos>.
    special.add_special_token.setdefault("bos", True)
    special.add_special_token.setdefault("eos", True)
    special.add_to_gguf(writer, quiet=True)


def _sentencepiece_vocab(folder: Path, vocab_size: int) -> tuple[list[bytes], list[float], list[int]]:
    import gguf
    from sentencepiece import SentencePieceProcessor

    processor = SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
    kinds = gguf.TokenType
    tokens = [f"[PAD{i}]".encode() for i in range(vocab_size)]
    scores = [-10000.0] * vocab_size
    types = [int(kinds.UNUSED)] * vocab_size
    for i in range(min(processor.vocab_size(), vocab_size)):
        tokens[i] = processor.IdToPiece(i).encode("utf-8")
        scores[i] = processor.GetScore(i)
        if processor.IsUnknown(i):
            types[i] = int(kinds.UNKNOWN)
        elif processor.IsControl(i):
            types[i] = int(kinds.CONTROL)
        elif processor.IsUnused(i):
            types[i] = int(kinds.UNUSED)
        elif processor.IsByte(i):
            types[i] = int(kinds.BYTE)
        else:
            types[i] = int(kinds.NORMAL)
    # Added tokens (<start_of_turn>, <mask>, …) as the HF tokenizer declares them.
    config_path = folder / "tokenizer_config.json"
    decoder = _read_json(config_path).get("added_tokens_decoder", {}) if config_path.is_file() else {}
    for key, data in decoder.items():
        i = int(key)
        if i >= vocab_size:
            continue
        text = data["content"]
        if data.get("special"):
            types[i] = int(kinds.CONTROL)
        else:
            text = text.replace("\u2581", " ")
            types[i] = int(kinds.USER_DEFINED)
        tokens[i] = text.encode("utf-8")
        scores[i] = -1000.0
    return tokens, scores, types


def _bpe_vocab(folder: Path) -> tuple[list[str], list[int]]:
    import gguf

    data = _read_json(folder / "tokenizer.json")
    if data["model"]["type"] != "BPE":
        raise ModelLoadError(f"{str(folder)!r} has neither tokenizer.model nor a BPE tokenizer.json.")
    by_id = {i: t for t, i in data["model"]["vocab"].items()}
    specials = {}
    for added in data.get("added_tokens", []):
        by_id[added["id"]] = added["content"]
        specials[added["id"]] = added.get("special", False)
    size = max(by_id) + 1
    tokens = [by_id.get(i, f"[PAD{i}]") for i in range(size)]
    types = [
        int(gguf.TokenType.UNUSED)
        if i not in by_id
        else int(gguf.TokenType.CONTROL)
        if specials.get(i)
        else int(gguf.TokenType.USER_DEFINED)
        if i in specials
        else int(gguf.TokenType.NORMAL)
        for i in range(size)
    ]
    return tokens, types


def _source_tensors(folder: Path) -> Iterator[tuple[str, Path, str, tuple[dict, int]]]:
    """(HF name, file, name in the file, the file's header) for the transformer, then the Dense weights under
    their GGUF prefixes. Nothing is read yet: a tensor is read when it is converted."""
    main = folder / "model.safetensors"
    header = safetensors_header(main)
    for name in header[0]:
        if name != "__metadata__":
            yield name, main, name, header
    for prefix, path, _ in _dense_modules(folder):
        dense = path / "model.safetensors"
        yield f"{prefix}.weight", dense, "linear.weight", safetensors_header(dense)


def _tensor_kind(name: str, shape: tuple[int, ...], weight_kind: str) -> str:
    """GGML type of one tensor: norms stay f32; in q4_0 files some tensors keep 8 bits (see KEEP_8_BIT)."""
    if len(shape) != 2 or shape[1] % 32:
        return "F32"
    if weight_kind == "Q4_0" and any(fnmatch(name, pattern) for pattern in KEEP_8_BIT):
        return "Q8_0"
    return weight_kind


def _planned(shape: tuple[int, ...], kind: str) -> tuple[tuple[int, ...], np.dtype, object]:
    """The stored shape, numpy dtype and GGML type (None for float) of a tensor of ``shape`` in ``kind``."""
    import gguf

    if kind in ("F32", "F16"):
        return shape, np.dtype(np.float32 if kind == "F32" else np.float16), None
    qtype = gguf.GGMLQuantizationType[kind]
    return tuple(gguf.quants.quant_shape_to_byte_shape(shape, qtype)), np.dtype(np.uint8), qtype


def _converted(stored: SafetensorsTensor, hf_name: str, kind: str, query_scale: float) -> np.ndarray:
    """The tensor as the GGUF stores it: norms as ``1 + weight`` (the query norm with llama.cpp's scale
    folded in), 2-D weights quantized a slice of rows at a time."""
    import gguf

    qtype = gguf.GGMLQuantizationType[kind]
    parts = []
    for start in range(0, stored.shape[0], _ROWS_PER_CHUNK):
        array = stored.span(start, start + _ROWS_PER_CHUNK)
        if hf_name.endswith(_NORM_SUFFIXES):
            array = array + np.float32(1.0)
            if hf_name.endswith("q_norm.weight") and query_scale != 1.0:
                array = array * np.float32(query_scale)
        parts.append(gguf.quants.quantize(np.ascontiguousarray(array), qtype))
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def write_gguf(folder: Path, target: Path, quantization: str = "q8_0") -> Path:
    """Convert ``folder`` into a GGUF file at ``target``; 2-D weights in ``quantization``, norms in f32."""
    import gguf

    if quantization not in TYPES:
        raise ValueError(f"quantization={quantization!r} is unknown; use one of {', '.join(TYPES)}.")
    config = _read_json(folder / "config.json")
    family = family_of_config(config)
    if family is not None and "llama.cpp" in family.not_on:
        raise ModelLoadError(
            f"{str(folder)!r} is {family.title}, which llama.cpp does not run in this package (no GGUF for it): "
            "build the ONNX artifacts instead (`--quantization onnx-f32 int8 int4`)."
        )
    if config.get("model_type") not in ("gemma3_text", "gemma3") or not config.get("use_bidirectional_attention"):
        raise ModelLoadError(
            f"{str(folder)!r} is not EmbeddingGemma (model_type={config.get('model_type')!r}, "
            f"use_bidirectional_attention={config.get('use_bidirectional_attention')!r})."
        )
    if not _pooling_is_mean(folder):
        raise ModelLoadError(f"{str(folder)!r} does not use mean pooling; EmbeddingGemma does.")
    dense = _dense_modules(folder)
    hidden = int(config["hidden_size"])
    if int(dense[0][2]["in_features"]) != hidden or int(dense[-1][2]["out_features"]) != hidden:
        # llama.cpp's gemma-embedding graph asserts this (and would abort the process on load).
        raise ModelLoadError(
            f"{str(folder)!r}: the Dense layers map {dense[0][2]['in_features']} → {dense[-1][2]['out_features']} "
            f"features; llama.cpp runs them only when both ends equal the hidden size ({hidden})."
        )
    weight_kind, file_type = TYPES[quantization]
    layers = int(config["num_hidden_layers"])
    head_dim = int(config["head_dim"])
    query_scale = (float(config.get("query_pre_attn_scalar", head_dim)) / head_dim) ** -0.5
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.GEMMA_EMBEDDING, layers)

    writer = gguf.GGUFWriter(str(target), ARCH, use_temp_file=False)
    _write_metadata(writer, folder, config, file_type)
    _write_vocab(writer, folder, int(config["vocab_size"]))
    # Every tensor's shape and type first (the header lists them), then each converted and written alone:
    # the writer never holds the model, and the converter holds one tensor at a time.
    plan = []
    for hf_name, path, stored_name, header in _source_tensors(folder):
        name = hf_name if hf_name.startswith("dense_") else names.get_name(hf_name, try_suffixes=(".weight",))
        if name is None:
            raise ModelLoadError(f"tensor {hf_name!r} has no llama.cpp name; is this EmbeddingGemma?")
        source_shape = tuple(int(n) for n in header[0][stored_name]["shape"])
        kind = _tensor_kind(name, source_shape, weight_kind)
        shape, dtype, qtype = _planned(source_shape, kind)
        writer.add_tensor_info(
            name, shape, dtype, int(np.prod(shape, dtype=np.int64)) * dtype.itemsize, raw_dtype=qtype
        )
        plan.append((hf_name, path, stored_name, header, kind))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for hf_name, path, stored_name, header, kind in plan:  # one tensor read at a time (its file closed after)
        stored = SafetensorsTensor(path, stored_name, header)
        writer.write_tensor_data(_converted(stored, hf_name, kind, query_scale))
    writer.close()
    return target
