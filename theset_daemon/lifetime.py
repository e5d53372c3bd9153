"""``started``: a service running for the length of an ``async with`` block, closed after it.

The long-lived parts the composition root opens (the progress broker, the cache, the monitor)
have ``start()`` and ``close()``; their ``open_*`` is this, so each closes the same way whatever
ends the block.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Protocol, TypeVar


class Service(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...


S = TypeVar("S", bound=Service)


@contextlib.asynccontextmanager
async def started(service: S) -> AsyncIterator[S]:
    await service.start()
    try:
        yield service
    finally:
        await service.close()
