"""Cron routes (CONTRACT.md section 4): trigger a job, list and read runs, follow a run's events.

One ``POST /api/cron/<job>`` route is declared per job, each with that job's request model, so
``/api/openapi.json`` documents every body (a single ``{job}`` route could only document one).

``?trigger=cli`` marks a run as started by ``theset-daemon trigger``; the route only ever runs
with the cron secret, so only a holder of the secret can set it. ``?wait=true`` answers when the
run ends: 200 with the Run (succeeded or partial), 500 with the error and the Run (failed), or 202
with ``"status": "interrupted"`` when the daemon stopped first (the run resumes at the next start).
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from theset_daemon.appkeys import DATABASE, PROGRESS, RUNNER
from theset_daemon.db import runs
from theset_daemon.jobs.context import JOB_NAMES, JobName, Trigger
from theset_daemon.jobs.errors import AlreadyRunning, ShuttingDown
from theset_daemon.jobs.registry import JOBS
from theset_daemon.jobs.runner import JobRunner
from theset_daemon.jobs.summaries import JobSummary
from theset_daemon.progress import sse_response
from theset_daemon.progress.store import EVENT_NAMES, stream_exists
from theset_daemon.web.api import EventStream, Handler, RouteTable, path_uuid, read_body, read_query
from theset_daemon.web.errors import ApiError
from theset_daemon.web.models import ErrorBody, ErrorEnvelope, RequestModel

routes = RouteTable()

# While the daemon stops, a trigger is refused; a client should come back after the restart.
SHUTTING_DOWN_RETRY_AFTER_S = 10


class RunProgress(BaseModel):
    done: int
    total: int


class RunItemError(BaseModel):
    artistId: str | None
    message: str


class Run(BaseModel):
    """A cron run (CONTRACT.md section 4), plus ``scheduledFor`` (the fire time of a scheduled
    run), ``error`` (why a failed run failed) and ``attempts`` (2+ once resumed)."""

    runId: str
    job: JobName
    trigger: Trigger
    status: Literal["running", "succeeded", "partial", "failed", "interrupted"]
    scheduledFor: str | None
    startedAt: str
    finishedAt: str | None
    durationMs: int | None
    params: dict[str, Any]
    progress: RunProgress
    summary: JobSummary  # the job's; so far, while it runs (every field has a default)
    errors: list[RunItemError] = Field(max_length=50)
    error: str | None
    attempts: int


class RunStarted(BaseModel):
    runId: str
    job: JobName
    status: Literal["running", "interrupted"]
    statusUrl: str
    eventsUrl: str


class RunList(BaseModel):
    runs: list[Run]


class AlreadyRunningEnvelope(BaseModel):
    error: ErrorBody
    runId: str | None


class RunFailedEnvelope(BaseModel):
    error: ErrorBody
    run: Run


class TriggerQuery(RequestModel):
    wait: bool = False
    trigger: Literal["http", "cli"] = "http"


class RunsQuery(RequestModel):
    job: JobName | None = None
    limit: int = Field(20, ge=1, le=200)


async def start_run(
    runner: JobRunner, job: JobName, body: dict[str, Any], trigger: Trigger
) -> UUID:
    """Start a run through the job runner; its refusals as the contract's errors (409
    ``already_running`` with the current ``runId``, 503 while stopping, 400 for bad params).
    The cron route and the status page's "run now" button both start runs here."""
    try:
        return await runner.trigger(job, body, trigger=trigger)
    except AlreadyRunning as exc:
        raise ApiError(
            409,
            f"{job} is already running; follow the current run instead",
            extra={"runId": str(exc.run_id) if exc.run_id else None},
        ) from None
    except ShuttingDown:
        raise ApiError(
            503,
            "the daemon is stopping; trigger the job again once it is back",
            headers={"Retry-After": str(SHUTTING_DOWN_RETRY_AFTER_S)},
        ) from None
    except ValidationError as exc:  # the body was valid; the merged params were not
        raise ApiError(400, str(exc.errors()[0]["msg"])) from None


def started(run_id: str, job: str, status: str = "running") -> dict[str, Any]:
    """The 202 answer to a trigger: a :class:`RunStarted`."""
    return {
        "runId": run_id,
        "job": job,
        "status": status,
        "statusUrl": f"/api/cron/runs/{run_id}",
        "eventsUrl": f"/api/cron/runs/{run_id}/events",
    }


def _trigger_handler(job: JobName) -> Handler:
    async def trigger(request: web.Request) -> web.Response:
        query = read_query(request, TriggerQuery)
        runner = request.app[RUNNER]
        body = await read_body(request, runner.spec(job).params_model)
        params = body.model_dump(by_alias=True, exclude_unset=True)
        run_id = await start_run(runner, job, params, query.trigger)
        if not query.wait:
            return web.json_response(started(str(run_id), job), status=202)
        run = await runner.wait(run_id)
        if run["status"] in ("succeeded", "partial"):
            return web.json_response(run)
        if run["status"] == "failed":
            message = f"the run failed: {run.get('error') or 'see its errors'}"
            return ApiError(500, message[:500], extra={"run": run}).response()
        return web.json_response(started(str(run_id), job, "interrupted"), status=202)

    trigger.__name__ = f"trigger_{job.replace('-', '_')}"  # the OpenAPI operationId
    return trigger


for _job in JOB_NAMES:
    routes.route(
        "POST",
        f"/api/cron/{_job}",
        summary=f"Run {_job} now (202), or with ?wait=true when it ends",
        body=JOBS[_job].params_model,
        query=TriggerQuery,
        responses={
            202: RunStarted,
            200: Run,
            400: ErrorEnvelope,
            409: AlreadyRunningEnvelope,
            500: RunFailedEnvelope,
            503: ErrorEnvelope,
        },
        auth="cron",
        tags=("cron",),
    )(_trigger_handler(_job))


@routes.route(
    "GET",
    "/api/cron/runs",
    summary="Recent runs, newest first",
    query=RunsQuery,
    responses={200: RunList, 400: ErrorEnvelope},
    auth="cron_or_admin",
    tags=("cron",),
)
async def list_runs(request: web.Request) -> web.Response:
    query = read_query(request, RunsQuery)
    rows = await runs.recent(request.app[DATABASE].pool, query.job, query.limit)
    return web.json_response(
        {"runs": [runs.render(row) for row in rows]}, headers={"Cache-Control": "no-store"}
    )


@routes.route(
    "GET",
    "/api/cron/runs/{runId}",
    summary="One run",
    responses={200: Run, 404: ErrorEnvelope},
    auth="cron_or_admin",
    tags=("cron",),
)
async def get_run(request: web.Request) -> web.Response:
    row = await runs.fetch(request.app[DATABASE].pool, path_uuid(request, "runId", "run"))
    if row is None:
        raise ApiError(404, "no such run")
    return web.json_response(runs.render(row), headers={"Cache-Control": "no-store"})


@routes.route(
    "GET",
    "/api/cron/runs/{runId}/events",
    summary="Server-Sent Events: the run's progress (data: Run), replayable with Last-Event-ID",
    responses={
        200: EventStream("progress events, then complete or failed", Run, EVENT_NAMES),
        204: None,
        404: ErrorEnvelope,
    },
    headers=("Last-Event-ID",),
    auth="cron_or_admin",
    tags=("cron",),
)
async def run_events(request: web.Request) -> web.StreamResponse:
    run_id = path_uuid(request, "runId", "run")
    if not await stream_exists(request.app[DATABASE].pool, "run", run_id):
        raise ApiError(404, "no such run")
    return await sse_response(request, request.app[PROGRESS], "run", run_id)
