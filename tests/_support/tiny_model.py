"""A tiny random-weight EmbeddingGemma, built at test time: the model card's module stack, scaled down.

Only torch, transformers and sentence-transformers build it; where one is missing, ``require_torch`` (which
every builder calls first) skips the test asking for it, with a reason, instead of erroring.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from pathlib import Path

import pytest

PROMPTS = {
    "query": "task: search result | query: ",
    "document": "title: none | text: ",
    "STS": "task: sentence similarity | query: ",
}
"""The prompts the tiny model is saved with (the model card's)."""

_CORPUS = [
    "task: search result | query: title: none | text: which planet is known as the red planet",
    "mars venus jupiter saturn earth planets solar system sun moon space rocket orbit",
    "the quick brown fox jumps over the lazy dog a an of to in is are was were be",
    "embedding vector search retrieval document query sentence similarity clustering classification",
    "code fact checking question answering none title text task result",
]


def require_torch() -> None:
    """Skip the calling test where a library that builds the tiny model is not installed."""
    for name in ("torch", "transformers", "sentence_transformers"):
        pytest.importorskip(name, reason=f"the tiny test model is built with {name} (pip install -e '.[torch]')")


def _tokenizer(folder: Path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<pad>", "<eos>", "<bos>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(_CORPUS * 4, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A <eos>", special_tokens=[("<bos>", 2), ("<eos>", 1)]
    )
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>"
    )
    fast.save_pretrained(folder)
    return fast


def build_tiny_model(folder: Path, hidden_size: int = 32, seed: int = 0) -> Path:
    """EmbeddingGemma's exact module stack, scaled down, with random weights and its prompts.

    ``hidden_size=768`` gives the shape llama.cpp's gemma-embedding graph needs (Dense back to hidden).
    """
    require_torch()
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import Gemma3TextConfig, Gemma3TextModel

    torch.manual_seed(seed)
    tokenizer = _tokenizer(folder)
    config = Gemma3TextConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,  # query_pre_attn_scalar stays 256: exercises the GGUF converter's query-scale fold
        max_position_embeddings=2048,
        sliding_window=16,
        layer_types=["sliding_attention", "full_attention"],
        use_bidirectional_attention=True,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
    )
    Gemma3TextModel(config).save_pretrained(folder, safe_serialization=True)
    transformer = models.Transformer(str(folder), max_seq_length=2048)
    pooling = models.Pooling(hidden_size, pooling_mode="mean", include_prompt=True)
    up = models.Dense(hidden_size, 128, bias=False, activation_function=torch.nn.Identity())
    down = models.Dense(128, 768, bias=False, activation_function=torch.nn.Identity())
    model = SentenceTransformer(
        modules=[transformer, pooling, up, down, models.Normalize()], prompts=PROMPTS, device="cpu"
    )
    model.save(str(folder))
    return folder


V2_LAYOUTS = {
    "sliding-sliding-full": ("sliding_attention", "sliding_attention", "full_attention"),
    "full-sliding-full": ("full_attention", "sliding_attention", "full_attention"),
    "sliding-full-sliding-full": ("sliding_attention", "full_attention", "sliding_attention", "full_attention"),
}
"""Layer patterns the EmbeddingGemma 2 tests cover (its last layer is always full attention)."""


def build_tiny_v2_model(
    folder: Path,
    *,
    layer_types: tuple[str, ...] = V2_LAYOUTS["sliding-sliding-full"],
    sliding_window: int = 4,
    composite: bool = False,
    hidden_size: int = 32,
    seed: int = 0,
) -> Path:
    """EmbeddingGemma 2's text stack from transformers' own classes, scaled down, random weights, in the
    sentence-transformers layout (Transformer -> mean Pooling -> Normalize, no Dense layers).

    Wider full-attention heads with fewer key/value heads, a symmetric window of ``sliding_window`` (far
    shorter than the test texts), per-layer embeddings and the 768-wide projection, as the real model has.
    ``composite=True`` saves the weights as the composite ``EmbeddingGemma2Model`` (text model under
    ``language_model.``, no vision or audio towers), as the hub's checkpoint nests them; the vectors are
    the same as the text layout's of the same ``seed``. ``hidden_size=256`` gives 4-bit blocks of 32 a
    realistic number of blocks per row (the quantized modes' tests).
    """
    require_torch()
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import EmbeddingGemma2Config, EmbeddingGemma2Model, EmbeddingGemma2TextConfig
    from transformers import EmbeddingGemma2TextModel as TextModel

    torch.manual_seed(seed)
    tokenizer = _tokenizer(folder)
    config = EmbeddingGemma2TextConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=len(layer_types),
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=hidden_size // 4,
        layer_types=list(layer_types),
        sliding_window=sliding_window,
        hidden_size_per_layer_input=hidden_size // 4,
        embedding_dim=768,
        global_head_dim=hidden_size // 2,
        num_global_key_value_heads=1,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
    )
    text_model = TextModel(config)
    with torch.no_grad():  # transformers initialises these to ones: make the tests see each one multiply
        for name, tensor in text_model.named_parameters():
            if "norm" in name:
                tensor.uniform_(0.5, 1.5)
        for layer in text_model.layers:
            layer.layer_scalar.uniform_(0.5, 1.5)
    text_model.save_pretrained(folder, safe_serialization=True)
    transformer = models.Transformer(str(folder), max_seq_length=8192)
    pooling = models.Pooling(768, pooling_mode="mean", include_prompt=True)
    model = SentenceTransformer(modules=[transformer, pooling, models.Normalize()], prompts=PROMPTS, device="cpu")
    model.save(str(folder))
    if composite:
        whole = EmbeddingGemma2Model(EmbeddingGemma2Config(text_config=config.to_dict()))
        whole.language_model.load_state_dict(text_model.state_dict())
        (folder / "model.safetensors").unlink()
        whole.save_pretrained(folder, safe_serialization=True)
    return folder


@functools.cache
def _built_v2(layout: str, composite: bool, hidden_size: int) -> str:
    folder = Path(tempfile.mkdtemp(prefix=f"tiny-embeddinggemma2-{layout}-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return str(
        build_tiny_v2_model(folder, layer_types=V2_LAYOUTS[layout], composite=composite, hidden_size=hidden_size)
    )


def tiny_v2_model_path(layout: str = "sliding-sliding-full", *, composite: bool = False, hidden_size: int = 32) -> str:
    """A tiny EmbeddingGemma 2 (768-d output), built once per test process per layout."""
    require_torch()
    return _built_v2(layout, composite, hidden_size)


@functools.cache
def _built(prefix: str, hidden_size: int) -> str:
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return str(build_tiny_model(folder, hidden_size=hidden_size))


def tiny_model_path() -> str:
    """The tiny model (768-d output, like the real model), built once per test process."""
    require_torch()
    return _built("tiny-embeddinggemma-", 32)


def tiny_768_model_path() -> str:
    """The tiny model at hidden size 768 (about 1M parameters): the shape llama.cpp's graph and 4-bit
    blocks need. Built once per test process."""
    require_torch()
    return _built("tiny-embeddinggemma-768-", 768)


def flip_bits(path: Path, every: int = 4096) -> None:
    """One flipped bit per ``every`` bytes, size and modification time unchanged (what a bad disk does)."""
    before = path.stat()
    data = bytearray(path.read_bytes())
    for offset in range(every // 2, len(data), every):
        data[offset] ^= 0x10
    path.write_bytes(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
