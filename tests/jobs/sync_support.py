"""What the sync-job tests share: the real database, cache and simulated upstreams, a context for
driving a job function directly, and helpers to seed the catalog and read the simulator.

End-to-end tests go through the real job runner (:meth:`SyncEnv.run_job`). ``Recorder`` stands
in for the runner's reporter where a test drives a job function or the pipeline directly, to look
at each progress call, checkpoint and failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

import aiohttp
from prometheus_client import CollectorRegistry

from tests.plugins.simulator import UNTHROTTLED_CONFIG
from theset_daemon import config
from theset_daemon.app import open_upstreams
from theset_daemon.cache import Cache, open_cache
from theset_daemon.config import SettingsHolder
from theset_daemon.db.pool import Database, open_database
from theset_daemon.durable import new_owner_id
from theset_daemon.importer import phases
from theset_daemon.jobs.context import JobContext, JobName, JobParams, RunReporter
from theset_daemon.jobs.runner import JobRunner
from theset_daemon.lifetime import started
from theset_daemon.presence import Presence
from theset_daemon.upstream.clients import Shared, Upstreams

# No test here measures rates: the simulator is unthrottled (the ``unthrottled_simulator`` fixture,
# autouse in tests/jobs) and the clients send as fast as the config allows.
BASE_CONFIG = """
[log]
level = "warning"
[upstream.simulator]
artists = {artists}
latency_ms = 0
{unthrottled}
[upstream.spotify.retry]
base_delay_s = 0.05
[upstream.ticketmaster.retry]
base_delay_s = 0.05
"""


@dataclass
class Recorder:
    progress: list[tuple[int, int, dict[str, Any]]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    failures: list[tuple[UUID | str | None, str]] = field(default_factory=list)

    async def progress_(self, done: int, total: int, summary: Mapping[str, Any] | None) -> None:
        self.progress.append((done, total, dict(summary or {})))

    async def checkpoint(self, checkpoint: Mapping[str, Any]) -> None:
        self.checkpoints.append(dict(checkpoint))

    def item_failed(self, artist_id: UUID | str | None, message: str) -> None:
        self.failures.append((artist_id, message))


class _Reporter:
    """The RunReporter protocol over a Recorder (``progress`` is both a method and a list)."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    async def progress(
        self, done: int, total: int, summary: Mapping[str, Any] | None = None
    ) -> None:
        await self.recorder.progress_(done, total, summary)

    async def checkpoint(self, checkpoint: Mapping[str, Any]) -> None:
        await self.recorder.checkpoint(checkpoint)

    def item_failed(self, artist_id: UUID | str | None, message: str) -> None:
        self.recorder.item_failed(artist_id, message)


class Resources(Protocol):
    """The real resources a job runs over (the sync and the catalog jobs' test environments)."""

    holder: SettingsHolder
    database: Database
    cache: Cache
    upstreams: Upstreams


def job_context(
    resources: Resources,
    job: JobName,
    params: JobParams,
    reporter: RunReporter,
    *,
    checkpoint: Mapping[str, Any] | None = None,
    stopping: asyncio.Event | None = None,
) -> JobContext:
    """A context for driving a job function (or the pipeline) directly, as a fresh run over
    ``resources``: a new run id, ``checkpoint`` (copied) to resume from, ``stopping`` to stop it."""
    return JobContext(
        run_id=uuid.uuid4(),
        job=job,
        params=params,
        database=resources.database,
        upstreams=resources.upstreams,
        cache=resources.cache,
        holder=resources.holder,
        reporter=reporter,
        stopping=stopping or asyncio.Event(),
        checkpoint=dict(checkpoint or {}),
    )


@dataclass
class SyncEnv:
    holder: SettingsHolder
    database: Database
    cache: Cache
    upstreams: Upstreams
    control: aiohttp.ClientSession

    @property
    def sim_url(self) -> str:
        assert self.upstreams.simulator_url is not None
        return self.upstreams.simulator_url

    def context(
        self,
        job: JobName,
        params: JobParams,
        *,
        checkpoint: dict[str, Any] | None = None,
        stopping: asyncio.Event | None = None,
    ) -> tuple[JobContext, Recorder]:
        recorder = Recorder()
        ctx = job_context(
            self, job, params, _Reporter(recorder), checkpoint=checkpoint, stopping=stopping
        )
        return ctx, recorder

    def set_job(self, job: str, **values: Any) -> None:
        """Change ``[jobs.<job>]`` the way a SIGHUP would: a new settings object swapped in."""
        current = self.holder.current
        attr = job.replace("-", "_")
        section = getattr(current.jobs, attr).model_copy(update=values)
        jobs = current.jobs.model_copy(update={attr: section})
        self.holder.current = current.model_copy(update={"jobs": jobs})

    def set_upstream_mode(self, api_mode: str) -> None:
        """Spotify's access level in the daemon's settings (as after a SIGHUP)."""
        current = self.holder.current
        spotify = current.upstream.spotify.model_copy(update={"api_mode": api_mode})
        upstream = current.upstream.model_copy(update={"spotify": spotify})
        self.holder.current = current.model_copy(update={"upstream": upstream})

    async def sim_get(self, path: str) -> Any:
        async with self.control.get(self.sim_url + path) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def sim_post(self, path: str, body: Any) -> Any:
        async with self.control.post(self.sim_url + path, json=body) as response:
            assert response.status < 300, await response.text()
            return await response.json() if response.content_length != 0 else None

    async def sim_catalog(self, limit: int = 100) -> list[dict[str, Any]]:
        artists: list[dict[str, Any]] = (await self.sim_get(f"/_sim/catalog?limit={limit}"))[
            "artists"
        ]
        return artists

    async def stats(self) -> dict[str, Any]:
        providers: dict[str, Any] = (await self.sim_get("/_sim/stats"))["providers"]
        return providers

    async def reset_stats(self) -> None:
        async with self.control.delete(self.sim_url + "/_sim/stats") as response:
            assert response.status < 300

    async def run_job(
        self, job: JobName, body: Mapping[str, Any] | None = None, *, scheduled: bool = False
    ) -> dict[str, Any]:
        """One run through the real job runner (lease, cron_logs row, status); the ended Run.
        Triggered from the CLI, or with ``scheduled`` as the scheduler fires it (keyed by its
        fire time, here now; the scheduler sends no body, its parameters come from ``set_job``)."""
        runner = JobRunner(self.database, self.upstreams, self.cache, self.holder)
        await runner.start()
        try:
            if not scheduled:
                return await runner.run(job, body, trigger="cli")
            fired_at = dt.datetime.now(dt.UTC)
            return await runner.wait(
                await runner.trigger(job, body, trigger="schedule", scheduled_for=fired_at)
            )
        finally:
            await runner.close()

    async def run_succeeding(
        self,
        job: JobName,
        body: Mapping[str, Any],
        summary_keys: set[str],
        *,
        scheduled: bool = False,
    ) -> dict[str, Any]:
        """:meth:`run_job`, which must succeed without errors, with a summary of exactly
        ``summary_keys`` and one progress step per selected artist; the summary."""
        run = await self.run_job(job, body, scheduled=scheduled)
        assert run["status"] == "succeeded", run
        assert run["errors"] == []
        summary: dict[str, Any] = run["summary"]
        assert set(summary) == summary_keys
        assert run["progress"]["done"] == summary["selected"]
        return summary

    async def import_artist(self, spotify_id: str) -> UUID:
        """An artist imported the way the importer does it (phases 1-3, no HTTP)."""
        artist, tm_id = await phases.resolve_artist(
            self.upstreams, phases.ImportRequest(spotify_id=spotify_id)
        )
        from theset_daemon.db import catalog as store

        async with self.database.pool.acquire() as conn:
            artist_id, _slug = await store.upsert_artist(conn, phases.artist_row(artist, tm_id))
        pool = self.database.pool
        await phases.import_shows(self.upstreams, pool, artist_id, artist.name)
        await phases.import_songs(self.upstreams, pool, artist_id, artist.id)
        return artist_id


@contextlib.asynccontextmanager
async def sync_env(
    database_url: str, *, artists: int = 12, extra: str = ""
) -> AsyncIterator[SyncEnv]:
    text = BASE_CONFIG.format(artists=artists, unthrottled=UNTHROTTLED_CONFIG) + extra
    holder = SettingsHolder(config.parse(text, {"DATABASE_URL": database_url}), Path("unused.toml"))
    registry = CollectorRegistry()
    async with (
        open_database(holder.current.database) as database,
        open_cache(holder, registry) as cache,
        # On the key's shared budget, as the daemon runs them (``app.upstreams_ctx``): every
        # request reserves its unit in the durable daily ledger.
        started(Presence(database, new_owner_id())) as presence,
        open_upstreams(holder, registry, shared=Shared(database, presence)) as upstreams,
        aiohttp.ClientSession() as control,
    ):
        yield SyncEnv(holder, database, cache, upstreams, control)


def requests_of(stats: Mapping[str, Any], provider: str, endpoint: str | None = None) -> int:
    section = stats[provider]
    if endpoint is None:
        return int(section["requests"])
    return int(section["by_endpoint"].get(endpoint, 0))
