"""The job runner: everything the four jobs share, in one place.

A trigger (the scheduler, ``POST /api/cron/<job>``, ``theset-daemon trigger``) becomes a run in one
transaction: take the job's lease in ``job_leases``, write the ``cron_logs`` row, point the lease at
it, record the first event. The job function then runs as a task this runner owns, with a
:class:`JobContext`; its progress is coalesced to at most one write per
:data:`PROGRESS_INTERVAL_S` (row + ``cron_run_events`` event in one transaction, so the SSE log and
the row never disagree). Its end (status, summary, errors, the terminal event, the lease's
release) is again one transaction, then the run's ``cron_metrics`` and the monitor hooks.

Once per cluster. The lease is the guard: held while the run runs, renewed every
``renew_interval_s``, expiring ``lease_ttl_s`` after the last renewal, so a dead holder's lease
can be taken over. A holder that finds its lease gone (it stalled past the expiry and someone took
over) stops its job and writes nothing more: every write is conditioned on ``holder`` and
``status = 'running'``. Behind the lease, ``cron_logs_one_running_per_job`` and
``UNIQUE (job_name, scheduled_for)`` make a double run impossible even if a lease query were wrong:
a scheduled fire is keyed by its fire time, so two schedulers (or a restart) run it once.

Interruption and resume. On shutdown every run's ``stopping`` is set; a job returns what it has
at its next item boundary and the run is marked ``interrupted`` with its checkpoint. Whatever is
still running after the drain budget (:data:`SHUTDOWN_DRAIN_MAX_S`, at most half the shutdown
grace, counted from the moment shutdown begins, so a ``?wait=true`` request does not hold the
stop open) is cancelled and marked ``interrupted`` the same way. At start-up, and every
``sweep_interval_s``, the runner takes the lease of each idle job, turns runs left ``running`` by a
dead holder into ``interrupted`` and resumes the newest interrupted run from its checkpoint
(``attempts + 1``); older interrupted runs of the same job are superseded (failed), and a run that
has used :data:`MAX_ATTEMPTS` is failed, so nothing stays running or resumable forever. A holder
on this host whose process is gone is known dead at once (no wait for its lease to expire).

A new trigger that meets an interrupted run of its job supersedes it (the interrupted run is
failed, naming the new one): the new run does the same work with fresher parameters.

Metrics per run (``cron_metrics``): active duration, the process's peak RSS sampled every
:data:`MEMORY_SAMPLE_INTERVAL_S`, API calls per provider and 429s (the providers' ``sent`` and
``rate_limited`` counters, before and after), cache hits and misses (the cache's Prometheus
counters, before and after). The counters are process-wide: runs overlapping each other or busy
read traffic share them, which is the honest price of not threading a meter through every call.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import psutil
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_delay,
    wait_exponential,
)

from theset_daemon.cache import Cache
from theset_daemon.cache.keys import KINDS
from theset_daemon.config import SettingsHolder
from theset_daemon.db import runs
from theset_daemon.db.pool import DATABASE_UNREACHABLE, Database
from theset_daemon.jobs.context import (
    MAX_REPORTED_ERRORS,
    JobContext,
    JobName,
    JobParams,
    JobResult,
    Trigger,
)
from theset_daemon.jobs.registry import JOBS, JobSpec
from theset_daemon.log import get_logger
from theset_daemon.upstream.clients import Upstreams

log = get_logger(__name__)

LEASE_TTL_S = 60.0
RENEW_INTERVAL_S = 15.0  # four renewals per TTL: one slow query never loses the lease
SWEEP_INTERVAL_S = 30.0
MAX_ATTEMPTS = 3
PROGRESS_INTERVAL_S = 0.25
MEMORY_SAMPLE_INTERVAL_S = 0.5
# The jobs' drain on shutdown, as the importer's: at most this, at most half the grace (the
# importer drains after us, within the other half).
SHUTDOWN_DRAIN_MAX_S = 10.0
MONITOR_HOOK_TIMEOUT_S = 30.0
# ``wait`` on a run of another instance polls its row this often.
REMOTE_WAIT_POLL_S = 0.5
# A run's end must land, or its row reads ``running`` for ever: while the database is unreachable
# (a restart, a failover) the end write is retried (tenacity), at most this long (the lease's
# life: past it another instance may have taken the run over), backing off to a try every few
# seconds. If it never lands, the row stays ``running`` under our name and the sweep takes it as
# an orphan.
END_WRITE_RETRY_S = LEASE_TTL_S
END_WRITE_BACKOFF_MIN_S = 0.25
END_WRITE_BACKOFF_MAX_S = 2.0

Run = dict[str, Any]
"""A Run as the contract renders it (``db.runs.render``)."""

MonitorHook = Callable[[Run], Awaitable[None]]
"""Called with every run that ended (succeeded, partial or failed); the monitor fills these in."""


class AlreadyRunning(Exception):
    """The job is running (here or on another instance); ``run_id`` is that run."""

    def __init__(self, job: str, run_id: UUID | None) -> None:
        super().__init__(f"{job} is already running" + (f" (run {run_id})" if run_id else ""))
        self.job = job
        self.run_id = run_id


class FireTaken(Exception):
    """This scheduled fire (job, scheduled_for) already has a run: it never runs twice."""

    def __init__(self, job: str, scheduled_for: datetime) -> None:
        super().__init__(f"{job} fire at {scheduled_for.isoformat()} already ran")
        self.job = job
        self.scheduled_for = scheduled_for


class UnknownJob(LookupError):
    def __init__(self, job: str) -> None:
        super().__init__(f"no job named {job!r}")
        self.job = job


class ShuttingDown(Exception):
    """The runner takes no new runs while the daemon stops."""


def new_holder_id() -> str:
    """``host:pid:random``: the pid lets another process on this host tell the holder is dead."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def holder_is_dead(holder: str) -> bool:
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False  # another machine's process: only its lease's expiry can tell
    return int(pid_text) != os.getpid() and not psutil.pid_exists(int(pid_text))


def run_status(result: JobResult) -> str:
    """CONTRACT.md section 8: failed when every item failed, partial when some did."""
    if result.items_total > 0 and result.items_failed >= result.items_total:
        return "failed"
    return "partial" if result.items_failed > 0 else "succeeded"


# --- the reporter a job writes its progress through --------------------------------------------


class _Reporter:
    """The runner's :class:`~theset_daemon.jobs.context.RunReporter` for one run."""

    def __init__(self, runner: JobRunner, row: asyncpg.Record) -> None:
        self._runner = runner
        self.run_id: UUID = row["id"]
        self.done: int = row["progress_done"]
        self.total: int = row["progress_total"]
        summary = runs.render(row)
        self.summary: dict[str, Any] = dict(summary["summary"])
        self.errors: list[dict[str, Any]] = list(summary["errors"])
        self.failed = 0
        self.checkpoint_value: dict[str, Any] = runs.checkpoint_of(row)
        self._dirty = asyncio.Event()
        self._lock = asyncio.Lock()
        self._last_write_s = 0.0

    async def progress(
        self, done: int, total: int, summary: Mapping[str, Any] | None = None
    ) -> None:
        self.done, self.total = max(0, done), max(0, total)
        if summary is not None:
            self.summary = dict(summary)
        self._dirty.set()  # the flusher writes it, at most every PROGRESS_INTERVAL_S

    async def checkpoint(self, checkpoint: Mapping[str, Any]) -> None:
        self.checkpoint_value = dict(checkpoint)
        # Durable on return (the job relies on it), but no event: jobs checkpoint per item, and
        # the events stay coalesced by the flusher.
        async with self._lock, self._runner.database.pool.acquire() as conn:
            await runs.write_progress(
                conn, self.run_id, self._runner.holder_id, done=self.done, total=self.total,
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
            async with self._runner.database.pool.acquire() as conn:
                await runs.write_progress(
                    conn, self.run_id, self._runner.holder_id, done=self.done, total=self.total,
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


# --- per-run metrics ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Meter:
    upstreams: Upstreams
    cache: Cache
    started_s: float = field(default_factory=time.monotonic)
    peak_rss_bytes: int = 0
    sent: dict[str, int] = field(default_factory=dict)
    rate_limited: int = 0
    cache_hits: float = 0.0
    cache_misses: float = 0.0

    def __post_init__(self) -> None:
        self.sent = {name: p.sent for name, p in self.upstreams.providers.items()}
        self.rate_limited = sum(p.rate_limited for p in self.upstreams.providers.values())
        self.cache_hits, self.cache_misses = self._cache_counts()
        self.sample()

    def sample(self) -> None:
        with contextlib.suppress(psutil.Error):
            self.peak_rss_bytes = max(self.peak_rss_bytes, psutil.Process().memory_info().rss)

    async def sample_forever(self) -> None:
        while True:
            await asyncio.sleep(MEMORY_SAMPLE_INTERVAL_S)
            self.sample()

    def _cache_counts(self) -> tuple[float, float]:
        """(hits in either tier, reads that went to the loader) since the process started."""
        registry = self.cache.metrics.registry

        def value(name: str, kind: str, tier: str) -> float:
            return registry.get_sample_value(name, {"kind": kind, "tier": tier}) or 0.0

        hits = sum(value("theset_cache_hits_total", k, t) for k in KINDS for t in self.cache.tiers)
        memory_misses = sum(value("theset_cache_misses_total", k, "memory") for k in KINDS)
        redis_hits = sum(value("theset_cache_hits_total", k, "redis") for k in KINDS)
        return hits, memory_misses - redis_hits

    def figures(self) -> dict[str, Any]:
        self.sample()
        hits, misses = self._cache_counts()
        providers = self.upstreams.providers
        return {
            "duration_ms": int((time.monotonic() - self.started_s) * 1000),
            "peak_memory_bytes": self.peak_rss_bytes,
            "api_calls": {name: p.sent - self.sent.get(name, 0) for name, p in providers.items()},
            "rate_limited": sum(p.rate_limited for p in providers.values()) - self.rate_limited,
            "cache_hits": max(0, int(hits - self.cache_hits)),
            "cache_misses": max(0, int(misses - self.cache_misses)),
        }


# --- the runner --------------------------------------------------------------------------------


@dataclass(slots=True)
class _Active:
    run_id: UUID
    job: JobName
    stopping: asyncio.Event
    done: asyncio.Future[Run]
    task: asyncio.Task[None] | None = None
    lease_lost: bool = False


class JobRunner:
    """Use :func:`open_runner` (the daemon's cleanup context does); tests may build one directly
    with their own job table and call :meth:`start` / :meth:`close`."""

    def __init__(
        self,
        database: Database,
        upstreams: Upstreams,
        cache: Cache,
        holder: SettingsHolder,
        *,
        jobs: Mapping[JobName, JobSpec] = JOBS,
        holder_id: str | None = None,
        lease_ttl_s: float = LEASE_TTL_S,
        renew_interval_s: float = RENEW_INTERVAL_S,
        sweep_interval_s: float = SWEEP_INTERVAL_S,
        max_attempts: int = MAX_ATTEMPTS,
        progress_interval_s: float = PROGRESS_INTERVAL_S,
        end_write_retry_s: float = END_WRITE_RETRY_S,
    ) -> None:
        self.database = database
        self.upstreams = upstreams
        self.cache = cache
        self.settings = holder
        self.jobs = dict(jobs)
        self.holder_id = holder_id or new_holder_id()
        self.lease_ttl_s = lease_ttl_s
        self.renew_interval_s = renew_interval_s
        self.sweep_interval_s = sweep_interval_s
        self.max_attempts = max_attempts
        self.progress_interval_s = progress_interval_s
        self.end_write_retry_s = end_write_retry_s
        #: Async callbacks called with every ended Run; a failing one is logged and ignored.
        self.monitor_hooks: list[MonitorHook] = []
        self._active: dict[JobName, _Active] = {}
        self._by_id: dict[UUID, _Active] = {}
        self._upkeep: asyncio.Task[None] | None = None
        self._reaper: asyncio.Task[None] | None = None
        self._closing = False

    # --- public surface -------------------------------------------------------------------------

    def spec(self, job: str) -> JobSpec:
        try:
            return self.jobs[job]  # type: ignore[index]
        except KeyError:
            raise UnknownJob(job) from None

    def params(self, job: str, body: Mapping[str, Any] | None) -> JobParams:
        """The run's complete params: ``[jobs.<job>]`` defaults overlaid with ``body``.
        Raises :class:`UnknownJob` or pydantic's ``ValidationError``."""
        return self.spec(job).params(body, self.settings.current)

    @property
    def running(self) -> dict[JobName, UUID]:
        """The runs this instance is running now, by job."""
        return {job: active.run_id for job, active in self._active.items()}

    async def trigger(
        self,
        job: str,
        body: Mapping[str, Any] | None = None,
        *,
        trigger: Trigger = "http",
        scheduled_for: datetime | None = None,
    ) -> UUID:
        """Start a run and return its id at once (the job runs as a task of this runner).

        Raises :class:`UnknownJob`, ``ValidationError`` (bad body), :class:`AlreadyRunning`
        (here or elsewhere), :class:`FireTaken` (that scheduled fire already has a run) or
        :class:`ShuttingDown`.
        """
        spec = self.spec(job)
        params = spec.params(body, self.settings.current)
        if self._closing:
            raise ShuttingDown("the daemon is stopping")
        if spec.name in self._active:
            raise AlreadyRunning(spec.name, self._active[spec.name].run_id)
        await self._expire_dead_holders()
        stored = params.model_dump(mode="json", by_alias=True)
        superseded: list[Run] = []
        async with self.database.pool.acquire() as conn, conn.transaction():
            if not await runs.take_lease(conn, spec.name, self.holder_id, self.lease_ttl_s):
                raise AlreadyRunning(spec.name, await runs.current_run_id(conn, spec.name))
            await runs.interrupt_orphans(conn, spec.name, alive=list(self._by_id))
            stale = await runs.interrupted_runs(conn, spec.name)
            row = await runs.insert_run(
                conn, job=spec.name, trigger=trigger, scheduled_for=scheduled_for,
                params=stored, holder=self.holder_id,
            )  # fmt: skip
            if row is None:
                if scheduled_for is not None and await runs.fire_taken(
                    conn, spec.name, scheduled_for
                ):
                    raise FireTaken(spec.name, scheduled_for)
                raise AlreadyRunning(spec.name, await runs.current_run_id(conn, spec.name))
            for old in stale:
                ended = await runs.give_up(conn, old["id"], f"superseded by run {row['id']}")
                if ended is not None:
                    superseded.append(ended)
            await runs.point_lease(conn, spec.name, self.holder_id, row["id"])
            await runs.record_run_event(conn, row["id"], "progress")
        self._launch(spec, row, params)
        log.info(
            "job_started", job=spec.name, run_id=str(row["id"]), trigger=trigger,
            scheduled_for=scheduled_for.isoformat() if scheduled_for else None,
        )  # fmt: skip
        for ended in superseded:
            log.warning("job_superseded", job=spec.name, run_id=ended["runId"], by=str(row["id"]))
            await self._call_hooks(ended)
        return row["id"]  # type: ignore[no-any-return]

    async def wait(self, run_id: UUID) -> Run:
        """The Run once this attempt ends (ended, or interrupted by a shutdown). Cancelling the
        waiter never cancels the run."""
        active = self._by_id.get(run_id)
        if active is not None:
            return await asyncio.shield(active.done)
        while True:  # another instance's run: watch its row
            row = await runs.fetch(self.database.pool, run_id)
            if row is None:
                raise LookupError(f"no run {run_id}")
            if row["status"] != "running":
                return runs.render(row)
            await asyncio.sleep(REMOTE_WAIT_POLL_S)

    async def run(
        self, job: str, body: Mapping[str, Any] | None = None, *, trigger: Trigger = "http"
    ) -> Run:
        """Trigger and wait: the ended Run (tests of the jobs use this)."""
        return await self.wait(await self.trigger(job, body, trigger=trigger))

    async def start(self) -> None:
        """Resume what was interrupted or orphaned, then keep leases and sweeps going."""
        await self.resume_pending()
        self._upkeep = asyncio.create_task(self._upkeep_forever(), name="job-runner-upkeep")

    def begin_shutdown(self, drain_s: float | None = None) -> None:
        """Stop taking runs; ask every job to stop; cancel what is left after the drain budget."""
        if self._closing:
            return
        self._closing = True
        if drain_s is None:
            grace_s = self.settings.current.shutdown.grace_seconds
            drain_s = min(SHUTDOWN_DRAIN_MAX_S, grace_s / 2)
        for active in self._active.values():
            active.stopping.set()
        if self._active:
            log.info("jobs_stopping", jobs=list(self._active), drain_s=drain_s)
        self._reaper = asyncio.create_task(self._cancel_after(drain_s), name="job-runner-reaper")

    async def close(self) -> None:
        self.begin_shutdown()
        if self._upkeep is not None:
            self._upkeep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._upkeep
        tasks = [a.task for a in self._active.values() if a.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper

    # --- resume ---------------------------------------------------------------------------------

    async def resume_pending(self) -> list[UUID]:
        """Claim and resume each idle job's newest interrupted (or orphaned) run."""
        if self._closing:
            return []
        await self._expire_dead_holders()
        resumed: list[UUID] = []
        ended: list[Run] = []
        for job, spec in self.jobs.items():
            if job in self._active:
                continue
            row: asyncpg.Record | None = None
            async with self.database.pool.acquire() as conn, conn.transaction():
                if not await runs.take_lease(conn, job, self.holder_id, self.lease_ttl_s):
                    continue  # running elsewhere, and alive
                await runs.interrupt_orphans(conn, job, alive=list(self._by_id))
                candidates = await runs.interrupted_runs(conn, job)
                if candidates:
                    newest, older = candidates[0], candidates[1:]
                    for old in older:
                        why = f"superseded by the newer interrupted run {newest['id']}"
                        gone = await runs.give_up(conn, old["id"], why)
                        ended.extend([gone] if gone else [])
                    if newest["attempts"] >= self.max_attempts:
                        gone = await runs.give_up(
                            conn, newest["id"],
                            f"gave up after {newest['attempts']} interrupted attempts",
                        )  # fmt: skip
                        ended.extend([gone] if gone else [])
                    else:
                        row = await runs.claim(conn, newest["id"], self.holder_id)
                        await runs.point_lease(conn, job, self.holder_id, row["id"])
                        await runs.record_run_event(conn, row["id"], "progress")
                if row is None:
                    await runs.release_lease(conn, job, self.holder_id)
            if row is not None:
                params = spec.params_model.model_validate(runs.render(row)["params"])
                self._launch(spec, row, params)
                resumed.append(row["id"])
                log.info(
                    "job_resumed", job=job, run_id=str(row["id"]), attempt=row["attempts"],
                    checkpoint=runs.checkpoint_of(row),
                )  # fmt: skip
        for run in ended:
            log.warning("job_gave_up", job=run["job"], run_id=run["runId"], error=run["error"])
            await self._call_hooks(run)
        return resumed

    async def _expire_dead_holders(self) -> None:
        holders = await runs.lease_holders(self.database.pool)
        dead = [r["holder"] for r in holders if holder_is_dead(r["holder"])]
        if dead:
            await runs.expire_leases_of(self.database.pool, dead)

    # --- running one --------------------------------------------------------------------------

    def _launch(self, spec: JobSpec, row: asyncpg.Record, params: JobParams) -> None:
        loop = asyncio.get_running_loop()
        active = _Active(row["id"], spec.name, asyncio.Event(), loop.create_future())
        if self._closing:
            active.stopping.set()
        self._active[spec.name] = active
        self._by_id[active.run_id] = active
        active.task = asyncio.create_task(
            self._execute(spec, row, params, active), name=f"job-{spec.name}-{active.run_id}"
        )

    async def _execute(
        self, spec: JobSpec, row: asyncpg.Record, params: JobParams, active: _Active
    ) -> None:
        reporter = _Reporter(self, row)
        meter = _Meter(self.upstreams, self.cache)
        ctx = JobContext(
            run_id=active.run_id, job=spec.name, params=params, database=self.database,
            upstreams=self.upstreams, cache=self.cache, holder=self.settings, reporter=reporter,
            stopping=active.stopping, checkpoint=dict(reporter.checkpoint_value),
        )  # fmt: skip
        helpers = [
            asyncio.create_task(reporter.flush_forever(self.progress_interval_s)),
            asyncio.create_task(meter.sample_forever()),
        ]
        result: JobResult | None = None
        error: str | None = None
        cancelled = False
        ended: Run | None = None
        try:
            try:
                result = await spec.run(ctx)
            except Exception as exc:
                log.exception("job_raised", job=spec.name, run_id=str(active.run_id))
                error = f"{type(exc).__name__}: {exc}"[:2000]
        except asyncio.CancelledError:
            cancelled = True  # shutdown's drain ran out, or the lease was lost
            raise
        finally:
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            try:
                # The end must land even while we are being cancelled.
                ended = await asyncio.shield(
                    self._conclude(spec, active, reporter, meter, result, error,
                                   interrupted=cancelled)
                )  # fmt: skip
            finally:
                self._active.pop(spec.name, None)
                self._by_id.pop(active.run_id, None)
        # Outside the shield, so a shutdown can cancel a slow hook with the rest of the task.
        if ended is not None:
            await self._call_hooks(ended)

    async def _conclude(
        self,
        spec: JobSpec,
        active: _Active,
        reporter: _Reporter,
        meter: _Meter,
        result: JobResult | None,
        error: str | None,
        *,
        interrupted: bool,
    ) -> Run | None:
        """Write the attempt's end; the Run for the monitor hooks when we ended it."""
        done, total, summary = reporter.done, reporter.total, reporter.summary
        if error is not None:
            status = "failed"
        elif interrupted or active.stopping.is_set() or result is None:
            status = "interrupted"
        else:
            status = run_status(result)
            summary = dict(result.summary)
            if total == 0 and result.items_total:
                done = total = result.items_total
            if status == "failed":
                error = f"every item failed ({result.items_failed} of {result.items_total})"
        figures = meter.figures()
        payload = await self._write_end(
            spec, active, status=status, active_ms=figures["duration_ms"], done=done,
            total=total, summary=summary, errors=reporter.errors, error=error,
            checkpoint=reporter.checkpoint_value,
        )  # fmt: skip
        written = payload is not None
        if written:
            try:
                await runs.add_metrics(self.database.pool, active.run_id, spec.name, **figures)
            except Exception:
                log.exception("job_metrics_write_failed", job=spec.name, run_id=str(active.run_id))
        if payload is None:
            # Taken from us (lease lost) or the write failed: report the row as it stands.
            with contextlib.suppress(Exception):
                current = await runs.fetch(self.database.pool, active.run_id)
                payload = runs.render(current) if current is not None else None
        final: Run = payload or {"runId": str(active.run_id), "job": spec.name, "status": status}
        # The lease is released: a trigger right after the waiter wakes must find the job free.
        self._active.pop(spec.name, None)
        self._by_id.pop(active.run_id, None)
        if not active.done.done():
            active.done.set_result(final)
        event = "job_interrupted" if status == "interrupted" else "job_finished"
        log.info(
            event, job=spec.name, run_id=str(active.run_id), status=final.get("status"),
            duration_ms=figures["duration_ms"], items_failed=reporter.failed, error=error,
        )  # fmt: skip
        return final if written and status != "interrupted" else None

    async def _write_end(self, spec: JobSpec, active: _Active, **end: Any) -> Run | None:
        """``runs.finish``, retried while the database is unreachable (see
        :data:`END_WRITE_RETRY_S`); None when the run was taken from us or the write never
        landed."""

        def unreachable(exc: BaseException) -> bool:
            # At shutdown there is no time to wait: the next start sweeps the row up.
            return isinstance(exc, DATABASE_UNREACHABLE) and not self._closing

        def retrying(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "job_end_write_retrying", job=spec.name, run_id=str(active.run_id),
                error=f"{type(exc).__name__}: {exc}",
                retry_in_s=state.next_action.sleep if state.next_action else None,
            )  # fmt: skip

        attempts = AsyncRetrying(
            retry=retry_if_exception(unreachable),
            stop=stop_after_delay(self.end_write_retry_s),
            wait=wait_exponential(multiplier=END_WRITE_BACKOFF_MIN_S, max=END_WRITE_BACKOFF_MAX_S),
            before_sleep=retrying,
            reraise=True,
        )
        try:
            async for attempt in attempts:
                with attempt:
                    async with self.database.pool.acquire() as conn:
                        return await runs.finish(
                            conn, active.run_id, self.holder_id, spec.name, **end
                        )
        except Exception:
            log.exception("job_end_write_failed", job=spec.name, run_id=str(active.run_id))
        return None

    async def _call_hooks(self, run: Run) -> None:
        for hook in list(self.monitor_hooks):
            try:
                async with asyncio.timeout(MONITOR_HOOK_TIMEOUT_S):
                    await hook(run)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("monitor_hook_failed", job=run.get("job"), run_id=run.get("runId"))

    # --- upkeep ---------------------------------------------------------------------------------

    async def _upkeep_forever(self) -> None:
        last_sweep_s = time.monotonic()
        while True:
            await asyncio.sleep(self.renew_interval_s)
            try:
                await self._renew_leases()
                if time.monotonic() - last_sweep_s >= self.sweep_interval_s:
                    last_sweep_s = time.monotonic()
                    await self.resume_pending()
            except Exception:
                log.exception("job_runner_upkeep_failed")

    async def _renew_leases(self) -> None:
        for job, active in list(self._active.items()):
            if await runs.renew_lease(self.database.pool, job, self.holder_id, self.lease_ttl_s):
                continue
            # We stalled past the expiry and another holder took the job over: it now owns the
            # run's row; ours must stop at once and write nothing more.
            log.error("job_lease_lost", job=job, run_id=str(active.run_id))
            active.lease_lost = True
            active.stopping.set()
            if active.task is not None:
                active.task.cancel()

    async def _cancel_after(self, drain_s: float) -> None:
        await asyncio.sleep(drain_s)
        for active in list(self._active.values()):
            if active.task is not None and not active.task.done():
                log.warning("job_cancelled_at_shutdown", job=active.job, run_id=str(active.run_id))
                active.task.cancel()


@contextlib.asynccontextmanager
async def open_runner(
    database: Database,
    upstreams: Upstreams,
    cache: Cache,
    holder: SettingsHolder,
    *,
    jobs: Mapping[JobName, JobSpec] = JOBS,
) -> AsyncIterator[JobRunner]:
    runner = JobRunner(database, upstreams, cache, holder, jobs=jobs)
    await runner.start()
    try:
        yield runner
    finally:
        await runner.close()
