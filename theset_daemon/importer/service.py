"""The import orchestrator: phase 1 in the request, phases 2 and 3 as durable tasks.

Crash safety is the durable-task engine's (``durable``): each job records a checkpoint (which
phases are done) with every state change, and its owner heartbeats (the claim's renewal) every
``HEARTBEAT_INTERVAL_S`` while it runs. At start-up, and every ``SWEEP_INTERVAL_S`` after, the
daemon claims jobs that were ``interrupted`` by a SIGTERM or left ``running`` by an owner silent
for ``STALE_AFTER_S``, and resumes them from their checkpoint; a job that keeps dying is failed
after ``durable.MAX_ATTEMPTS``, so no job stays ``running`` forever. The importer is the
engine's :class:`~theset_daemon.durable.TaskStore` of imports.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from theset_daemon import durable
from theset_daemon.cache import Cache
from theset_daemon.cache.reads import artists_changed
from theset_daemon.config import SettingsHolder
from theset_daemon.db import catalog as store
from theset_daemon.db import imports
from theset_daemon.db.pool import Database
from theset_daemon.durable import DurableTasks
from theset_daemon.importer.phases import (
    ImportRequest,
    PhaseResult,
    artist_row,
    import_shows,
    import_songs,
    resolve_artist,
)
from theset_daemon.log import get_logger
from theset_daemon.upstream.clients import Upstreams

log = get_logger(__name__)

HEARTBEAT_INTERVAL_S = 10.0
SWEEP_INTERVAL_S = 15.0
STALE_AFTER_S = 45.0  # three missed heartbeats: the owner is gone
# Imports whose phases 2-3 run at once; the rest wait their turn. The providers' rates bound the
# throughput anyway; this bounds the database connections background work can hold, so the
# phase 1 of a new import (a person waiting) always finds one free.
MAX_CONCURRENT_IMPORTS = 3


class ClientRateLimited(Exception):
    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"too many imports; retry in {retry_after_s:.0f} s")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class Started:
    status: dict[str, Any]
    artist: dict[str, Any]
    deduplicated: bool


class PerClientLimit:
    """At most ``per_minute`` imports per client in any sliding minute."""

    MAX_CLIENTS = 10_000  # bound on memory under a flood of distinct addresses

    def __init__(self) -> None:
        self._windows: dict[str, deque[float]] = {}

    def check(self, client: str, per_minute: int) -> None:
        now = time.monotonic()
        window = self._windows.setdefault(client, deque())
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= per_minute:
            raise ClientRateLimited(max(1.0, window[0] + 60 - now))
        window.append(now)
        if len(self._windows) > self.MAX_CLIENTS:
            stale = [c for c, w in self._windows.items() if not w or w[-1] <= now - 60]
            for key in stale:
                del self._windows[key]


class Importer:
    def __init__(
        self, database: Database, upstreams: Upstreams, holder: SettingsHolder, cache: Cache
    ) -> None:
        self._database = database
        self._cache = cache
        self._upstreams = upstreams
        self._holder = holder
        # On shutdown, phases in flight get the drain, then are cancelled and marked
        # interrupted; they are idempotent, so a resume redoes at most one phase.
        self.tasks: DurableTasks[UUID] = DurableTasks(
            "import", self, renew_interval_s=HEARTBEAT_INTERVAL_S,
            sweep_interval_s=SWEEP_INTERVAL_S,
            grace_s=lambda: holder.current.shutdown.grace_seconds,
        )  # fmt: skip
        self.owner_id = self.tasks.owner_id
        self._limit = PerClientLimit()
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_IMPORTS)

    @property
    def running(self) -> int:
        return len(self.tasks)

    # --- phase 1 ------------------------------------------------------------------------------

    async def start(self, request: ImportRequest, client: str) -> Started:
        """Resolve and upsert the artist, then create (or join) its job. Raises
        :class:`ClientRateLimited`, ``ArtistNotFound``, ``UpstreamError`` or ``TimeoutError``."""
        settings = self._holder.current.import_
        self._limit.check(client, settings.per_client_per_minute)
        pool = self._database.pool
        async with asyncio.timeout(settings.phase1_timeout_seconds):
            artist, tm_id = await resolve_artist(self._upstreams, request)
            stored = artist_row(artist, tm_id)
            async with pool.acquire() as conn:
                artist_id, slug = await store.upsert_artist(conn, stored)
                row, deduplicated = await imports.create_or_join(
                    conn, artist_id, request.as_json(), self.owner_id
                )
        if not deduplicated:
            self._launch(row["job_id"], artist_id, artist.id, artist.name, {})
            log.info("import_started", job_id=str(row["job_id"]), artist_id=str(artist_id))
        return Started(
            status=imports.render(row),
            artist={
                "id": str(artist_id),
                "slug": slug,
                "name": artist.name,
                "spotifyId": artist.id,
                "imageUrl": stored.image_url,  # the image stored, not merely the first
            },
            deduplicated=deduplicated,
        )

    # --- phases 2 and 3 -----------------------------------------------------------------------

    def _launch(
        self,
        job_id: UUID,
        artist_id: UUID,
        spotify_id: str,
        name: str,
        checkpoint: dict[str, Any],
    ) -> None:
        self.tasks.launch(
            self.tasks.new_claim(job_id, job_id=str(job_id)),
            self._run(job_id, artist_id, spotify_id, name, dict(checkpoint)),
            name=f"import-{job_id}",
        )

    async def _run(
        self,
        job_id: UUID,
        artist_id: UUID,
        spotify_id: str,
        name: str,
        checkpoint: dict[str, Any],
    ) -> None:
        pool = self._database.pool
        warnings: list[str] = list(checkpoint.get("warnings", []))
        slot_held = False
        try:
            if self._slots.locked():
                await imports.update_and_record(pool, job_id, message="queued behind other imports")
            await self._slots.acquire()
            slot_held = True
            # Shows (Ticketmaster) and songs (Spotify) use different providers: run them at once.
            await imports.update_and_record(
                pool, job_id, stage="shows", progress=15,
                message="importing shows, venues and the song catalog",
            )  # fmt: skip

            async def phase(name: str, work: Callable[[], Awaitable[PhaseResult]]) -> None:
                if checkpoint.get(name):
                    return  # done before an interruption
                result = await work()
                warnings.extend(result.warnings)
                checkpoint.update({name: True, "warnings": warnings})
                if name == "songs":
                    checkpoint["albums"] = result.albums
                counts = await self._counts(artist_id)
                finished = sum(1 for p in ("shows", "songs") if checkpoint.get(p))
                await imports.update_and_record(
                    pool, job_id, stage="songs" if checkpoint.get("shows") else "shows",
                    progress=15 + 40 * finished, checkpoint=checkpoint,
                    message=f"{name} stored", shows_count=counts["shows"],
                    venues_count=counts["venues"], songs_count=counts["songs"],
                )  # fmt: skip

            async with asyncio.TaskGroup() as phases:
                phases.create_task(
                    phase("shows", lambda: import_shows(self._upstreams, pool, artist_id, name))
                )
                phases.create_task(
                    phase(
                        "songs", lambda: import_songs(self._upstreams, pool, artist_id, spotify_id)
                    )
                )
            counts = await self._counts(artist_id)
            message = "import complete" + (
                f" with {len(warnings)} warning(s): " + "; ".join(warnings) if warnings else ""
            )
            # The end write gives up the claim: no heartbeat may take it for a lost one now.
            self.tasks.release(job_id)
            await imports.update_and_record(
                pool,
                job_id,
                event="complete",
                status="completed",
                stage="done",
                progress=100,
                message=message[:2000],
                checkpoint=checkpoint,
                shows_count=counts["shows"],
                venues_count=counts["venues"],
                albums_count=checkpoint.get("albums", 0),
                songs_count=counts["songs"],
            )
            await artists_changed(self._cache, [artist_id])
            log.info("import_finished", job_id=str(job_id), warnings=len(warnings), **counts)
        except asyncio.CancelledError:
            # Shutdown: the checkpoint must land even though we are being cancelled.
            marking = imports.mark_interrupted(pool, job_id, self.owner_id, checkpoint)
            if await asyncio.shield(marking):
                log.info("import_interrupted", job_id=str(job_id), checkpoint=checkpoint)
            raise
        except Exception as exc:
            log.exception("import_failed", job_id=str(job_id))
            cause = exc.exceptions[0] if isinstance(exc, ExceptionGroup) else exc
            error = {"code": type(cause).__name__, "message": str(cause)[:500]}
            self.tasks.release(job_id)
            with contextlib.suppress(Exception):  # the database itself may be what failed
                await imports.update_and_record(
                    pool,
                    job_id,
                    event="failed",
                    status="failed",
                    error=error,
                    message=f"import failed: {error['message']}",
                    checkpoint=checkpoint,
                )
        finally:
            if slot_held:
                self._slots.release()

    async def _counts(self, artist_id: UUID) -> dict[str, int]:
        async with self._database.pool.acquire() as conn:
            return await store.artist_counts(conn, artist_id)

    # --- the TaskStore of imports ---------------------------------------------------------

    async def owners(self) -> Sequence[str]:
        return await imports.running_owners(self._database.pool)

    async def lapse(self, owner_ids: Sequence[str]) -> None:
        await imports.release_dead_owners(self._database.pool, owner_ids)

    async def renew(self, owner_id: str, keys: Sequence[UUID]) -> Sequence[UUID]:
        kept = await imports.heartbeat(self._database.pool, keys, owner_id)
        return [job_id for job_id in keys if job_id not in kept]

    async def resume(self) -> list[UUID]:
        pool = self._database.pool
        claimed, exhausted = await imports.claim_resumable(
            pool, self.owner_id, STALE_AFTER_S, durable.MAX_ATTEMPTS
        )
        for row in exhausted:
            await imports.update_and_record(
                pool,
                row["job_id"],
                event="failed",
                status="failed",
                error={
                    "code": "gave_up",
                    "message": "the import was interrupted too often, or a "
                    "newer import of the artist is running",
                },
                message="import abandoned",
            )
        for row in claimed:
            artist = await pool.fetchrow(
                "SELECT spotify_id, name FROM artists WHERE id = $1", row["artist_id"]
            )
            checkpoint = row["checkpoint"]
            assert artist is not None
            self._launch(
                row["job_id"], row["artist_id"], artist["spotify_id"], artist["name"], checkpoint
            )
            log.info("import_resumed", job_id=str(row["job_id"]), checkpoint=checkpoint)
        return [row["job_id"] for row in claimed]

    def begin_shutdown(self, drain_s: float | None = None) -> None:
        """Claim no more jobs, and start the drain of the running ones now (the stop calls
        this beside the jobs' ``begin_shutdown``): whatever still runs when the drain is over is
        cancelled then, and marks itself interrupted."""
        self.tasks.begin_shutdown(drain_s)

    async def close(self) -> None:
        await self.tasks.close()


@contextlib.asynccontextmanager
async def open_importer(
    database: Database, upstreams: Upstreams, holder: SettingsHolder, cache: Cache
) -> AsyncIterator[Importer]:
    importer = Importer(database, upstreams, holder, cache)
    await importer.tasks.start()
    try:
        yield importer
    finally:
        await importer.close()
