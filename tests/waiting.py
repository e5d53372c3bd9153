"""Waiting for a condition, with a deadline, instead of a sleep that guesses how long it takes."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any


async def eventually(
    condition: Callable[[], Any | Awaitable[Any]],
    timeout_s: float = 5.0,
    *,
    what: str = "",
    every_s: float = 0.01,
) -> Any:
    """Poll ``condition`` (a function or a coroutine function) until it returns something
    truthy, and return that; fail naming ``what`` and the last answer after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        last = condition()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(
                f"not true within {timeout_s} s: {what or condition}; last {last!r}"
            )
        await asyncio.sleep(every_s)
