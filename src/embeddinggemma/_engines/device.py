"""Device and dtype policy. Imports torch only when called."""

from __future__ import annotations


def resolve_device(device: str) -> str:
    """``auto`` → cuda, then mps, then cpu; an explicit choice is checked for availability."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for but no CUDA GPU is visible; use 'cpu' or 'auto'.")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device='mps' was asked for but MPS is not available; use 'cpu' or 'auto'.")
    return device


def resolve_dtype(dtype: str, device: str) -> str:
    """``auto`` → bfloat16 on a CUDA GPU that supports it, else float32."""
    import torch

    if dtype != "auto":
        return dtype
    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return "bfloat16"
    return "float32"
