"""Runtimes that turn prompted texts into full-size vectors. One module each."""

from .base import Backend

__all__ = ["Backend"]
