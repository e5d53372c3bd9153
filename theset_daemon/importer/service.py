"""The import orchestrator: phase 1 in the request, phases 2 and 3 as owned background tasks.

Crash safety. Each job records a checkpoint (which phases are done) with every state change, and
its owner heartbeats while it runs. At start-up, and every ``SWEEP_INTERVAL_S`` after, the daemon
claims jobs that were ``interrupted`` by a SIGTERM or left ``running`` by a process that stopped
heartbeating, and resumes them from their checkpoint; a job that keeps dying is failed after
``MAX_ATTEMPTS``, so no job stays ``running`` forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psutil

from theset_daemon.cache import Cache
from theset_daemon.cache.reads import artists_changed
from theset_daemon.config import SettingsHolder
from theset_daemon.db import catalog as store
from theset_daemon.db import imports
from theset_daemon.db.pool import Database
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
MAX_ATTEMPTS = 3
# On shutdown, phases in flight get this long (at most half the grace) before they are cancelled
# and marked interrupted; they are idempotent, so a resume redoes at most one phase. The drain is
# counted from the moment shutdown begins, beside the jobs' drain (not after it), and its end
# cancels them by itself (not when the teardown gets to the importer, which waits for the HTTP
# handlers first), so the whole stop fits in the grace.
SHUTDOWN_DRAIN_MAX_S = 5.0
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
        self.owner_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._tasks: dict[UUID, asyncio.Task[None]] = {}
        self._limit = PerClientLimit()
        self._closing = False
        self._reaper: asyncio.Task[None] | None = None  # the drain; started when shutdown begins
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_IMPORTS)

    @property
    def running(self) -> int:
        return len(self._tasks)

    # --- phase 1 ------------------------------------------------------------------------------

    async def start(self, request: ImportRequest, client: str) -> Started:
        """Resolve and upsert the artist, then create (or join) its job. Raises
        :class:`ClientRateLimited`, ``ArtistNotFound``, ``UpstreamError`` or ``TimeoutError``."""
        settings = self._holder.current.import_
        self._limit.check(client, settings.per_client_per_minute)
        pool = self._database.pool
        async with asyncio.timeout(settings.phase1_timeout_seconds):
            artist, tm_id = await resolve_artist(self._upstreams, request)
            async with pool.acquire() as conn:
                artist_id, slug = await store.upsert_artist(conn, artist_row(artist, tm_id))
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
                "imageUrl": artist.images[0].url if artist.images else None,
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
        task = asyncio.create_task(
            self._run(job_id, artist_id, spotify_id, name, dict(checkpoint)),
            name=f"import-{job_id}",
        )
        self._tasks[job_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(job_id, None))

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
            if await asyncio.shield(imports.mark_interrupted(pool, job_id, checkpoint)):
                log.info("import_interrupted", job_id=str(job_id), checkpoint=checkpoint)
            raise
        except Exception as exc:
            log.exception("import_failed", job_id=str(job_id))
            cause = exc.exceptions[0] if isinstance(exc, ExceptionGroup) else exc
            error = {"code": type(cause).__name__, "message": str(cause)[:500]}
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

    # --- resume and upkeep --------------------------------------------------------------------

    async def resume_pending(self) -> int:
        pool = self._database.pool
        # A dead owner on this host is known at once (its pid is gone), without waiting for its
        # heartbeat to go stale: a crash-restart resumes immediately.
        owners = await pool.fetch(
            "SELECT DISTINCT owner_id FROM import_status WHERE status = 'running'"
        )
        dead = [r["owner_id"] for r in owners if r["owner_id"] and _owner_is_dead(r["owner_id"])]
        if dead:
            await imports.release_dead_owners(pool, dead)
        claimed, exhausted = await imports.claim_resumable(
            pool, self.owner_id, STALE_AFTER_S, MAX_ATTEMPTS
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
            if isinstance(checkpoint, str):  # jsonb arrives as text without a type codec
                checkpoint = json.loads(checkpoint)
            assert artist is not None
            self._launch(
                row["job_id"], row["artist_id"], artist["spotify_id"], artist["name"], checkpoint
            )
            log.info("import_resumed", job_id=str(row["job_id"]), checkpoint=checkpoint)
        return len(claimed)

    async def upkeep(self) -> None:
        """Heartbeat our jobs and claim orphans, forever (an owned task of the importer ctx)."""
        last_sweep = 0.0
        while True:
            await asyncio.sleep(HEARTBEAT_INTERVAL_S)
            try:
                if self._tasks:
                    await imports.heartbeat(self._database.pool, list(self._tasks), self.owner_id)
                if time.monotonic() - last_sweep >= SWEEP_INTERVAL_S and not self._closing:
                    last_sweep = time.monotonic()
                    await self.resume_pending()
            except Exception:
                log.exception("import_upkeep_failed")

    def begin_shutdown(self) -> None:
        """Claim no more jobs, and start the drain of the running ones now (the daemon calls
        this as shutdown begins, with the jobs' ``begin_shutdown``): whatever still runs when
        the drain is over is cancelled then, and marks itself interrupted."""
        if self._reaper is not None:
            return
        self._closing = True
        drain_s = min(SHUTDOWN_DRAIN_MAX_S, self._holder.current.shutdown.grace_seconds / 2)
        self._reaper = asyncio.create_task(self._cancel_after(drain_s), name="import-reaper")

    async def _cancel_after(self, drain_s: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + drain_s
        # An import whose phase 1 was in a request when the stop began starts during the drain:
        # it is waited for (and cancelled) with the others.
        while self._tasks and (left_s := deadline - loop.time()) > 0:
            await asyncio.wait(list(self._tasks.values()), timeout=left_s)
        for job_id, task in list(self._tasks.items()):
            log.warning("import_cancelled_at_shutdown", job_id=str(job_id))
            task.cancel()

    async def close(self) -> None:
        self.begin_shutdown()
        assert self._reaper is not None
        await self._reaper
        # One started after the drain ended (its phase 1 finished late) has had no drain to wait.
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _owner_is_dead(owner_id: str) -> bool:
    host, _, rest = owner_id.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False  # another machine's process: only its heartbeat can tell
    return int(pid_text) != os.getpid() and not psutil.pid_exists(int(pid_text))


@contextlib.asynccontextmanager
async def open_importer(
    database: Database, upstreams: Upstreams, holder: SettingsHolder, cache: Cache
) -> AsyncIterator[Importer]:
    importer = Importer(database, upstreams, holder, cache)
    await importer.resume_pending()
    upkeep = asyncio.create_task(importer.upkeep(), name="import-upkeep")
    try:
        yield importer
    finally:
        upkeep.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await upkeep
        await importer.close()
