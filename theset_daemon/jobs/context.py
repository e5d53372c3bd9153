"""What a job sees of the daemon, and what it hands back to the runner.

A job function is ``async def run(ctx: JobContext) -> JobResult``. It reads its validated
parameters from ``ctx.params``, the reloadable pacing (``batch_size``, ``delay_s``) from
``ctx.pacing()`` each time it needs them (a SIGHUP may change them mid-run), reports
progress and per-item failures through ``ctx.reporter``, and saves a checkpoint whenever a unit of
work is durably written, so a run cut short by SIGTERM or a crash resumes from there. It stops
taking new items once ``ctx.stopping`` is set and returns what it has; the runner then marks the
run ``interrupted`` instead of ending it.

The runner turns the result into a status (CONTRACT.md section 8): ``failed`` when the job raised
or when every item failed, ``partial`` when some failed or a provider's quota share stopped the
run's calls to it (``jobs.quota_stops``), ``succeeded`` otherwise.

A job wraps each provider's part of an item in :meth:`JobContext.unless_spent`: once the run's
share of a provider's day is used, those parts are skipped (and left unsynced) while the rest of
the work goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from theset_daemon.cache import Cache
from theset_daemon.config import (
    BatchedJobSettings,
    CalculateTrendingOptions,
    CompleteCatalogSyncOptions,
    JobSettings,
    SettingsHolder,
    TrendingArtistSyncOptions,
    UpdateActiveArtistsOptions,
)
from theset_daemon.db.pool import Database
from theset_daemon.jobs.quota_stops import QuotaStops
from theset_daemon.jobs.summaries import Summary
from theset_daemon.log import get_logger
from theset_daemon.upstream.clients import Upstreams
from theset_daemon.upstream.errors import QuotaExhausted

log = get_logger(__name__)
T = TypeVar("T")

JobName = Literal[
    "update-active-artists", "trending-artist-sync", "complete-catalog-sync", "calculate-trending"
]
JOB_NAMES: tuple[JobName, ...] = (
    "update-active-artists",
    "trending-artist-sync",
    "complete-catalog-sync",
    "calculate-trending",
)
Trigger = Literal["schedule", "http", "cli"]

MAX_REPORTED_ERRORS = 50  # a Run's ``errors`` list is capped (CONTRACT.md section 4)


# --- request bodies (CONTRACT.md section 4): every field optional, defaults from [jobs.<job>] --


class JobParams(BaseModel):
    """A job's parameters, camelCase on the wire. Unknown fields are a 400, naming the field.
    Each job's fields, bounds and defaults are its ``*Options`` (``config.jobs``), shared with
    its ``[jobs.<job>]`` section."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, frozen=True, alias_generator=to_camel
    )


class UpdateActiveArtistsParams(JobParams, UpdateActiveArtistsOptions):
    pass


class TrendingArtistSyncParams(JobParams, TrendingArtistSyncOptions):
    pass


class CompleteCatalogSyncParams(JobParams, CompleteCatalogSyncOptions):
    pass


class CalculateTrendingParams(JobParams, CalculateTrendingOptions):
    pass


# --- what the runner gives a job ---------------------------------------------------------------


class RunReporter(Protocol):
    """The runner's side of a run: every call is durable once it returns."""

    async def progress(
        self, done: int, total: int, summary: Mapping[str, Any] | None = None
    ) -> None:
        """Record progress (and optionally the summary so far) and publish a ``progress`` event.
        Cheap to call often: the runner coalesces writes to a few per second."""

    async def checkpoint(self, checkpoint: Mapping[str, Any]) -> None:
        """Persist the resume point (JSON-serialisable); a resumed run gets it as
        ``ctx.checkpoint``."""

    def item_failed(self, artist_id: UUID | str | None, message: str) -> None:
        """Count one failed item; the first ``MAX_REPORTED_ERRORS`` go into the Run's ``errors``."""


@dataclass(slots=True)
class JobContext:
    run_id: UUID
    job: JobName
    params: JobParams
    database: Database
    upstreams: Upstreams
    cache: Cache
    holder: SettingsHolder
    reporter: RunReporter
    stopping: asyncio.Event
    checkpoint: dict[str, Any] = field(default_factory=dict)  # {} unless this run is resumed
    #: What started the run. A scheduled run lets the job choose its work; one triggered over
    #: HTTP or the CLI does what its body asks (CONTRACT.md section 9).
    trigger: Trigger = "http"
    #: When the run started, on the database's clock (a resumed run keeps its first start).
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: The providers whose share of the day this run has used up (``jobs.quota_stops``).
    quota: QuotaStops = field(default_factory=QuotaStops)

    def job_settings(self) -> JobSettings:
        """This job's ``[jobs.<job>]`` section as of now (reloadable)."""
        return self.holder.current.jobs.of(self.job)

    def pacing(self) -> BatchedJobSettings:
        """``batch_size`` and ``delay_s`` as of now (reloadable), for a job that walks artists
        through the pipeline."""
        section = self.job_settings()
        if not isinstance(section, BatchedJobSettings):
            raise TypeError(f"{self.job} has no batch_size or delay_s")
        return section

    def spent(self, provider: str) -> bool:
        """Whether this run has stopped calling ``provider`` (its quota share is used up)."""
        return self.quota.spent(provider)

    def quota_stopped(self, refusal: QuotaExhausted) -> None:
        """A request was refused for the day's quota: stop calling its provider for this run.
        No error is recorded; the run ends ``partial`` with ``quotaStopped``."""
        if self.quota.stop(refusal):
            log.warning(
                "job_quota_stopped", job=self.job, run_id=str(self.run_id),
                provider=refusal.provider, reason=refusal.reason,
                retry_after_s=round(refusal.retry_after_s, 1),
            )  # fmt: skip

    async def unless_spent(self, provider: str, call: Callable[[], Awaitable[T]]) -> T | None:
        """``call()``, unless ``provider`` is spent for this run; None when it is, or when the
        call (or anything it waited on) was refused for the quota, which then stops that
        provider. A refusal is never an item's failure: the caller leaves that kind of data
        unsynced (not stamped), so the next run takes it up."""
        if self.spent(provider):
            return None
        try:
            return await call()
        except QuotaExhausted as refusal:
            self.quota_stopped(refusal)
            return None


@dataclass(frozen=True, slots=True)
class JobResult:
    summary: Summary  # the job's summary model (``jobs.summaries``)
    items_total: int  # items attempted (artists, usually); 0 for jobs with no per-item work
    items_failed: int  # of those, how many failed (each also reported via item_failed)


JobFunction = Callable[[JobContext], Awaitable[JobResult]]
