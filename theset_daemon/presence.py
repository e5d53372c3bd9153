"""This daemon among the others on the database: registered in ``daemon_instances`` at start,
beating every ``BEAT_INTERVAL_S``, stopped at exit, and how many daemons are live right now.

Two readers:
- the monitor: a start that finds no daemon live records the downtime since the last beat, so
  fires that fell in it are the daemon's fault, not a job's;
- the upstream limiter: without Redis each live daemon keeps to an equal share of a provider's
  rate, so the count must follow starts within seconds and deaths within ``LIVE_WITHIN_S``.

One statement a beat both beats and lists the others. The identity is the process's owner id
(``durable.new_owner_id``), the same one that holds its job leases, so a daemon on this host
whose process is gone (``kill -9``, then a restart) is not counted while its last beat is still
recent: the restarted daemon does not wait for it, nor split the rate with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import asyncpg

from theset_daemon.db import monitoring as store
from theset_daemon.db.pool import Database
from theset_daemon.durable import owner_is_dead
from theset_daemon.periodic import start_periodic

BEAT_INTERVAL_S = 1.0
#: A daemon whose last beat is older is not live (CONTRACT: "heartbeat within the last 15 s").
LIVE_WITHIN_S = 15.0


class Presence:
    def __init__(self, database: Database, instance: str) -> None:
        self._database = database
        self.instance = instance
        #: Live daemons, this one included, as of the last beat.
        self.live = 1
        #: ``time.monotonic()`` of this process's registration: others see it from then on.
        self.registered_at_s = 0.0
        self._beating: asyncio.Task[Any] | None = None

    async def start(self) -> None:
        async with self._database.pool.acquire() as conn:
            await store.register_instance(conn, self.instance, LIVE_WITHIN_S)
        self.registered_at_s = time.monotonic()
        await self.beat()
        self._beating = start_periodic(
            self.beat, BEAT_INTERVAL_S, name="presence-beat", failed_event="presence_beat_failed"
        )

    async def beat(self) -> None:
        others = await store.beat_and_list_others(self._database.pool, self.instance, LIVE_WITHIN_S)
        self.live = 1 + sum(1 for other in others if not owner_is_dead(other))

    async def close(self) -> None:
        if self._beating is not None:
            self._beating.cancel()
            await asyncio.gather(self._beating, return_exceptions=True)
        with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            await store.stop_instance(self._database.pool, self.instance)
