"""The job runner: everything the four jobs share, in one place.

A trigger (the scheduler, ``POST /api/cron/<job>``, ``theset-daemon trigger``) becomes a run in one
transaction: take the job's lease in ``job_leases``, write the ``cron_logs`` row, point the lease at
it, record the first event. The job function then runs as a durable task (``durable``) with a
:class:`JobContext`; its progress goes through a :class:`~theset_daemon.jobs.reporter.Reporter`.
Its end (status, summary, errors, the terminal event, the lease's release) is again one
transaction, then the run's ``cron_metrics`` and the monitor hooks.

Once per cluster. The lease is the run's claim in the durable-task engine: held while the run
runs, renewed every ``renew_interval_s``, expiring ``lease_ttl_s`` after the last renewal, so a dead
holder's lease can be taken over. A holder that finds its lease gone stops its job and writes
nothing more: every write is conditioned on ``holder`` and ``status = 'running'``. Behind the
lease, ``cron_logs_one_running_per_job`` and ``UNIQUE (job_name, scheduled_for)`` make a double
run impossible even if a lease query were wrong: a scheduled fire is keyed by its fire time, so
two schedulers (or a restart) run it once.

Interruption and resume (the engine's drain and sweep). On shutdown every run's ``stopping`` is
set; a job returns what it has at its next item boundary and the run is marked ``interrupted``
with its checkpoint; one still running when the drain is over is cancelled and marked the same
way. The sweep takes the lease of each idle job, turns runs left ``running`` by a dead holder into
``interrupted`` and resumes the newest interrupted run from its checkpoint (``attempts + 1``);
older interrupted runs of the same job are superseded (failed), and a run that has used
``max_attempts`` is failed.

A new trigger that meets an interrupted run of its job supersedes it (the interrupted run is
failed, naming the new one): the new run does the same work with fresher parameters.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from theset_daemon import durable
from theset_daemon.cache import Cache
from theset_daemon.config import SettingsHolder
from theset_daemon.db import runs
from theset_daemon.db.pool import Database
from theset_daemon.durable import Claim, DurableTasks
from theset_daemon.jobs.context import JobContext, JobName, JobParams, JobResult, Trigger
from theset_daemon.jobs.errors import AlreadyRunning, FireTaken, ShuttingDown, UnknownJob
from theset_daemon.jobs.meter import RunMeter
from theset_daemon.jobs.registry import JOBS, JobSpec
from theset_daemon.jobs.reporter import Reporter
from theset_daemon.lifetime import started
from theset_daemon.log import get_logger
from theset_daemon.upstream.clients import Upstreams

log = get_logger(__name__)

LEASE_TTL_S = 60.0
RENEW_INTERVAL_S = 15.0  # four renewals per TTL: one slow query never loses the lease
SWEEP_INTERVAL_S = 30.0
PROGRESS_INTERVAL_S = 0.25
MONITOR_HOOK_TIMEOUT_S = 30.0
# ``wait`` on a run of another instance polls its row this often.
REMOTE_WAIT_POLL_S = 0.5
# How long a run's end write is retried while the database is unreachable: the lease's life
# (past it another instance may have taken the run over). See ``Reporter.finish``.
END_WRITE_RETRY_S = LEASE_TTL_S

Run = dict[str, Any]
"""A Run as the contract renders it (``db.runs.render``)."""

MonitorHook = Callable[[Run], Awaitable[None]]
"""Called with every run that ended (succeeded, partial or failed); the monitor fills these in."""


def run_status(result: JobResult, *, quota_stopped: bool = False) -> str:
    """CONTRACT.md section 8: failed when every item failed, partial when some did; section 9:
    partial too when a provider's quota share stopped the run's calls to it."""
    if result.items_total > 0 and result.items_failed >= result.items_total:
        return "failed"
    return "partial" if result.items_failed > 0 or quota_stopped else "succeeded"


@dataclass(slots=True, eq=False)
class _Run:
    """A run this process is running, from its launch until its end is written."""

    run_id: UUID
    job: JobName
    claim: Claim[JobName]
    done: asyncio.Future[Run]


class JobRunner:
    """Use :func:`open_runner` (the daemon's cleanup context does); tests may build one directly
    with their own job table and call :meth:`start` / :meth:`close`.

    The runner is the :class:`~theset_daemon.durable.TaskStore` of job runs: claims are the jobs'
    leases (:meth:`owners`, :meth:`lapse`, :meth:`renew`), resumable work their interrupted runs
    (:meth:`resume`)."""

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
        max_attempts: int = durable.MAX_ATTEMPTS,
        progress_interval_s: float = PROGRESS_INTERVAL_S,
        end_write_retry_s: float = END_WRITE_RETRY_S,
    ) -> None:
        self.database = database
        self.upstreams = upstreams
        self.cache = cache
        self.settings = holder
        self.jobs = dict(jobs)
        self.lease_ttl_s = lease_ttl_s
        self.max_attempts = max_attempts
        self.progress_interval_s = progress_interval_s
        self.end_write_retry_s = end_write_retry_s
        self.tasks: DurableTasks[JobName] = DurableTasks(
            "job", self, owner_id=holder_id, renew_interval_s=renew_interval_s,
            sweep_interval_s=sweep_interval_s,
            grace_s=lambda: holder.current.shutdown.grace_seconds,
        )  # fmt: skip
        self.holder_id = self.tasks.owner_id
        #: Async callbacks called with every ended Run; a failing one is logged and ignored.
        self.monitor_hooks: list[MonitorHook] = []
        self._by_id: dict[UUID, _Run] = {}

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
        return {run.job: run.run_id for run in self._by_id.values()}

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
        if self.tasks.closing:
            raise ShuttingDown("the daemon is stopping")
        if (mine := self.running.get(spec.name)) is not None:
            raise AlreadyRunning(spec.name, mine)
        await self.tasks.lapse_dead_owners()
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
        mine = self._by_id.get(run_id)
        if mine is not None:
            return await asyncio.shield(mine.done)
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
        await self.tasks.start()

    def begin_shutdown(self, drain_s: float | None = None) -> None:
        """Stop taking runs; ask every job to stop; cancel what is left after the drain."""
        self.tasks.begin_shutdown(drain_s)

    async def close(self) -> None:
        await self.tasks.close()

    # --- the TaskStore of job runs --------------------------------------------------------------

    async def owners(self) -> Sequence[str]:
        return [row["holder"] for row in await runs.lease_holders(self.database.pool)]

    async def lapse(self, owner_ids: Sequence[str]) -> None:
        await runs.expire_leases_of(self.database.pool, owner_ids)

    async def renew(self, owner_id: str, keys: Sequence[JobName]) -> Sequence[JobName]:
        pool = self.database.pool
        return [job for job in keys
                if not await runs.renew_lease(pool, job, owner_id, self.lease_ttl_s)]  # fmt: skip

    async def resume_pending(self) -> list[UUID]:
        """A sweep now: claim and resume each idle job's newest interrupted (or orphaned) run."""
        return [UUID(str(run_id)) for run_id in await self.tasks.sweep()]

    async def resume(self) -> list[UUID]:
        resumed: list[UUID] = []
        ended: list[Run] = []
        for job, spec in self.jobs.items():
            if self.tasks.claim_of(job) is not None:
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

    # --- running one --------------------------------------------------------------------------

    def _launch(self, spec: JobSpec, row: asyncpg.Record, params: JobParams) -> None:
        run_id: UUID = row["id"]
        claim = self.tasks.new_claim(spec.name, job=spec.name, run_id=str(run_id))
        run = _Run(run_id, spec.name, claim, asyncio.get_running_loop().create_future())
        self._by_id[run_id] = run
        self.tasks.launch(
            claim, self._execute(spec, row, params, run), name=f"job-{spec.name}-{run_id}"
        )

    async def _execute(
        self, spec: JobSpec, row: asyncpg.Record, params: JobParams, run: _Run
    ) -> None:
        reporter = Reporter(self.database, self.holder_id, row)
        meter = RunMeter(self.upstreams, self.cache)
        ctx = JobContext(
            run_id=run.run_id, job=spec.name, params=params, database=self.database,
            upstreams=self.upstreams, cache=self.cache, holder=self.settings, reporter=reporter,
            stopping=run.claim.stopping, checkpoint=dict(reporter.checkpoint_value),
            quota=reporter.quota, trigger=row["trigger"], started_at=row["started_at"],
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
                log.exception("job_raised", job=spec.name, run_id=str(run.run_id))
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
                    self._conclude(spec, run, reporter, meter, result, error,
                                   interrupted=cancelled)
                )  # fmt: skip
            finally:
                self._by_id.pop(run.run_id, None)
        # Outside the shield, so a shutdown can cancel a slow hook with the rest of the task.
        if ended is not None:
            await self._call_hooks(ended)

    async def _conclude(
        self,
        spec: JobSpec,
        run: _Run,
        reporter: Reporter,
        meter: RunMeter,
        result: JobResult | None,
        error: str | None,
        *,
        interrupted: bool,
    ) -> Run | None:
        """Write the attempt's end; the Run for the monitor hooks when we ended it."""
        done, total = reporter.done, reporter.total
        summary = reporter.quota.summary(reporter.summary)
        if error is not None:
            status = "failed"
        elif interrupted or run.claim.stopping.is_set() or result is None:
            status = "interrupted"
        else:
            status = run_status(result, quota_stopped=bool(reporter.quota.until))
            summary = reporter.quota.summary(result.summary.as_json())
            if total == 0 and result.items_total:
                done = total = result.items_total
            if status == "failed":
                error = f"every item failed ({result.items_failed} of {result.items_total})"
        figures = meter.figures()
        # The end write releases the lease: from here on a renewal must not take its absence
        # for a lost lease (it would cancel this task before its metrics and monitor hooks).
        self.tasks.release(spec.name)
        payload = await reporter.finish(
            spec.name, retry_s=self.end_write_retry_s,
            retry_while=lambda: not self.tasks.closing,
            status=status, active_ms=figures["duration_ms"], done=done,
            total=total, summary=summary, errors=reporter.errors, error=error,
            checkpoint=reporter.quota.checkpoint(reporter.checkpoint_value),
        )  # fmt: skip
        written = payload is not None
        # The lease is released: a trigger right after the waiter wakes must find the job free.
        self._by_id.pop(run.run_id, None)
        if written:
            try:
                await runs.add_metrics(self.database.pool, run.run_id, spec.name, **figures)
            except Exception:
                log.exception("job_metrics_write_failed", job=spec.name, run_id=str(run.run_id))
        else:
            # Taken from us (lease lost) or the write failed: report the row as it stands.
            with contextlib.suppress(Exception):
                current = await runs.fetch(self.database.pool, run.run_id)
                payload = runs.render(current) if current is not None else None
        final: Run = payload or {"runId": str(run.run_id), "job": spec.name, "status": status}
        if not run.done.done():
            run.done.set_result(final)
        event = "job_interrupted" if status == "interrupted" else "job_finished"
        log.info(
            event, job=spec.name, run_id=str(run.run_id), status=final.get("status"),
            duration_ms=figures["duration_ms"], items_failed=reporter.failed, error=error,
            quota_stopped=reporter.quota.stopped or None,
        )  # fmt: skip
        return final if written and status != "interrupted" else None

    async def _call_hooks(self, run: Run) -> None:
        for hook in list(self.monitor_hooks):
            try:
                async with asyncio.timeout(MONITOR_HOOK_TIMEOUT_S):
                    await hook(run)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("monitor_hook_failed", job=run.get("job"), run_id=run.get("runId"))


def open_runner(
    database: Database,
    upstreams: Upstreams,
    cache: Cache,
    holder: SettingsHolder,
    *,
    jobs: Mapping[JobName, JobSpec] = JOBS,
    holder_id: str | None = None,
) -> contextlib.AbstractAsyncContextManager[JobRunner]:
    return started(JobRunner(database, upstreams, cache, holder, jobs=jobs, holder_id=holder_id))
