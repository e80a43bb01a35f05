"""A child process that dies as a llama.cpp built for another CPU dies: by SIGILL, before it returns."""

from __future__ import annotations

import os
import signal


def die_of_an_illegal_instruction(*_args: str) -> None:
    os.kill(os.getpid(), signal.SIGILL)
