"""``GET /status``: the operator's page (CONTRACT.md section 5), and the data it lives on.

The page is static files (``status.html``, and the styles, scripts and charts that
``routes_dashboard.py`` serves beside it: no build step, nothing from another origin), served
with a ``Content-Security-Policy`` that allows only its own origin and no framing, and with the
CSRF token its "run now" buttons send (``same_origin.py``). It opens ``/status/events``, an SSE
stream of *snapshots*: the jobs with their health state, last and next run, the active alerts,
the imports running or just finished, the recent runs, and each upstream's budget
(``routes_upstream.py``) with the refresh plan against it: the plan's requests a day against the
jobs' share of the day (its figures are cached a minute, ``monitoring/forecast.py``, so the
stream's ticks do not read the whole catalog each second). The page derives each key's rate now
from the day's counts of successive snapshots, and fetches the week's runs for its charts from
``/status/history`` (``routes_dashboard.py``) when a run starts or ends.
``/status/snapshot`` answers the same JSON once (the terminal's ``theset-daemon status`` reads it).

Every ``/status`` route takes the admin key as a bearer token or as the HTTP Basic password, so a
browser can open the page: the first 401 makes it ask, and it then sends the credentials with the
page's own requests, the stream included.

Why snapshots and not the progress events. An operator page has a handful of viewers and wants
the whole picture; the stream builds a snapshot every ``SNAPSHOT_INTERVAL_S`` and sends it only
when it changed (a ``: ping`` comment keeps a quiet stream alive). That is a few small queries
per second per open page, and an import or a run appears within a second of starting.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime
from importlib import resources

from aiohttp import web
from aiohttp.client_exceptions import ClientConnectionResetError
from pydantic import BaseModel

from theset_daemon import __version__
from theset_daemon.appkeys import DATABASE, MONITOR, RUNNER, SETTINGS, STOPPING, UPSTREAMS
from theset_daemon.db import monitoring as alerts_db
from theset_daemon.db import runs as runs_db
from theset_daemon.timestamps import iso_utc
from theset_daemon.web.api import EventStream, RouteTable
from theset_daemon.web.models import ErrorEnvelope
from theset_daemon.web.routes_monitoring import Alert, JobHealthView, Status, job_view, overall
from theset_daemon.web.routes_upstream import UpstreamProviders, forecasts, upstream_providers
from theset_daemon.web.same_origin import csrf_token

routes = RouteTable()

SNAPSHOT_INTERVAL_S = 1.0
RECENT_RUNS = 15
RECENT_IMPORTS_MINUTES = 10
PAGE = resources.files("theset_daemon.web").joinpath("status.html").read_bytes()
#: Where the page carries its CSRF token (``same_origin.py``); replaced per request.
CSRF_PLACEHOLDER = b"__CSRF_TOKEN__"
#: Only the page's own origin, for everything; no inline script or style; never framed.
PAGE_CSP = (
    "default-src 'self'; base-uri 'none'; form-action 'self'; object-src 'none'; "
    "frame-ancestors 'none'"
)


class StatusImport(BaseModel):
    jobId: str
    artist: str
    status: str
    stage: str
    progress: int
    message: str
    startedAt: str


class StatusRun(BaseModel):
    runId: str
    job: str
    trigger: str
    status: str
    startedAt: str | None
    durationMs: int | None
    done: int
    total: int
    error: str | None


class PlanAgainstBudget(BaseModel):
    """One provider's refresh plan against the jobs' share of its day (``monitoring/forecast.py``),
    exact where ``upstream``'s forecast is rounded: the page shows whether the plan fits."""

    requestsPerDay: float
    backgroundSharePerDay: float
    daysToRefreshAll: float
    fits: bool


class Snapshot(BaseModel):
    status: Status
    checkedAt: str
    instance: str
    version: str
    jobs: list[JobHealthView]
    activeAlerts: list[Alert]
    imports: list[StatusImport]
    recentRuns: list[StatusRun]
    #: Each provider's budget, as ``GET /api/monitoring/upstream`` answers it.
    upstream: UpstreamProviders
    #: Each provider's plan against its budget (what ``quota_insufficient`` judges).
    plan: dict[str, PlanAgainstBudget]
    #: Where the built-in simulator listens (``upstream.mode = "simulated"``), else null: its
    #: ``GET /_sim/catalog`` names the artists there are to import (``theset-daemon artists``).
    simulatorUrl: str | None = None


async def snapshot(app: web.Application) -> Snapshot:
    pool = app[DATABASE].pool
    jobs = [job_view(report) for report in await app[MONITOR].report()]
    alerts = [alerts_db.render_alert(row) for row in await alerts_db.active_alerts(pool)]
    imports = await pool.fetch(
        """SELECT i.job_id, a.name, i.status, i.stage, i.progress, i.message, i.started_at
           FROM import_status i JOIN artists a ON a.id = i.artist_id
           WHERE i.status IN ('running', 'interrupted')
              OR i.updated_at > now() - make_interval(mins => $1)
           ORDER BY i.started_at DESC LIMIT 20""",
        RECENT_IMPORTS_MINUTES,
    )
    recent = [runs_db.render(row) for row in await runs_db.recent(pool, None, RECENT_RUNS)]
    expected = await forecasts(app)
    upstream = await upstream_providers(app, datetime.now(UTC), expected)
    return Snapshot(
        status=overall(jobs, alerts),
        checkedAt=iso_utc(datetime.now(UTC)) or "",
        instance=app[RUNNER].holder_id,
        version=__version__,
        jobs=jobs,
        activeAlerts=[Alert.model_validate(alert) for alert in alerts],
        imports=[
            StatusImport(
                jobId=str(row["job_id"]),
                artist=row["name"],
                status=row["status"],
                stage=row["stage"],
                progress=row["progress"],
                message=row["message"],
                startedAt=iso_utc(row["started_at"]) or "",
            )
            for row in imports
        ],
        recentRuns=[
            StatusRun(
                runId=run["runId"],
                job=run["job"],
                trigger=run["trigger"],
                status=run["status"],
                startedAt=run["startedAt"],
                durationMs=run["durationMs"],
                done=run["progress"]["done"],
                total=run["progress"]["total"],
                error=run["error"],
            )
            for run in recent
        ],
        upstream=upstream,
        plan={
            name: PlanAgainstBudget(
                requestsPerDay=round(figures.requests_per_day, 1),
                backgroundSharePerDay=round(figures.share_per_day, 1),
                daysToRefreshAll=round(figures.days_to_refresh_all, 3),
                fits=figures.fits,
            )
            for name, figures in expected.items()
        },
        simulatorUrl=app[UPSTREAMS].simulator_url,
    )


@routes.route(
    "GET",
    "/status",
    summary="The operator's status page (HTML; live over SSE); admin bearer or Basic",
    responses={200: ("text/html", "the status page"), 401: ErrorEnvelope},
    auth="admin",
    basic_auth=True,
    tags=("monitoring",),
)
async def get_status_page(request: web.Request) -> web.Response:
    admin_key = request.app[SETTINGS].current.auth.admin_api_key.get_secret_value()
    # The token is URL-safe base64: nothing in it needs escaping inside the attribute.
    token = csrf_token(admin_key, request.headers.get("Authorization", ""))
    return web.Response(
        body=PAGE.replace(CSRF_PLACEHOLDER, token.encode()),
        content_type="text/html",
        charset="utf-8",
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": PAGE_CSP,
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "same-origin",
        },
    )


@routes.route(
    "GET",
    "/status/snapshot",
    summary="What the status page shows, as JSON, once",
    responses={200: Snapshot, 401: ErrorEnvelope},
    auth="admin",
    basic_auth=True,
    tags=("monitoring",),
)
async def get_status_snapshot(request: web.Request) -> web.Response:
    return web.json_response((await snapshot(request.app)).model_dump())


@routes.route(
    "GET",
    "/status/events",
    summary="SSE: a snapshot event whenever what the status page shows changes",
    responses={200: EventStream("snapshot events", Snapshot, ("snapshot",)), 401: ErrorEnvelope},
    auth="admin",
    basic_auth=True,
    tags=("monitoring",),
)
async def get_status_events(request: web.Request) -> web.StreamResponse:
    app = request.app
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    stopping = app[STOPPING]
    heartbeat_s = app[SETTINGS].current.sse.heartbeat_seconds
    last_sent, silent_since = "", asyncio.get_running_loop().time()
    with contextlib.suppress(ConnectionResetError, ClientConnectionResetError):
        await response.write(b"retry: 2000\n\n")
        while not stopping.is_set():
            current = await snapshot(app)
            # Sent whole (checkedAt included, as /status/snapshot), but only when something
            # other than the time of the check changed.
            seen = json.dumps(current.model_dump(exclude={"checkedAt"}))
            now = asyncio.get_running_loop().time()
            if seen != last_sent:
                data = current.model_dump_json()
                await response.write(f"event: snapshot\ndata: {data}\n\n".encode())
                last_sent, silent_since = seen, now
            elif now - silent_since >= heartbeat_s:
                await response.write(b": ping\n\n")
                silent_since = now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), SNAPSHOT_INTERVAL_S)
        await response.write_eof()
    return response
