"""The status page as an operator's dashboard: its scripts and styles, the 7-day run history its
charts draw, and its "run now" button (CONTRACT.md section 5).

The page (``routes_status.py``) is plain HTML; everything it runs comes from this origin, as
separate files (``status.css``, ``status.js``, ``charts.js``, ``import.js``), so it works
offline and under a ``Content-Security-Policy`` of ``default-src 'self'`` with no inline script
or style.

Charts are inline SVG drawn by ``charts.js`` (about a hundred lines): bars of run durations
coloured by outcome, runs per day by outcome, a provider's quota burn-down with its reserve line,
a rate against its limit. A chart library would be ten to a hundred times that, to vendor, keep
up to date and license, for four chart shapes; SVG built with ``createElementNS`` also keeps the
page's rule that data only ever reaches the DOM as text or numbers.

Per provider the page reuses the snapshot's figures (``routes_upstream.py``: quota, use by
class, reserve, breaker, forecast) and computes nothing new on the server. Its "rate now" is the
change of the day's counts between snapshots over the last 10 s: those counts are the shared
ledger's, one per key for every daemon, which is what the key's rate limit bounds; a sampler on
the server would see this daemon's sends only, and cost state for a figure only the page shows.

``GET /status/history``: per job, its runs of the last ``HISTORY_DAYS`` UTC days (today
included), newest first and at most ``HISTORY_RUNS_PER_JOB`` each, with the exact count per day
and outcome beside them. The page fetches it on load and again when a run starts or ends (it
sees that in the snapshot stream), not every second: a week of runs is too much to resend per
tick.

``POST /status/jobs/<job>/run``: starts the job now with its configured defaults, through the
same path as ``POST /api/cron/<job>`` (``routes_cron.start_run``, trigger ``http``), so a
second run gets the same ``409 already_running`` with the current ``runId``. It takes the admin
key like the page, and is refused (403 ``forbidden``) unless the request comes from the page
itself: its origin and its CSRF token (``same_origin.py``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from importlib import resources

from aiohttp import web
from pydantic import BaseModel

from theset_daemon.appkeys import DATABASE, RUNNER, SETTINGS
from theset_daemon.db import monitoring as monitoring_db
from theset_daemon.jobs.context import JOB_NAMES
from theset_daemon.timestamps import iso_utc
from theset_daemon.web.api import Handler, RouteTable
from theset_daemon.web.errors import ApiError
from theset_daemon.web.models import ErrorEnvelope
from theset_daemon.web.routes_cron import AlreadyRunningEnvelope, RunStarted, start_run, started
from theset_daemon.web.same_origin import refuse_cross_site, refuse_without_token

routes = RouteTable()

HISTORY_DAYS = 7
#: Enough for an hourly job's week (168) with room for triggered runs; bounds the answer.
HISTORY_RUNS_PER_JOB = 400
#: The page's own files: name -> media type. Served as they are, no build step.
ASSETS = {
    "status.css": "text/css",
    "status.js": "text/javascript",
    "charts.js": "text/javascript",
    "import.js": "text/javascript",
}


class HistoryRun(BaseModel):
    runId: str
    trigger: str
    status: str
    startedAt: str
    #: Null until the run ends (running or interrupted).
    durationMs: int | None


class HistoryDay(BaseModel):
    #: The UTC day, ``YYYY-MM-DD``.
    day: str
    #: Runs started that day, by status (only the statuses that occurred).
    runs: dict[str, int]


class JobHistory(BaseModel):
    #: Newest first, at most ``HISTORY_RUNS_PER_JOB``.
    runs: list[HistoryRun]
    #: Every day of the period, oldest first, zeros included.
    days: list[HistoryDay]
    #: Whether the period held more runs than ``runs`` lists (``days`` counts them all).
    capped: bool


class RunHistory(BaseModel):
    since: str
    until: str
    jobs: dict[str, JobHistory]


async def run_history(app: web.Application, now: datetime) -> RunHistory:
    first_day = now.date() - timedelta(days=HISTORY_DAYS - 1)
    since = datetime.combine(first_day, datetime.min.time(), UTC)
    pool = app[DATABASE].pool
    rows = await monitoring_db.run_history(pool, JOB_NAMES, since, HISTORY_RUNS_PER_JOB)
    counts: dict[str, dict[date, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for row in await monitoring_db.runs_by_day(pool, since):
        counts[row["job_name"]][row["day"]][row["status"]] = row["runs"]
    runs: dict[str, list[HistoryRun]] = defaultdict(list)
    for row in rows:
        runs[row["job_name"]].append(
            HistoryRun(
                runId=str(row["id"]),
                trigger=row["trigger"],
                status=row["status"],
                startedAt=iso_utc(row["started_at"]) or "",
                durationMs=row["duration_ms"] if row["finished_at"] is not None else None,
            )
        )
    days = [first_day + timedelta(days=n) for n in range(HISTORY_DAYS)]
    jobs: dict[str, JobHistory] = {}
    for job in JOB_NAMES:
        per_day = [HistoryDay(day=day.isoformat(), runs=counts[job][day]) for day in days]
        total = sum(sum(day.runs.values()) for day in per_day)
        jobs[job] = JobHistory(runs=runs[job], days=per_day, capped=total > len(runs[job]))
    return RunHistory(since=iso_utc(since) or "", until=iso_utc(now) or "", jobs=jobs)


@routes.route(
    "GET",
    "/status/history",
    summary="Each job's runs of the last 7 days, for the status page's charts",
    responses={200: RunHistory, 401: ErrorEnvelope},
    auth="admin",
    basic_auth=True,
    tags=("monitoring",),
)
async def get_status_history(request: web.Request) -> web.Response:
    body = await run_history(request.app, datetime.now(UTC))
    return web.json_response(body.model_dump(), headers={"Cache-Control": "no-store"})


@routes.route(
    "POST",
    "/status/jobs/{job}/run",
    summary="The status page's run-now button: start the job with its defaults "
    "(same origin and X-CSRF-Token only)",
    responses={
        202: RunStarted,
        400: ErrorEnvelope,
        403: ErrorEnvelope,
        404: ErrorEnvelope,
        409: AlreadyRunningEnvelope,
        503: ErrorEnvelope,
    },
    auth="admin",
    basic_auth=True,
    tags=("monitoring",),
)
async def run_job_now(request: web.Request) -> web.Response:
    # Refused before anything else: a cross-site request learns nothing, not even the job names.
    refuse_cross_site(request.headers, request.host)
    admin_key = request.app[SETTINGS].current.auth.admin_api_key.get_secret_value()
    refuse_without_token(request.headers, admin_key)
    job = request.match_info["job"]
    if job not in JOB_NAMES:  # narrows it to a JobName
        raise ApiError(404, "no such job")
    run_id = await start_run(request.app[RUNNER], job, {}, "http")
    return web.json_response(started(str(run_id), job), status=202)


def _asset_handler(name: str, media_type: str) -> Handler:
    body = resources.files("theset_daemon.web").joinpath(name).read_bytes()

    async def asset(_request: web.Request) -> web.Response:
        return web.Response(
            body=body,
            content_type=media_type,
            charset="utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    asset.__name__ = "get_status_" + name.replace(".", "_")  # the OpenAPI operationId
    return asset


for _name, _media_type in ASSETS.items():
    routes.route(
        "GET",
        f"/status/{_name}",
        summary=f"The status page's {_name}",
        responses={200: (_media_type, _name), 401: ErrorEnvelope},
        auth="admin",
        basic_auth=True,
        tags=("monitoring",),
    )(_asset_handler(_name, _media_type))
