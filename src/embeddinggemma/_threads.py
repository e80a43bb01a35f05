"""Settings shared by the on-device CPU runtimes (GGUF via llama.cpp, ONNX Runtime)."""

from __future__ import annotations

import os

THREADS_ENV = "EMBEDDINGGEMMA_THREADS"
"""Environment variable that sets the CPU threads of the on-device runtimes (default: every usable core)."""


def threads() -> int:
    """CPU threads for a local quantized runtime: ``$EMBEDDINGGEMMA_THREADS`` or every usable core."""
    value = os.environ.get(THREADS_ENV, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"{THREADS_ENV}={value!r} must be a positive integer (CPU threads for the runtime).")
        return int(value)
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return max(1, len(usable) if usable else os.cpu_count() or 1)
