"""A run's progress, as the job reports it: coalesced writes of the row and its event.

A job calls :meth:`Reporter.progress` as often as it likes; :meth:`Reporter.flush_forever` (a task
of the run) writes the row and a ``cron_run_events`` event in one transaction at most every
``interval_s``, so the SSE log and the row never disagree. A checkpoint is durable on return.
:meth:`Reporter.finish` writes the end. Every write is conditioned on the run's holder
(``db.runs``): a run taken over writes nothing.

The reporter holds the run's quota stops (``jobs.quota_stops``): every summary it writes names
them (``quotaStopped``) and every checkpoint keeps them, so a resumed attempt knows them too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

import asyncpg
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_delay,
    wait_exponential,
)

from theset_daemon.db import runs
from theset_daemon.db.pool import DATABASE_UNREACHABLE, Database
from theset_daemon.jobs.context import MAX_REPORTED_ERRORS
from theset_daemon.jobs.quota_stops import QuotaStops
from theset_daemon.log import get_logger

log = get_logger(__name__)

# A run's end must land, or its row reads ``running`` for ever: while the database is unreachable
# (a restart, a failover) the end write is retried (tenacity), backing off to a try every few
# seconds. If it never lands, the row stays ``running`` under our name and the sweep takes it as
# an orphan.
END_WRITE_BACKOFF_MIN_S = 0.25
END_WRITE_BACKOFF_MAX_S = 2.0


class Reporter:
    """The runner's :class:`~theset_daemon.jobs.context.RunReporter` for one run."""

    def __init__(self, database: Database, holder_id: str, row: asyncpg.Record) -> None:
        self._database = database
        self._holder_id = holder_id
        self.run_id: UUID = row["id"]
        self.done: int = row["progress_done"]
        self.total: int = row["progress_total"]
        summary = runs.render(row)
        self.summary: dict[str, Any] = dict(summary["summary"])
        self.errors: list[dict[str, Any]] = list(summary["errors"])
        self.failed = 0
        self.checkpoint_value: dict[str, Any] = runs.checkpoint_of(row)
        #: The providers this run stopped calling (an interrupted attempt's, on resume).
        self.quota = QuotaStops.from_checkpoint(self.checkpoint_value)
        self._dirty = asyncio.Event()
        self._lock = asyncio.Lock()
        self._last_write_s = 0.0

    async def progress(
        self, done: int, total: int, summary: Mapping[str, Any] | None = None
    ) -> None:
        self.done, self.total = max(0, done), max(0, total)
        if summary is not None:
            self.summary = self.quota.summary(summary)
        self._dirty.set()  # the flusher writes it, at most every PROGRESS_INTERVAL_S

    async def checkpoint(self, checkpoint: Mapping[str, Any]) -> None:
        self.checkpoint_value = self.quota.checkpoint(checkpoint)
        self.summary = self.quota.summary(self.summary)
        # Durable on return (the job relies on it), but no event: jobs checkpoint per item, and
        # the events stay coalesced by the flusher.
        async with self._lock, self._database.pool.acquire() as conn:
            await runs.write_progress(
                conn, self.run_id, self._holder_id, done=self.done, total=self.total,
                summary=self.summary, errors=self.errors, checkpoint=self.checkpoint_value,
                event=False,
            )  # fmt: skip

    def item_failed(self, artist_id: UUID | str | None, message: str) -> None:
        self.failed += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(
                {"artistId": str(artist_id) if artist_id is not None else None,
                 "message": message[:500]}
            )  # fmt: skip
            self._dirty.set()

    async def _write(self) -> None:
        async with self._lock:
            self._dirty.clear()
            self._last_write_s = time.monotonic()
            async with self._database.pool.acquire() as conn:
                await runs.write_progress(
                    conn, self.run_id, self._holder_id, done=self.done, total=self.total,
                    summary=self.summary, errors=self.errors,
                )  # fmt: skip

    async def flush_forever(self, interval_s: float) -> None:
        while True:
            await self._dirty.wait()
            wait_s = self._last_write_s + interval_s - time.monotonic()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            try:
                await self._write()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The run goes on; its end writes everything again. Back off so a database
                # outage is not a busy loop.
                log.exception("job_progress_write_failed", run_id=str(self.run_id))
                self._dirty.set()
                await asyncio.sleep(max(interval_s, 1.0))

    async def finish(
        self, job: str, *, retry_s: float, retry_while: Callable[[], bool], **end: Any
    ) -> dict[str, Any] | None:
        """``runs.finish`` (the run's end, its terminal event and the lease's release), retried
        for up to ``retry_s`` while the database is unreachable and ``retry_while()`` holds (at
        shutdown there is no time to wait: the next start sweeps the row up). The Run, or None
        when the run was taken from us or the write never landed."""

        def retrying(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "job_end_write_retrying", job=job, run_id=str(self.run_id),
                error=f"{type(exc).__name__}: {exc}",
                retry_in_s=state.next_action.sleep if state.next_action else None,
            )  # fmt: skip

        attempts = AsyncRetrying(
            retry=retry_if_exception(
                lambda e: isinstance(e, DATABASE_UNREACHABLE) and retry_while()
            ),
            stop=stop_after_delay(retry_s),
            wait=wait_exponential(multiplier=END_WRITE_BACKOFF_MIN_S, max=END_WRITE_BACKOFF_MAX_S),
            before_sleep=retrying,
            reraise=True,
        )
        try:
            async for attempt in attempts:
                with attempt:
                    async with self._database.pool.acquire() as conn:
                        return await runs.finish(conn, self.run_id, self._holder_id, job, **end)
        except Exception:
            log.exception("job_end_write_failed", job=job, run_id=str(self.run_id))
        return None
