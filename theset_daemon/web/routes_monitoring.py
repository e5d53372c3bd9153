"""The cron health API and ``/metrics`` (CONTRACT.md section 5), admin only.

``GET /api/monitoring/cron-health`` reads: each job's state from the monitor's state machine, the
active alerts, and on request the per-job metrics and a 7-day report. It changes nothing.
``POST`` with ``triggerHealthCheck`` judges the rules now (firing and resolving alerts, which
notify) and returns every alert active afterwards; ``getMetrics`` returns one job's metrics.

Overall status: ``unhealthy`` when a critical alert is active or a job is ``missed`` or
``failing``; ``degraded`` when a warning is active or a job is ``late``; ``healthy`` otherwise.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, RootModel

from theset_daemon.appkeys import DATABASE, METRICS, MONITOR
from theset_daemon.config import AlertRule
from theset_daemon.db import monitoring as store
from theset_daemon.jobs.context import JOB_NAMES, JobName
from theset_daemon.monitoring.health import JobState
from theset_daemon.monitoring.service import JobReport
from theset_daemon.timestamps import iso_utc
from theset_daemon.web.api import RouteTable, read_body, read_query
from theset_daemon.web.errors import ApiError
from theset_daemon.web.models import ErrorEnvelope, RequestModel

routes = RouteTable()

METRICS_WINDOW = timedelta(days=7)
REPORT_WINDOW = timedelta(days=7)
Status = Literal["healthy", "degraded", "unhealthy"]


class LastRun(BaseModel):
    runId: str | None
    status: str
    startedAt: str
    finishedAt: str | None
    durationMs: int | None


class JobHealthView(BaseModel):
    name: JobName
    schedule: str
    enabled: bool
    state: JobState
    lastRun: LastRun | None
    nextRunAt: str | None
    consecutiveFailures: int
    errorRate24h: float
    slow: bool
    #: Owed fires that fell while the daemon was down or its loop stalled: the daemon's fault,
    #: never counted as missed.
    firesInDaemonGaps: list[str]


class Alert(BaseModel):
    id: str
    rule: AlertRule
    job: str
    severity: Literal["warning", "critical"]
    message: str
    details: dict[str, Any]
    firedAt: str
    resolvedAt: str | None
    channels: list[str]


class JobMetrics(BaseModel):
    runs: int
    failures: int
    errorRate: float
    avgDurationMs: float | None
    p95DurationMs: float | None
    maxDurationMs: int | None
    peakMemoryBytes: int | None
    cacheHitRate: float | None
    apiCalls: dict[str, int]
    rateLimited: int


class JobReportView(BaseModel):
    runs: int
    byStatus: dict[str, int]
    successRate: float | None
    avgDurationMs: float | None
    alertsFired: dict[str, int]


class DaemonGap(BaseModel):
    kind: Literal["down", "stall"]
    startedAt: str
    endedAt: str


class Report(BaseModel):
    since: str
    until: str
    jobs: dict[str, JobReportView]
    daemonGaps: list[DaemonGap]


class CronHealth(BaseModel):
    status: Status
    checkedAt: str
    jobs: list[JobHealthView]
    activeAlerts: list[Alert]
    metrics: dict[str, JobMetrics] | None = None
    report: Report | None = None


class HealthCheckResult(BaseModel):
    status: Status
    checkedAt: str
    alerts: list[Alert]


class JobMetricsResult(BaseModel):
    job: JobName
    metrics: JobMetrics


class HealthActionResult(RootModel[HealthCheckResult | JobMetricsResult]):
    """What ``POST /api/monitoring/cron-health`` answers, by action."""


class CronHealthQuery(RequestModel):
    jobName: JobName | None = None
    includeMetrics: bool = False
    includeReport: bool = False


class HealthAction(RequestModel):
    action: Literal["triggerHealthCheck", "getMetrics"]
    jobName: JobName | None = None


def job_view(report: JobReport) -> JobHealthView:
    health, run = report.health, report.health.last_run
    return JobHealthView(
        name=report.name,
        schedule=report.schedule,
        enabled=report.enabled,
        state=health.state,
        lastRun=None
        if run is None
        else LastRun(
            runId=run.run_id,
            status=run.status,
            startedAt=iso_utc(run.started_at) or "",
            finishedAt=iso_utc(run.finished_at),
            durationMs=None if run.duration is None else int(run.duration.total_seconds() * 1000),
        ),
        nextRunAt=iso_utc(health.next_run_at),
        consecutiveFailures=health.consecutive_failures,
        errorRate24h=round(health.error_rate_24h, 4),
        slow=health.slow,
        firesInDaemonGaps=[iso_utc(fire) or "" for fire in health.fires_in_gaps],
    )


def overall(jobs: list[JobHealthView], alerts: list[dict[str, Any]]) -> Status:
    if any(a["severity"] == "critical" for a in alerts) or any(
        job.state in ("missed", "failing") for job in jobs
    ):
        return "unhealthy"
    if alerts or any(job.state == "late" for job in jobs):
        return "degraded"
    return "healthy"


async def _metrics(request: web.Request, job: str | None) -> dict[str, JobMetrics]:
    since = datetime.now(UTC) - METRICS_WINDOW
    rows = await store.job_metrics(request.app[DATABASE].pool, since, job)
    found: dict[str, JobMetrics] = {}
    for row in rows:
        looked_up = row["cache_hits"] + row["cache_misses"]
        found[row["job_name"]] = JobMetrics(
            runs=row["runs"],
            failures=row["failures"],
            errorRate=round(row["failures"] / row["runs"], 4) if row["runs"] else 0.0,
            avgDurationMs=row["avg_duration_ms"],
            p95DurationMs=row["p95_duration_ms"],
            maxDurationMs=row["max_duration_ms"],
            peakMemoryBytes=row["peak_memory_bytes"],
            cacheHitRate=round(row["cache_hits"] / looked_up, 4) if looked_up else None,
            apiCalls={k: int(v) for k, v in row["api_calls"].items()},
            rateLimited=row["rate_limited"],
        )
    for name in JOB_NAMES if job is None else (job,):
        found.setdefault(name, _no_runs())
    return found


def _no_runs() -> JobMetrics:
    return JobMetrics(
        runs=0,
        failures=0,
        errorRate=0.0,
        avgDurationMs=None,
        p95DurationMs=None,
        maxDurationMs=None,
        peakMemoryBytes=None,
        cacheHitRate=None,
        apiCalls={},
        rateLimited=0,
    )


async def _report(request: web.Request) -> Report:
    until = datetime.now(UTC)
    since = until - REPORT_WINDOW
    pool = request.app[DATABASE].pool
    found = {row["job_name"]: row for row in await store.job_report(pool, since)}
    jobs = {}
    for name in JOB_NAMES:
        row = found.get(name)
        statuses: dict[str, int] = row["by_status"] if row else {}
        ended = sum(
            n for status, n in statuses.items() if status in ("succeeded", "partial", "failed")
        )
        good = statuses.get("succeeded", 0) + statuses.get("partial", 0)
        jobs[name] = JobReportView(
            runs=sum(statuses.values()),
            byStatus=statuses,
            successRate=round(good / ended, 4) if ended else None,
            avgDurationMs=row["avg_duration_ms"] if row else None,
            alertsFired=row["alerts_fired"] if row else {},
        )
    gaps = [
        DaemonGap(
            kind=row["kind"],
            startedAt=iso_utc(row["started_at"]) or "",
            endedAt=iso_utc(row["ended_at"]) or "",
        )
        for row in await store.gaps_since(pool, since)
    ]
    return Report(
        since=iso_utc(since) or "", until=iso_utc(until) or "", jobs=jobs, daemonGaps=gaps
    )


@routes.route(
    "GET",
    "/api/monitoring/cron-health",
    summary="Each job's health state, the active alerts, and optionally metrics and a 7-day report",
    query=CronHealthQuery,
    responses={200: CronHealth, 400: ErrorEnvelope, 401: ErrorEnvelope},
    auth="admin",
    tags=("monitoring",),
)
async def get_cron_health(request: web.Request) -> web.Response:
    query = read_query(request, CronHealthQuery)
    monitor = request.app[MONITOR]
    jobs = [job_view(report) for report in await monitor.report(query.jobName)]
    alerts = [
        store.render_alert(row)
        for row in await store.active_alerts(request.app[DATABASE].pool, query.jobName)
    ]
    body = CronHealth(
        status=overall(jobs, alerts),
        checkedAt=iso_utc(datetime.now(UTC)) or "",
        jobs=jobs,
        activeAlerts=[Alert.model_validate(alert) for alert in alerts],
        metrics=await _metrics(request, query.jobName) if query.includeMetrics else None,
        report=await _report(request) if query.includeReport else None,
    )
    # Only the parts not asked for are left out: a null inside (a running job's finishedAt, a
    # job without runs' averages) is part of the documented shape and stays.
    left_out = {part for part in ("metrics", "report") if getattr(body, part) is None}
    return web.json_response(body.model_dump(exclude=left_out))


@routes.route(
    "POST",
    "/api/monitoring/cron-health",
    summary="triggerHealthCheck: judge the alert rules now; getMetrics: one job's metrics",
    body=HealthAction,
    responses={200: HealthActionResult, 400: ErrorEnvelope, 401: ErrorEnvelope},
    auth="admin",
    tags=("monitoring",),
)
async def post_cron_health(request: web.Request) -> web.Response:
    action = await read_body(request, HealthAction)
    if action.action == "getMetrics":
        if action.jobName is None:
            raise ApiError(
                400,
                "jobName: required for getMetrics",
                details=[{"field": "jobName", "problem": "required for getMetrics"}],
            )
        metrics = await _metrics(request, action.jobName)
        result = JobMetricsResult(job=action.jobName, metrics=metrics[action.jobName])
        return web.json_response(result.model_dump())
    monitor = request.app[MONITOR]
    alerts = await monitor.check(action.jobName)
    jobs = [job_view(report) for report in await monitor.report(action.jobName)]
    checked = HealthCheckResult(
        status=overall(jobs, alerts),
        checkedAt=iso_utc(datetime.now(UTC)) or "",
        alerts=[Alert.model_validate(alert) for alert in alerts],
    )
    return web.json_response(checked.model_dump())


@routes.route(
    "GET",
    "/metrics",
    summary="Prometheus metrics: jobs, upstreams, breakers, quota, cache, SSE, loop lag, DB pool",
    responses={
        200: ("text/plain; version=0.0.4", "the Prometheus text exposition format"),
        401: ErrorEnvelope,
    },
    auth="admin",
    tags=("monitoring",),
)
async def get_metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
