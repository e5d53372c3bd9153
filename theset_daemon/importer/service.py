"""The import orchestrator: phase 1 in the request, phases 2 and 3 as durable tasks.

Phases 2 (shows) and 3 (songs) run side by side and independently: one failing never stops the
other. An import where one failed ends ``partial`` with that phase's code in ``error`` (both:
``failed``), and the artist is marked (``db.imports.mark_unsynced``) so the next sync fills in
what is missing. Before any of it, the guards of ``importer.guards`` and the reuse of a recent
import answer what they can without a provider.

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
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from theset_daemon import durable
from theset_daemon.cache import Cache
from theset_daemon.cache.reads import artists_changed
from theset_daemon.config import SettingsHolder
from theset_daemon.db import catalog as store
from theset_daemon.db import imports
from theset_daemon.db.pool import Database
from theset_daemon.durable import DurableTasks
from theset_daemon.importer.guards import Overloaded, PerClientLimit
from theset_daemon.importer.phases import (
    ImportRequest,
    PhaseResult,
    artist_row,
    import_shows,
    import_songs,
    resolve_artist,
)
from theset_daemon.log import get_logger
from theset_daemon.progress.store import EventName
from theset_daemon.upstream.clients import Upstreams

log = get_logger(__name__)

HEARTBEAT_INTERVAL_S = 10.0
SWEEP_INTERVAL_S = 15.0
STALE_AFTER_S = 45.0  # three missed heartbeats: the owner is gone

PHASES = ("shows", "songs")
#: What a client reads when a phase failed: the daemon's own words, never the exception's.
PHASE_ERRORS: dict[str, dict[str, str]] = {
    "shows": {
        "code": "shows_unavailable",
        "message": "the shows could not be imported now; the next sync fills them in",
    },
    "songs": {
        "code": "songs_unavailable",
        "message": "the song catalog could not be imported now; the next sync fills it in",
    },
}
BOTH_FAILED = {
    "code": "import_failed",
    "message": "neither the shows nor the song catalog could be imported now; try again later",
}
INTERNAL = {
    "code": "internal",
    "message": "the import stopped on an internal error; the daemon's log has the details",
}


@dataclass(frozen=True, slots=True)
class Started:
    status: dict[str, Any]
    artist: dict[str, Any]
    deduplicated: bool = False
    reused: bool = False


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
        # Imports between admission and launch (phase 1 under way): counted with the running
        # ones, so requests arriving together cannot all pass the cap.
        self._admitting = 0

    @property
    def running(self) -> int:
        """Imports whose phases 2-3 run on this daemon now, resumed ones included."""
        return len(self.tasks)

    # --- phase 1 ------------------------------------------------------------------------------

    async def start(self, request: ImportRequest, client: str) -> Started:
        """Answer from our own tables when they can (a recent completed import, or one running),
        else resolve and upsert the artist and create (or join) its job. Raises
        :class:`ClientRateLimited`, :class:`Overloaded`, ``ArtistNotFound``, ``UpstreamError``
        or ``TimeoutError``."""
        settings = self._holder.current.import_
        self._limit.check(client, settings.per_client_per_minute)
        known = await imports.latest_for_request(
            self._database.pool, request.as_json(), settings.reuse_within_s
        )
        answer = _known_answer(known)
        if answer is not None:
            return answer
        # One mechanism bounds the imports: at most ``max_running`` run at once on this daemon,
        # and a new one past it is refused rather than queued (a queue would hold a promise
        # the daemon may not keep before a restart, and let a client pile work up). Resumed
        # imports were admitted before and always run. The phases hold a database connection
        # only for their writes, so a phase 1 waits behind a few writes at most.
        if self.running + self._admitting >= settings.max_running:
            raise Overloaded(settings.max_running)
        self._admitting += 1
        try:
            return await self._start_new(request, settings.phase1_timeout_seconds)
        finally:
            self._admitting -= 1

    async def _start_new(self, request: ImportRequest, timeout_s: float) -> Started:
        pool = self._database.pool
        async with asyncio.timeout(timeout_s):
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
        failed: list[str] = []
        try:
            # Shows (Ticketmaster) and songs (Spotify) use different providers: run them at once.
            await imports.update_and_record(
                pool, job_id, stage="shows", progress=15,
                message="importing shows, venues and the song catalog",
            )  # fmt: skip

            async def phase(name: str, work: Callable[[], Awaitable[PhaseResult]]) -> None:
                if checkpoint.get(name):
                    return  # done before an interruption
                try:
                    result = await work()
                except Exception:
                    # A phase's failure is its own: caught here, it never reaches the task
                    # group, which would cancel the other phase. (A cancellation is no
                    # Exception: it still goes through, and the import is interrupted.)
                    log.exception("import_phase_failed", job_id=str(job_id), phase=name)
                    failed.append(name)
                    return
                warnings.extend(result.warnings)
                checkpoint.update({name: True, "warnings": warnings})
                if name == "songs":
                    checkpoint["albums"] = result.albums
                counts = await self._counts(artist_id)
                finished = sum(1 for p in PHASES if checkpoint.get(p))
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
            if failed:
                await imports.mark_unsynced(pool, artist_id, failed)
            await self._finish(job_id, artist_id, checkpoint, warnings, failed)
        except asyncio.CancelledError:
            # Shutdown: the checkpoint must land even though we are being cancelled. It holds
            # the phases that succeeded; a resume runs the others (a failed one again too).
            marking = imports.mark_interrupted(pool, job_id, self.owner_id, checkpoint)
            if await asyncio.shield(marking):
                log.info("import_interrupted", job_id=str(job_id), checkpoint=checkpoint)
            raise
        except Exception:
            log.exception("import_failed", job_id=str(job_id))
            self.tasks.release(job_id)
            with contextlib.suppress(Exception):  # the database itself may be what failed
                await imports.update_and_record(
                    pool,
                    job_id,
                    event="failed",
                    status="failed",
                    error=INTERNAL,
                    message=f"import failed: {INTERNAL['message']}",
                    checkpoint=checkpoint,
                )

    async def _finish(
        self,
        job_id: UUID,
        artist_id: UUID,
        checkpoint: dict[str, Any],
        warnings: list[str],
        failed: list[str],
    ) -> None:
        """The job's end: ``completed``; ``partial`` (event ``complete``) with the failed
        phase's code when one phase failed; ``failed`` when both did."""
        pool = self._database.pool
        counts = await self._counts(artist_id)
        error: dict[str, str] | None = None
        event: EventName
        if not failed:
            status, event = "completed", "complete"
            message = "import complete" + (
                f" with {len(warnings)} warning(s): " + "; ".join(warnings) if warnings else ""
            )
        elif len(failed) == 1:
            status, event, error = "partial", "complete", PHASE_ERRORS[failed[0]]
            message = f"import partly complete: {error['message']}"
        else:
            status, event, error = "failed", "failed", BOTH_FAILED
            message = f"import failed: {error['message']}"
        # A failed job keeps the stage and progress it reached; the others are done.
        ended: dict[str, Any] = {} if status == "failed" else {"stage": "done", "progress": 100}
        # The end write gives up the claim: no heartbeat may take it for a lost one now.
        self.tasks.release(job_id)
        await imports.update_and_record(
            pool,
            job_id,
            event=event,
            status=status,
            error=error,
            message=message[:2000],
            checkpoint=checkpoint,
            shows_count=counts["shows"],
            venues_count=counts["venues"],
            albums_count=checkpoint.get("albums", 0),
            songs_count=counts["songs"],
            **ended,
        )
        await artists_changed(self._cache, [artist_id])
        log.info(
            "import_finished", job_id=str(job_id), status=status, failed_phases=failed,
            warnings=len(warnings), **counts,
        )  # fmt: skip

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


def _known_answer(known: asyncpg.Record | None) -> Started | None:
    """The answer our own tables give, calling no provider: the artist's running job (joined,
    as a second request joins it), or its import completed within ``reuse_within_s`` (reused);
    None when the request must go upstream (an artist unknown here, or whose last import is
    older, ended ``partial`` or ``failed``, or is waiting to resume)."""
    if known is None:
        return None
    reused = known["status"] == "completed" and known["fresh"]
    if not reused and known["status"] != "running":
        return None
    return Started(
        status=imports.render(known),
        artist={
            "id": str(known["artist_id"]),
            "slug": known["slug"],
            "name": known["name"],
            "spotifyId": known["spotify_id"],
            "imageUrl": known["image_url"],
        },
        deduplicated=not reused,
        reused=reused,
    )


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
