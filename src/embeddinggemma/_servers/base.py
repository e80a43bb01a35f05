"""What every server runtime shares, written once: batching, split-on-refusal, the retry policy, the
bound on requests in flight, progress, and the checks on the vectors a server sends back.

A server runtime subclasses :class:`ServerRuntimeBase` and writes only its wire format and its two
sends (``_send`` and ``_asend``), the way httpx's sync and async clients differ only in the I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_exponential_jitter
from tqdm.auto import tqdm

from .._drive import adrive, drive
from .._errors import ContextOverflow, ServerError, ServerUnavailableError
from .._settings import FULL_DIMENSIONS

if TYPE_CHECKING:
    from .._settings import EmbeddingSettings


class Retryable(Exception):
    """A failure worth another try (429, 5xx, a dropped connection), wrapping the error to raise at the end.

    ``retry_after`` is the server's ``Retry-After`` in seconds, when it sent one.
    """

    def __init__(self, error: ServerError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


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


def not_json(where: str, body: str, *, status: int | str = "2xx", content_type: str | None = None) -> ServerError:
    """The error for an answer that is not JSON: a proxy's login page, or another service on that port."""
    kind = content_type or "no content type"
    return ServerError(
        f"{where} answered {status} ({kind}) with a body that is not JSON: {body[:160]!r}. Check that base_url "
        "points at the embedding server itself, not at a proxy's login page or another service on that port."
    )


def batches(count: int, size: int) -> Iterator[range]:
    """Index ranges of at most ``size`` items covering ``range(count)`` in order."""
    for start in range(0, count, size):
        yield range(start, min(start + size, count))


def split_on_refusal(span: range) -> Generator[range, Any, np.ndarray]:
    """Plan for one batch: send ``span``; a request refused as too large is split in halves until each
    refused input stands alone, so no text is dropped and :class:`ContextOverflow` names exactly the
    inputs at fault."""
    pending, parts, refused = [span], [], []
    while pending:
        part = pending.pop(0)
        outcome = yield part
        if not isinstance(outcome, ContextOverflow):
            parts.append(outcome)
        elif len(part) == 1:
            refused.append(outcome)
        else:
            middle = part.start + len(part) // 2
            pending[:0] = [range(part.start, middle), range(middle, part.stop)]
    if refused:
        raise ContextOverflow([i for overflow in refused for i in overflow.indices], refused[0].detail)
    return np.concatenate(parts)


def vectors_from_rows(rows: Sequence[Sequence[float]], *, expected: int, server: str) -> np.ndarray:
    """The server's vectors as float32 ``(expected, 768)``, or a ServerError saying what is wrong.

    Count and width are checked here because a misaligned answer cannot be repaired later; NaN and
    zero vectors are caught by the pipeline's output checks.
    """
    if len(rows) != expected:
        raise ServerError(
            f"{server} returned {len(rows)} vectors for {expected} inputs; refusing to guess which belongs to which."
        )
    widths = {len(row) for row in rows}
    if widths != {FULL_DIMENSIONS}:
        raise ServerError(
            f"{server} returned vectors of width {sorted(widths)}; EmbeddingGemma gives {FULL_DIMENSIONS}. "
            "Check that the server runs EmbeddingGemma and is not asked for fewer dimensions "
            "(ask this package for `dimensions=` instead: it re-normalises)."
        )
    try:
        return np.asarray(rows, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ServerError(f"{server} returned vectors that are not lists of numbers: {exc}") from exc


class ServerRuntimeBase:
    """Every step of a server runtime that does no I/O. Subclasses provide the clients and the sends."""

    full_dimensions = FULL_DIMENSIONS
    max_inputs_per_request: int | None = None

    def __init__(self, settings: EmbeddingSettings) -> None:
        self.batch_size = min(settings.batch_size, self.max_inputs_per_request or settings.batch_size)
        self.show_progress = settings.show_progress
        self.timeout = settings.timeout
        self.max_concurrency = settings.max_concurrency
        headers = dict(settings.client_kwargs.get("headers") or {})
        if settings.api_key is not None:
            headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
        self._client_options: dict[str, Any] = {
            "timeout": settings.timeout,
            **settings.client_kwargs,
            "headers": headers,
        }
        """Keyword arguments for both clients: ``client_kwargs`` with the timeout and the bearer token."""
        self._retry_policy: dict[str, Any] = {
            "retry": retry_if_exception_type(Retryable),
            "stop": stop_after_attempt(settings.max_retries + 1),
            "wait": self._wait,
            "reraise": True,
        }
        # One bound per object and event loop: every async call on this object shares it.
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    # -- subclasses ------------------------------------------------------------------------------
    _client: Any
    """The blocking client, made once per runtime by :meth:`_own_client`."""

    def _own_client(self, client: Any) -> None:
        """Keep ``client`` as the blocking client, closed (its sockets released) with this runtime."""
        self._client = client
        weakref.finalize(self, client.close)

    def _send(self, client: Any, texts: Sequence[str], span: range, truncate: bool) -> np.ndarray:
        raise NotImplementedError

    async def _asend(self, client: Any, texts: Sequence[str], span: range, truncate: bool) -> np.ndarray:
        raise NotImplementedError

    def _async_client(self) -> contextlib.AbstractAsyncContextManager[Any]:
        raise NotImplementedError

    # -- the two drivers -------------------------------------------------------------------------
    def encode(self, texts: Sequence[str], *, truncate: bool) -> np.ndarray:
        def send(part: range) -> np.ndarray:
            with self._unwrapped():
                for attempt in Retrying(**self._retry_policy):
                    with attempt:
                        return self._send(self._client, texts, part, truncate)
            raise AssertionError("unreachable")

        with self._progress(len(texts)) as bar:
            parts = []
            for span in batches(len(texts), self.batch_size):
                parts.append(drive(split_on_refusal(span), send))
                bar.update(len(span))
        return np.concatenate(parts)

    async def aencode(self, texts: Sequence[str], *, truncate: bool) -> np.ndarray:
        gate = self._gate()
        async with self._async_client() as client:

            async def send(part: range) -> np.ndarray:
                with self._unwrapped():
                    async for attempt in AsyncRetrying(**self._retry_policy):
                        with attempt:
                            async with gate:
                                return await self._asend(client, texts, part, truncate)
                raise AssertionError("unreachable")

            with self._progress(len(texts)) as bar:

                async def one_batch(span: range) -> np.ndarray:
                    vectors = await adrive(split_on_refusal(span), send)
                    bar.update(len(span))
                    return vectors

                parts = await asyncio.gather(*(one_batch(span) for span in batches(len(texts), self.batch_size)))
        return np.concatenate(parts)

    # -- shared steps ----------------------------------------------------------------------------
    def _wait(self, state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        if isinstance(failure, Retryable) and failure.retry_after is not None:
            return min(failure.retry_after, self.timeout)
        return wait_exponential_jitter(initial=0.25, max=min(8.0, self.timeout), jitter=0.1)(state)

    @staticmethod
    @contextlib.contextmanager
    def _unwrapped() -> Iterator[None]:
        """After the last attempt, raise the error a :class:`Retryable` carried."""
        try:
            yield
        except Retryable as failure:
            raise failure.error from failure.__cause__

    def _gate(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            gate = self._gates[loop] = asyncio.Semaphore(self.max_concurrency)
        return gate

    def _progress(self, total: int) -> tqdm:
        return tqdm(total=total, disable=not self.show_progress, unit="text")


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds (the HTTP-date form is not used by embedding servers)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
