"""The monitor: judges every job from its runs, keeps ``cron_alerts`` in step with the rules, and
sends each alert's notifications once.

When it judges. After every run (the job runner's monitor hook), every ``CHECK_INTERVAL_S`` (a
missed run produces no event, so the dead man's switch needs a clock), and on demand
(``triggerHealthCheck``). The providers' ``quota_insufficient`` (``rules.py``) is judged with
every job (the clock's check, ``triggerHealthCheck`` without ``jobName``), never after one job's
run: a run does not change what the plan needs, and the forecast is cached for a minute anyway.

How an alert lives. A rule that holds and has no active alert fires one (one INSERT wins across
instances; the winner notifies). An active alert whose rule no longer holds is resolved (one
UPDATE wins; the winner notifies). An alert still active ``renotify_interval_s`` after its last
notification is sent again. A successful run resolves what it clears: the failure streak, a
missed execution, a slow run; the error rate resolves when the last 24 h fall under the threshold.

The daemon's own gaps. Each process registers in ``daemon_instances`` and beats
(``presence.py``); a start that finds no live instance records the downtime since the last beat.
A loop-lag sampler records stalls longer than ``STALL_THRESHOLD_S``. Fires that fell in either
are the daemon's fault, not the job's: they are reported, never "missed".
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg

from theset_daemon.config import SettingsHolder
from theset_daemon.cron import cron_trigger
from theset_daemon.db import monitoring as store
from theset_daemon.db.pool import Database
from theset_daemon.jobs.context import JOB_NAMES
from theset_daemon.lifetime import started
from theset_daemon.log import get_logger
from theset_daemon.monitoring.forecast import PlanForecast
from theset_daemon.monitoring.health import Gap, JobHealth, RunFacts, Thresholds, evaluate
from theset_daemon.monitoring.notify import Notification, Notifier
from theset_daemon.monitoring.rules import (
    UPSTREAM_JOB_PREFIX,
    Condition,
    Rule,
    RuleThresholds,
    conditions,
    quota_conditions,
)
from theset_daemon.periodic import start_periodic

log = get_logger(__name__)

CHECK_INTERVAL_S = 30.0
LAG_SAMPLE_S = 0.5
STALL_THRESHOLD_S = 5.0


class CronSchedule:
    """A job's cron schedule as the health machine's :class:`~.health.Schedule`."""

    def __init__(self, expression: str) -> None:
        self._trigger = cron_trigger(expression)

    def next_fire_after(self, moment: datetime) -> datetime | None:
        # APScheduler answers "at or after"; cron fires on whole seconds, so 1 µs makes it "after".
        fire: datetime | None = self._trigger.get_next_fire_time(
            None, moment + timedelta(microseconds=1)
        )
        return fire


@dataclass(frozen=True, slots=True)
class JobReport:
    name: str
    schedule: str
    enabled: bool
    health: JobHealth
    active: list[asyncpg.Record]


class Monitor:
    def __init__(
        self,
        database: Database,
        holder: SettingsHolder,
        notifier: Notifier,
        instance: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._database = database
        self._holder = holder
        self._notifier = notifier
        self._instance = instance
        self._clock = clock
        self.watching_since = clock()
        self.loop_lag_s = 0.0  # the latest event-loop lag sample (a /metrics gauge)
        self._check_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[Any]] = []
        self._lag_mark_s = time.monotonic()
        self._noting: set[asyncio.Task[None]] = set()
        #: The plan's forecast, shared with ``/api/monitoring/upstream`` and the status page.
        self.plan = PlanForecast(database, holder, clock)

    # --- judging --------------------------------------------------------------------------

    async def report(self, job: str | None = None) -> list[JobReport]:
        """Every job's health now (read-only: no alert changes)."""
        pool = self._database.pool
        now = self._clock()
        gaps = [
            Gap(row["started_at"], row["ended_at"], row["kind"])
            for row in await store.gaps_since(pool, now - timedelta(days=8))
        ]
        active = await store.active_alerts(pool, job)
        settings = self._holder.current
        thresholds = Thresholds(
            missed_grace_s=settings.monitoring.missed_grace_s,
            slow_run_s=settings.monitoring.slow_run_s,
        )
        reports = []
        for name in JOB_NAMES:
            if job is not None and name != job:
                continue
            section = settings.jobs.of(name)
            runs = [
                RunFacts(row["status"], row["started_at"], row["finished_at"], str(row["id"]))
                for row in await store.runs_judged(pool, name)
            ]
            health = evaluate(
                schedule=CronSchedule(section.schedule),
                enabled=section.enabled,
                runs=runs,
                now=now,
                watching_since=self.watching_since,
                gaps=gaps,
                thresholds=thresholds,
            )
            mine = [row for row in active if row["job_name"] == name]
            reports.append(JobReport(name, section.schedule, section.enabled, health, mine))
        return reports

    async def check(self, job: str | None = None) -> list[dict[str, Any]]:
        """Judge, fire and resolve alerts, notify; returns every alert active afterwards."""
        async with self._check_lock:  # one judgement at a time in this process
            monitoring = self._holder.current.monitoring
            limits = RuleThresholds(
                error_rate_threshold=monitoring.error_rate_threshold,
                slow_run_s=monitoring.slow_run_s,
                consecutive_failures=monitoring.consecutive_failures,
            )
            pool = self._database.pool
            for report in await self.report(job):
                holding = conditions(report.name, report.health, limits)
                await self._judge(report.name, holding, report.active)
            if job is None:  # a run's end says nothing of the plan: judged with every job
                await self._judge_quotas()
            if monitoring.renotify_interval_s > 0:
                for row in await store.claim_renotify(pool, monitoring.renotify_interval_s):
                    self._notify("fire", row)
            return [store.render_alert(row) for row in await store.active_alerts(pool, job)]

    async def _judge(
        self, job: str, holding: Mapping[Rule, Condition], active: Iterable[asyncpg.Record]
    ) -> None:
        """Fire what holds and has no active alert; resolve what is active and no longer holds."""
        open_rules = {row["rule"]: row for row in active}
        for rule, condition in holding.items():
            if rule not in open_rules:
                await self._fire(job, condition)
        for rule, row in open_rules.items():
            if rule not in holding:
                await self._resolve(row["id"])

    async def _judge_quotas(self) -> None:
        """``quota_insufficient`` of every provider, from the plan's (cached) forecast."""
        active = [
            row
            for row in await store.active_alerts(self._database.pool)
            if row["job_name"].startswith(UPSTREAM_JOB_PREFIX)
        ]
        for key, holding in quota_conditions(await self.plan.forecasts()).items():
            await self._judge(key, holding, [row for row in active if row["job_name"] == key])

    async def _fire(self, job: str, condition: Condition) -> None:
        row = await store.fire_alert(
            self._database.pool,
            job,
            condition.rule,
            condition.severity,
            condition.message,
            condition.details,
        )
        if row is not None:  # None: another instance fired it first, and notifies
            log.warning("alert_fired", job=job, rule=condition.rule, alert_id=str(row["id"]))
            self._notify("fire", row)

    async def _resolve(self, alert_id: UUID) -> None:
        row = await store.resolve_alert(self._database.pool, alert_id)
        if row is not None:
            log.info(
                "alert_resolved", job=row["job_name"], rule=row["rule"], alert_id=str(alert_id)
            )
            self._notify("resolve", row)

    def _notify(self, action: str, row: asyncpg.Record) -> None:
        notification = Notification(
            action="fire" if action == "fire" else "resolve",
            alert_id=str(row["id"]),
            job=row["job_name"],
            rule=row["rule"],
            severity=row["severity"],
            message=row["message"],
            fired_at=row["fired_at"],
            resolved_at=row["resolved_at"],
            details=dict(row["details"] or {}),
        )
        for channel, task in self._notifier.send(notification).items():
            task.add_done_callback(functools.partial(self._noted, row["id"], channel))

    def _noted(self, alert_id: UUID, channel: str, task: asyncio.Task[bool]) -> None:
        """Record a delivered channel on the alert (its ``channels`` list)."""
        if task.cancelled() or not task.result():
            return
        noting = asyncio.create_task(
            store.note_notified(self._database.pool, alert_id, [channel]),
            name=f"note-notified-{alert_id}",
        )
        self._noting.add(noting)
        noting.add_done_callback(self._noting.discard)

    async def on_run_finished(self, run: dict[str, Any]) -> None:
        """The job runner's monitor hook."""
        await self.check(run.get("job"))

    # --- the clock and the daemon's own liveness --------------------------------------------

    async def start(self) -> None:
        self._lag_mark_s = time.monotonic()
        self._tasks += [
            start_periodic(self.check, CHECK_INTERVAL_S, name="monitor-check",
                           failed_event="monitor_check_failed"),
            start_periodic(self._sample_lag, LAG_SAMPLE_S, name="monitor-lag",
                           failed_event="monitor_lag_sample_failed"),
        ]  # fmt: skip

    async def _sample_lag(self) -> None:
        """The loop's lag: how much longer than asked the last sleep took."""
        now_s = time.monotonic()
        self.loop_lag_s = max(0.0, now_s - self._lag_mark_s - LAG_SAMPLE_S)
        if self.loop_lag_s >= STALL_THRESHOLD_S:
            ended = self._clock()
            started = ended - timedelta(seconds=self.loop_lag_s)
            log.warning("event_loop_stalled", stall_s=round(self.loop_lag_s, 3))
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await store.record_stall(self._database.pool, self._instance, started, ended)
        self._lag_mark_s = time.monotonic()  # the stall's write is not the loop's lag

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self._notifier.close()
        await asyncio.gather(*self._noting, return_exceptions=True)


@contextlib.asynccontextmanager
async def open_monitor(
    database: Database, holder: SettingsHolder, instance: str
) -> AsyncIterator[Monitor]:
    """The monitor with its own HTTP session for the webhooks (never the upstreams' session:
    a notification must not wait behind a rate limiter)."""
    async with (
        aiohttp.ClientSession() as session,
        started(Monitor(database, holder, Notifier(holder, session), instance)) as monitor,
    ):
        yield monitor
