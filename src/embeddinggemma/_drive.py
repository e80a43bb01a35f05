"""Sans-I/O planning: every step that does no I/O is written once, as a generator that yields what to
send and receives what came back; only the two small drivers below differ between sync and async.

A plan yields a request, is sent back the result (or the :class:`ContextOverflow` the send raised, as a
value) and finally returns its answer. Other exceptions from a send propagate unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

from ._errors import ContextOverflow

Request = TypeVar("Request")
Answer = TypeVar("Answer")
Plan = Generator[Request, Any, Answer]


def drive(plan: Plan[Request, Answer], send: Callable[[Request], Any]) -> Answer:
    """Run ``plan`` to completion with a blocking ``send``."""
    request = next(plan)
    while True:
        try:
            outcome = send(request)
        except ContextOverflow as overflow:
            outcome = overflow
        try:
            request = plan.send(outcome)
        except StopIteration as done:
            return done.value


async def adrive(plan: Plan[Request, Answer], send: Callable[[Request], Awaitable[Any]]) -> Answer:
    """Run ``plan`` to completion with a coroutine ``send``."""
    request = next(plan)
    while True:
        try:
            outcome = await send(request)
        except ContextOverflow as overflow:
            outcome = overflow
        try:
            request = plan.send(outcome)
        except StopIteration as done:
            return done.value
