"""The request handlers running now, so a stop waits for them, and only for them.

aiohttp's own stop waits per *connection* (``shutdown_timeout``), and a connection can hold it
with no request at all: one accepted just before the listener closed, whose connection task had
not yet run when aiohttp closed the idle connections, drops its request's bytes and waits for a
request that never comes, until that timeout (aiohttp 3.14 on Python 3.11: ``close()`` finds no
waiter to cancel yet, and ``data_received`` ignores a closing connection; from Python 3.12 aiohttp
starts that task eagerly). With ``shutdown_timeout`` set to the grace, that one connection alone
made the stop outlast the grace. So the daemon waits here for the handlers it actually runs (as
uvicorn waits for its request tasks, not its connections), bounded by the stop's budget, and gives
aiohttp only a short wait for whatever connections remain.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from theset_daemon.log import get_logger

log = get_logger(__name__)

# A cancelled handler ends at its next await; one that swallowed its cancellation is left to
# aiohttp's own (short) wait rather than holding the stop.
CANCELLED_WAIT_S = 0.5


class RequestsInFlight:
    """Each running handler's task, entered by the request middleware and left when it returns."""

    def __init__(self) -> None:
        self._running: dict[asyncio.Task[Any], web.Request] = {}

    def enter(self, request: web.Request) -> asyncio.Task[Any] | None:
        task = asyncio.current_task()
        if task is not None:
            self._running[task] = request
        return task

    def leave(self, task: asyncio.Task[Any] | None) -> None:
        if task is not None:
            self._running.pop(task, None)

    async def drain(self, timeout_s: float) -> None:
        """Wait until no handler runs, at most ``timeout_s`` (handlers that start meanwhile, on
        connections accepted before the listener closed, are waited for too); then cancel the
        ones left and wait for them to end."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self._running and (left_s := deadline - loop.time()) > 0:
            # Awaiting the tasks, not the registry: a task ends after its response is written.
            await asyncio.wait(list(self._running), timeout=left_s)
        if not self._running:
            return
        left = dict(self._running)
        log.warning(
            "requests_cancelled_at_shutdown",
            count=len(left),
            requests=[f"{r.method} {r.path}" for r in left.values()][:20],
            timeout_s=round(timeout_s, 3),
        )
        for task in left:
            task.cancel()
        await asyncio.wait(list(left), timeout=CANCELLED_WAIT_S)
