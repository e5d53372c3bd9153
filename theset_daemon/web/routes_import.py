"""Artist import routes (CONTRACT.md section 3): start, status, and the live progress stream."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import BaseModel, Field, field_validator, model_validator

from theset_daemon.appkeys import DATABASE, IMPORTER, PROGRESS
from theset_daemon.db import imports
from theset_daemon.importer.guards import ClientRateLimited, Overloaded
from theset_daemon.importer.phases import ArtistNotFound, ImportRequest
from theset_daemon.progress import sse_response
from theset_daemon.progress.store import EVENT_NAMES, stream_exists
from theset_daemon.upstream.errors import QuotaExhausted, UpstreamError
from theset_daemon.web.api import EventStream, RouteTable, path_uuid, read_body
from theset_daemon.web.clients import request_client
from theset_daemon.web.errors import ApiError
from theset_daemon.web.models import ErrorEnvelope, RequestModel

routes = RouteTable()

# When upstream trouble gives no better hint, a client should come back after this long.
DEFAULT_RETRY_AFTER_S = 30


class ImportBody(RequestModel):
    spotify_id: str | None = Field(None, alias="spotifyId", pattern=r"^[0-9A-Za-z]{22}$")
    ticketmaster_id: str | None = Field(
        None, alias="ticketmasterId", pattern=r"^[A-Za-z0-9_-]{1,64}$"
    )
    name: str | None = Field(None, min_length=1, max_length=200)

    @field_validator("name")
    @classmethod
    def _not_blank(cls, name: str | None) -> str | None:
        if name is not None and not name.strip():
            raise ValueError("must not be blank")
        # Postgres text and jsonb cannot hold U+0000, and the request is stored with its job.
        if name is not None and "\x00" in name:
            raise ValueError("must not contain the NUL character (U+0000)")
        return name.strip() if name is not None else None

    @model_validator(mode="after")
    def _exactly_one(self) -> ImportBody:
        given = [v for v in (self.spotify_id, self.ticketmaster_id, self.name) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of spotifyId, ticketmasterId, name")
        return self


class Counts(BaseModel):
    shows: int
    venues: int
    albums: int
    songs: int


class JobError(BaseModel):
    code: str = Field(
        description="shows_unavailable or songs_unavailable on a partial import (the phase "
        "that failed); import_failed or internal on a failed one; gave_up for a job "
        "interrupted too often"
    )
    message: str


class ImportStatus(BaseModel):
    jobId: str
    artistId: str
    status: Literal["running", "completed", "partial", "failed", "interrupted"] = Field(
        description="partial: one of phases 2-3 failed, the other's data is stored, and the "
        "next sync fills in the rest; it ends with the event complete, like completed"
    )
    stage: Literal["artist", "shows", "songs", "done"]
    progress: int = Field(ge=0, le=100)
    message: str
    counts: Counts
    error: JobError | None
    startedAt: str
    updatedAt: str
    finishedAt: str | None


class ImportedArtist(BaseModel):
    id: str
    slug: str
    name: str
    spotifyId: str
    imageUrl: str | None


class ImportStarted(BaseModel):
    jobId: str
    status: Literal["running", "completed"] = Field(
        description="running, or completed for a reused import"
    )
    artist: ImportedArtist
    progressUrl: str
    statusUrl: str
    deduplicated: bool = Field(False, description="200: the artist's running job, joined")
    reused: bool = Field(
        False,
        description="200: the artist's import completed within import.reuse_within_s; "
        "no provider was called",
    )


@routes.route(
    "POST",
    "/api/artists/import",
    summary="Import an artist: phase 1 now (202), shows and songs in the background; 200 for "
    "a running job (deduplicated) or a recent completed one (reused)",
    body=ImportBody,
    responses={
        202: ImportStarted,
        200: ImportStarted,
        400: ErrorEnvelope,
        404: ErrorEnvelope,
        429: ErrorEnvelope,
        503: ErrorEnvelope,
    },
    cors=True,
    tags=("import",),
)
async def start_import(request: web.Request) -> web.Response:
    body = await read_body(request, ImportBody)
    ask = ImportRequest(body.spotify_id, body.ticketmaster_id, body.name)
    try:
        started = await request.app[IMPORTER].start(ask, request_client(request))
    except ClientRateLimited as exc:
        raise ApiError(429, str(exc), headers={"Retry-After": f"{exc.retry_after_s:.0f}"}) from None
    except Overloaded as exc:
        raise ApiError(
            503, str(exc), code="overloaded", headers={"Retry-After": f"{exc.retry_after_s:.0f}"}
        ) from None
    except ArtistNotFound as exc:
        raise ApiError(404, str(exc)) from None
    except QuotaExhausted as exc:
        raise ApiError(
            503,
            f"{exc.provider}'s daily quota for imports is used up; try again after it resets",
            code="quota_exhausted",
            headers={"Retry-After": f"{max(1, round(exc.retry_after_s))}"},
        ) from None
    except UpstreamError as exc:
        retry_after = getattr(exc, "retry_after_s", None) or DEFAULT_RETRY_AFTER_S
        raise ApiError(
            503,
            f"{exc.provider} is unavailable right now; try again later",
            headers={"Retry-After": f"{max(1, round(retry_after))}"},
        ) from None
    except TimeoutError:
        raise ApiError(
            503,
            "the artist could not be resolved within the time budget; try again",
            headers={"Retry-After": "5"},
        ) from None
    job_id = started.status["jobId"]
    answer = ImportStarted(
        jobId=job_id,
        status="completed" if started.reused else "running",
        artist=ImportedArtist(**started.artist),
        progressUrl=f"/api/artists/import/progress/{job_id}",
        statusUrl=f"/api/artists/import/{job_id}",
        deduplicated=started.deduplicated,
        reused=started.reused,
    )
    # A new job's answer names neither flag; a joined or reused one names its own.
    return web.json_response(
        answer.model_dump(exclude_defaults=True),
        status=200 if started.deduplicated or started.reused else 202,
    )


@routes.route(
    "GET",
    "/api/artists/import/{jobId}",
    summary="The state of an import job",
    responses={200: ImportStatus, 404: ErrorEnvelope},
    cors=True,
    tags=("import",),
)
async def import_status(request: web.Request) -> web.Response:
    row = await imports.fetch(request.app[DATABASE].pool, path_uuid(request, "jobId", "import job"))
    if row is None:
        raise ApiError(404, "no such import job")
    return web.json_response(imports.render(row), headers={"Cache-Control": "no-store"})


@routes.route(
    "GET",
    "/api/artists/import/progress/{jobId}",
    summary="Server-Sent Events: the job's progress, replayable with Last-Event-ID",
    responses={
        200: EventStream(
            "progress events, then complete (status completed or partial) or failed",
            ImportStatus,
            EVENT_NAMES,
        ),
        204: None,
        404: ErrorEnvelope,
    },
    headers=("Last-Event-ID",),
    cors=True,
    tags=("import",),
)
async def import_progress(request: web.Request) -> web.StreamResponse:
    job_id = path_uuid(request, "jobId", "import job")
    if not await stream_exists(request.app[DATABASE].pool, "import", job_id):
        raise ApiError(404, "no such import job")
    return await sse_response(request, request.app[PROGRESS], "import", job_id)
