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


def wait_until(what: str, probe: Callable[[], Any], timeout_s: float, every_s: float = 0.1) -> Any:
    """Poll ``probe`` until it returns something truthy (connection trouble counts as not yet)
    and return that; fail naming ``what`` and the last answer after ``timeout_s``. For
    synchronous tests (processes driven over HTTP)."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except OSError as exc:  # the daemon restarting: ask again
            last = exc
        else:
            if last:
                return last
        time.sleep(every_s)
    raise AssertionError(f"{what}: not within {timeout_s} s; last: {last!r}")
