"""The scheduler: APScheduler 3's ``AsyncIOScheduler`` in the daemon's loop, one cron per job.

Schedules come from ``[jobs.<job>] schedule`` (5-field cron, UTC) and follow SIGHUP: the
scheduler subscribes to the settings holder, so the reload's one assignment reschedules, pauses
or resumes what changed in the same turn, without a restart. ``enabled = false`` pauses the
schedule only; HTTP and CLI triggers still run the job.

Every fire goes to the runner with its ``scheduled_for``, the trigger's fire time (not "now"):
the runner keys the run by ``(job, scheduled_for)``, so the same fire from two instances, or
again after a restart, runs once. A fire that finds the job running is skipped and logged
(``job_fire_skipped``). To see the fire time, fires go through a small executor of our own
(APScheduler's extension point: ``BaseExecutor._do_submit_job`` receives the run times); the
stock executors call the function without them.

Cron expressions are read by :mod:`theset_daemon.cron` (standard day-of-week: 0 = Sunday).

Misfire policy per job (:data:`MISFIRE_POLICIES`, in the README):

* every job coalesces: fires that piled up (a blocked loop, a clock jump) run once, as the
  latest of them;
* a fire found later than its ``misfire_grace_s`` is skipped and logged (``job_fire_missed``);
* the daily and weekly jobs catch up at start-up: if the job's most recent expected fire has no
  run, and the job ran at some point before that fire (a time before the job ever ran is never
  "missed"), that fire runs once now, keyed by its own ``scheduled_for``. The hourly and 6-hourly
  jobs do not: their next fire comes soon enough.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apscheduler.executors.base import BaseExecutor
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from theset_daemon.config import Settings, SettingsHolder
from theset_daemon.cron import cron_trigger, previous_fire_time
from theset_daemon.jobs.context import JobName
from theset_daemon.jobs.errors import AlreadyRunning, FireTaken, ShuttingDown
from theset_daemon.jobs.runner import JobRunner
from theset_daemon.lifetime import started
from theset_daemon.log import get_logger

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class MisfirePolicy:
    misfire_grace_s: int  # a fire found later than this is skipped
    catch_up_at_start: bool  # run the most recent missed fire once at start-up
    catch_up_lookback_s: int = 0  # how far back to look for it (a bit over one period)


MISFIRE_POLICIES: dict[JobName, MisfirePolicy] = {
    "calculate-trending": MisfirePolicy(misfire_grace_s=15 * 60, catch_up_at_start=False),
    "update-active-artists": MisfirePolicy(misfire_grace_s=60 * 60, catch_up_at_start=False),
    "trending-artist-sync": MisfirePolicy(
        misfire_grace_s=6 * 3600, catch_up_at_start=True, catch_up_lookback_s=2 * 86400
    ),
    "complete-catalog-sync": MisfirePolicy(
        misfire_grace_s=24 * 3600, catch_up_at_start=True, catch_up_lookback_s=8 * 86400
    ),
}


# --- the executor that hands fire times over -------------------------------------------------


class _FireExecutor(BaseExecutor):  # type: ignore[misc]
    """Runs each due fire as ``fire(job_id, run_times)`` on the loop (see the module docstring)."""

    def __init__(self, fire: Callable[[str, list[datetime]], Coroutine[Any, Any, None]]) -> None:
        super().__init__()
        self._fire = fire
        self._tasks: set[asyncio.Task[None]] = set()

    def shutdown(self, wait: bool = True) -> None:
        for task in self._tasks:
            task.cancel()

    async def drain(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        task = asyncio.get_running_loop().create_task(
            self._fire(job.id, list(run_times)), name=f"fire-{job.id}"
        )
        self._tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            error = None if finished.cancelled() else finished.exception()
            if error is not None:
                self._run_job_error(job.id, error, error.__traceback__)
            else:
                self._run_job_success(job.id, [])

        task.add_done_callback(done)


async def _never_called() -> None:
    """APScheduler wants a callable per job; our executor fires through the runner instead."""


# --- the scheduler -----------------------------------------------------------------------------


class JobScheduler:
    """Use :func:`open_scheduler`; tests drive :meth:`fire`, :meth:`apply` and :meth:`catch_up`."""

    def __init__(
        self,
        runner: JobRunner,
        holder: SettingsHolder,
        *,
        policies: Mapping[JobName, MisfirePolicy] = MISFIRE_POLICIES,
    ) -> None:
        self.runner = runner
        self.settings = holder
        self.policies = dict(policies)
        self._executor = _FireExecutor(self._fire_due)
        self._scheduler = AsyncIOScheduler(
            timezone=UTC, executors={"default": self._executor}
        )  # fmt: skip
        self._applied: dict[str, tuple[str, bool]] = {}
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def jobs(self) -> list[JobName]:
        return list(self.runner.jobs)

    def next_run_times(self) -> dict[str, datetime | None]:
        """Each job's next fire (None while paused)."""
        out: dict[str, datetime | None] = {}
        for job in self.jobs:
            scheduled = self._scheduler.get_job(job)
            out[job] = scheduled.next_run_time if scheduled is not None else None
        return out

    async def start(self) -> None:
        settings = self.settings.current
        self._scheduler.start()
        for job in self.jobs:
            policy = self.policies[job]
            self._scheduler.add_job(
                _never_called, trigger=cron_trigger(settings.jobs.of(job).schedule),
                id=job, name=job, coalesce=True, max_instances=1,
                misfire_grace_time=policy.misfire_grace_s, replace_existing=True,
            )  # fmt: skip
        self.apply(settings, initial=True)
        self._unsubscribe = self.settings.subscribe(self._reloaded)
        await self.catch_up()

    def pause_all(self) -> None:
        """No more fires (shutdown has begun); what is running finishes through the runner."""
        if self._scheduler.running:
            self._scheduler.pause()

    async def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        await self._executor.drain()

    # --- reload -------------------------------------------------------------------------------

    def apply(self, settings: Settings, *, initial: bool = False) -> list[str]:
        """Bring every job's schedule and switch in line with ``settings``; the changed jobs."""
        changed: list[str] = []
        for job in self.jobs:
            section = settings.jobs.of(job)
            wanted = (section.schedule, section.enabled)
            before = self._applied.get(job)
            if before == wanted:
                continue
            if before is not None and before[0] != section.schedule:
                # (reschedule_job also un-pauses; the switch below pauses again if need be)
                self._scheduler.reschedule_job(job, trigger=cron_trigger(section.schedule))
            if not section.enabled:
                self._scheduler.pause_job(job)
            elif before is not None and not before[1]:
                self._scheduler.resume_job(job)
            self._applied[job] = wanted
            changed.append(job)
            next_run = self._scheduler.get_job(job).next_run_time
            log.info(
                "job_scheduled" if initial else "job_rescheduled", job=job,
                schedule=section.schedule, enabled=section.enabled,
                next_run_at=next_run.isoformat() if next_run else None,
            )  # fmt: skip
        return changed

    def _reloaded(self, settings: Settings) -> None:
        try:
            self.apply(settings)
        except Exception:  # validated config never gets here; a reload must not fail for it
            log.exception("job_reschedule_failed")

    # --- fires ----------------------------------------------------------------------------------

    async def _fire_due(self, job: str, run_times: list[datetime]) -> None:
        policy = self.policies[job]  # type: ignore[index]
        for scheduled_for in run_times:  # one, since every job coalesces
            late_s = (datetime.now(UTC) - scheduled_for).total_seconds()
            if late_s > policy.misfire_grace_s:
                log.warning(
                    "job_fire_missed", job=job, scheduled_for=scheduled_for.isoformat(),
                    late_s=round(late_s), misfire_grace_s=policy.misfire_grace_s,
                )  # fmt: skip
                continue
            await self.fire(job, scheduled_for)

    async def fire(self, job: str, scheduled_for: datetime) -> Any:
        """Start the run of one scheduled fire; its run id, or None when skipped (running,
        already fired, stopping). Never raises: a fire's trouble is logged."""
        when = scheduled_for.isoformat()
        try:
            return await self.runner.trigger(job, trigger="schedule", scheduled_for=scheduled_for)
        except AlreadyRunning as exc:
            log.info(
                "job_fire_skipped", job=job, scheduled_for=when, reason="already_running",
                running_run_id=str(exc.run_id) if exc.run_id else None,
            )  # fmt: skip
        except FireTaken:
            log.info("job_fire_skipped", job=job, scheduled_for=when, reason="already_fired")
        except ShuttingDown:
            log.info("job_fire_skipped", job=job, scheduled_for=when, reason="shutting_down")
        except Exception:
            log.exception("job_fire_failed", job=job, scheduled_for=when)
        return None

    async def catch_up(self, now: datetime | None = None) -> list[str]:
        """Fire, once, the most recent missed fire of each catch-up job (see the module
        docstring); the jobs fired."""
        now = now or datetime.now(UTC)
        fired: list[str] = []
        pool = self.runner.database.pool
        for job in self.jobs:
            policy = self.policies[job]
            section = self.settings.current.jobs.of(job)
            if not policy.catch_up_at_start or not section.enabled:
                continue
            expected = previous_fire_time(
                cron_trigger(section.schedule), now, policy.catch_up_lookback_s
            )
            if expected is None:
                continue
            row = await pool.fetchrow(
                """SELECT max(started_at) AS last_started,
                          coalesce(bool_or(scheduled_for = $2), false) AS fired
                   FROM cron_logs WHERE job_name = $1""",
                job,
                expected,
            )
            last_started = row["last_started"] if row is not None else None
            if last_started is None or row is None or row["fired"] or last_started >= expected:
                continue  # never ran (nothing to miss), fired already, or ran since
            log.info(
                "job_catch_up", job=job, scheduled_for=expected.isoformat(),
                last_started=last_started.isoformat(),
            )  # fmt: skip
            if await self.fire(job, expected) is not None:
                fired.append(job)
        return fired


def open_scheduler(
    runner: JobRunner, holder: SettingsHolder
) -> contextlib.AbstractAsyncContextManager[JobScheduler]:
    return started(JobScheduler(runner, holder))
