"""What every server backend shares: request batching, retries with backoff, bounded async fan-out,
and the checks on the vectors a server sends back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from tqdm.auto import tqdm

from ..errors import ServerError, ServerUnavailableError
from .base import ContextOverflow

T = TypeVar("T")

EMBEDDINGGEMMA_WIDTH = 768


class Retryable(Exception):
    """Raised by a backend's request function for failures worth another try (429, 5xx, resets)."""

    def __init__(self, error: ServerError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` more attempts after a retryable failure, waiting ``base_delay * 2**n`` seconds."""

    max_retries: int
    base_delay: float = 0.25

    def run(self, request: Callable[[], T]) -> T:
        for attempt in range(self.max_retries + 1):
            try:
                return request()
            except Retryable as failure:
                if attempt == self.max_retries:
                    raise failure.error from failure.__cause__
                time.sleep(self.base_delay * 2**attempt)
        raise AssertionError("unreachable")

    async def arun(self, request: Callable[[], Awaitable[T]]) -> T:
        for attempt in range(self.max_retries + 1):
            try:
                return await request()
            except Retryable as failure:
                if attempt == self.max_retries:
                    raise failure.error from failure.__cause__
                await asyncio.sleep(self.base_delay * 2**attempt)
        raise AssertionError("unreachable")


def transport_failure(exc: Exception, *, where: str, start_hint: str, timeout: float) -> Exception:
    """The package's error for a failure below HTTP (httpx or the builtin ConnectionError); others pass."""
    import httpx

    if isinstance(exc, ConnectionError | httpx.ConnectError):
        return ServerUnavailableError(f"could not connect to {where}. {start_hint}, or set base_url= to its address.")
    if isinstance(exc, httpx.TimeoutException):
        return ServerError(
            f"{where} did not answer within timeout={timeout}s (a model may still be loading, or the batch is "
            "large). Raise timeout= or lower batch_size=."
        )
    if isinstance(exc, httpx.TransportError):  # reset or dropped mid-request: worth another try
        return Retryable(ServerError(f"the connection to {where} failed: {exc!r}"))
    return exc


def batches(count: int, size: int) -> Iterator[range]:
    """Index ranges of at most ``size`` items covering ``range(count)`` in order."""
    for start in range(0, count, size):
        yield range(start, min(start + size, count))


def encode_in_batches(
    count: int, size: int, embed_batch: Callable[[range], np.ndarray], *, show_progress: bool
) -> np.ndarray:
    """Run ``embed_batch`` over consecutive index ranges and stack the results in input order."""
    parts = [embed_batch(span) for span in tqdm(list(batches(count, size)), disable=not show_progress, unit="batch")]
    return np.concatenate(parts) if parts else np.zeros((0, EMBEDDINGGEMMA_WIDTH), np.float32)


async def aencode_in_batches(
    count: int, size: int, embed_batch: Callable[[range], Awaitable[np.ndarray]], *, concurrency: int
) -> np.ndarray:
    """Like :func:`encode_in_batches` with at most ``concurrency`` batches in flight; order is kept."""
    gate = asyncio.Semaphore(concurrency)

    async def bounded(span: range) -> np.ndarray:
        async with gate:
            return await embed_batch(span)

    parts = await asyncio.gather(*(bounded(span) for span in batches(count, size)))
    return np.concatenate(parts) if parts else np.zeros((0, EMBEDDINGGEMMA_WIDTH), np.float32)


def encode_splitting(span: range, attempt: Callable[[range], np.ndarray]) -> np.ndarray:
    """``attempt(span)``; a request the server refuses as too large is split in halves until each refused
    input stands alone, so no text is dropped and :class:`ContextOverflow` names exactly the inputs at fault."""
    parts: list[np.ndarray] = []
    refused: list[ContextOverflow] = []

    def visit(part: range) -> None:
        try:
            parts.append(attempt(part))
        except ContextOverflow as overflow:
            if len(part) == 1:
                refused.append(overflow)
                return
            middle = part.start + len(part) // 2
            visit(range(part.start, middle))
            visit(range(middle, part.stop))

    visit(span)
    if refused:
        raise ContextOverflow([i for overflow in refused for i in overflow.indices], refused[0].detail)
    return np.concatenate(parts)


async def aencode_splitting(span: range, attempt: Callable[[range], Awaitable[np.ndarray]]) -> np.ndarray:
    """Coroutine twin of :func:`encode_splitting`."""
    parts: list[np.ndarray] = []
    refused: list[ContextOverflow] = []

    async def visit(part: range) -> None:
        try:
            parts.append(await attempt(part))
        except ContextOverflow as overflow:
            if len(part) == 1:
                refused.append(overflow)
                return
            middle = part.start + len(part) // 2
            await visit(range(part.start, middle))
            await visit(range(middle, part.stop))

    await visit(span)
    if refused:
        raise ContextOverflow([i for overflow in refused for i in overflow.indices], refused[0].detail)
    return np.concatenate(parts)


def vectors_from_rows(rows: Sequence[Sequence[float]], *, expected: int, server: str) -> np.ndarray:
    """The server's vectors as float32 ``(expected, 768)``, or a ServerError saying what is wrong.

    Count and width are checked here because a misaligned answer cannot be repaired later; NaN and
    zero vectors are caught by the core's output checks.
    """
    if len(rows) != expected:
        raise ServerError(
            f"{server} returned {len(rows)} vectors for {expected} inputs; refusing to guess which belongs to which."
        )
    widths = {len(row) for row in rows}
    if widths != {EMBEDDINGGEMMA_WIDTH}:
        raise ServerError(
            f"{server} returned vectors of width {sorted(widths)}; EmbeddingGemma gives {EMBEDDINGGEMMA_WIDTH}. "
            "Check that the server runs EmbeddingGemma and is not asked for fewer dimensions "
            "(ask this package for `dimensions=` instead: it re-normalises)."
        )
    try:
        return np.asarray(rows, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ServerError(f"{server} returned vectors that are not lists of numbers: {exc}") from exc
