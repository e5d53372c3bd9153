"""Queries of the import aggregate: ``import_status`` rows and the ImportStatus they render to.

Every state change of a job goes through :func:`update_and_record`, which updates the row and
appends the event in one transaction, so the stored event log and the row never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal
from uuid import UUID

import asyncpg

from theset_daemon.db.conn import Connection
from theset_daemon.progress.store import EventName, record_event
from theset_daemon.timestamps import iso_utc

Status = Literal["running", "completed", "partial", "failed", "interrupted"]
#: The statuses a job ends in (``finished_at`` set; its last event ``complete`` or ``failed``).
TERMINAL: frozenset[str] = frozenset({"completed", "partial", "failed"})
Stage = Literal["artist", "shows", "songs", "done"]

_COLUMNS = """
    s.job_id, s.artist_id, s.status, s.stage, s.progress, s.message, s.shows_count,
    s.venues_count, s.albums_count, s.songs_count, s.error, s.checkpoint, s.request, s.attempts,
    s.started_at, s.updated_at, s.finished_at
"""


def render(row: asyncpg.Record | Mapping[str, Any]) -> dict[str, Any]:
    """An ``import_status`` row as the contract's ImportStatus."""
    return {
        "jobId": str(row["job_id"]),
        "artistId": str(row["artist_id"]),
        "status": row["status"],
        "stage": row["stage"],
        "progress": row["progress"],
        "message": row["message"],
        "counts": {
            "shows": row["shows_count"],
            "venues": row["venues_count"],
            "albums": row["albums_count"],
            "songs": row["songs_count"],
        },
        "error": row["error"],
        "startedAt": iso_utc(row["started_at"]),
        "updatedAt": iso_utc(row["updated_at"]),
        "finishedAt": iso_utc(row["finished_at"]),
    }


async def fetch(conn: Connection | asyncpg.Pool, job_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_COLUMNS} FROM import_status s WHERE job_id = $1", job_id)


async def create_or_join(
    conn: Connection, artist_id: UUID, request: Mapping[str, Any], owner_id: str
) -> tuple[asyncpg.Record, bool]:
    """A new running job for the artist, or the one already running: (row, deduplicated).

    The partial unique index ``import_status_one_running_per_artist`` makes this race-free across
    requests and daemon instances.
    """
    async with conn.transaction():
        job_id = await conn.fetchval(
            """INSERT INTO import_status (artist_id, status, stage, progress, message, request,
                                          owner_id, heartbeat_at)
               VALUES ($1, 'running', 'artist', 10, 'artist page created', $2::jsonb, $3, now())
               ON CONFLICT (artist_id) WHERE status = 'running' DO NOTHING
               RETURNING job_id""",
            artist_id,
            dict(request),
            owner_id,
        )
        if job_id is not None:
            row = await fetch(conn, job_id)
            assert row is not None
            await record_event(conn, "import", job_id, "progress", render(row))
            return row, False
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM import_status s WHERE artist_id = $1 AND status = 'running'",
        artist_id,
    )
    if row is None:  # it finished between our insert and this read: start a fresh one
        return await create_or_join(conn, artist_id, request, owner_id)
    return row, True


async def latest_for_request(
    conn: Connection | asyncpg.Pool, request: Mapping[str, str], within_s: float
) -> asyncpg.Record | None:
    """The newest job of the artist the request names, as far as our own tables can tell,
    with the artist's ``slug``, ``name``, ``spotify_id`` and ``image_url`` and ``fresh`` (it
    finished within ``within_s``); None when the tables cannot name exactly one artist.

    A Spotify id names its artist row. A Ticketmaster id or a name names the artist a completed
    import of the very same request (a name compared case-insensitively, as the upstream search
    does) resolved to within ``within_s``: the same question, recently answered. The stored
    artist's own name is not enough: two upstream artists can share it, and the upstream search
    may pick the one we do not have.
    """
    rows = await conn.fetch(
        f"""WITH asked AS (
                SELECT a.id FROM artists AS a WHERE a.spotify_id = $1
                UNION
                SELECT s.artist_id FROM import_status AS s
                WHERE s.status = 'completed'
                  AND s.updated_at > now() - make_interval(secs => $4)
                  AND (s.request->>'ticketmasterId' = $2
                       OR lower(s.request->>'name') = lower($3))
            ),
            latest AS (
                SELECT DISTINCT ON (s.artist_id) s.*
                FROM import_status AS s JOIN asked ON asked.id = s.artist_id
                ORDER BY s.artist_id, s.started_at DESC
            )
            SELECT {_COLUMNS}, a.slug, a.name, a.spotify_id, a.image_url,
                   coalesce(s.finished_at > now() - make_interval(secs => $4), false) AS fresh,
                   (SELECT count(*) FROM asked) AS candidates
            FROM latest AS s JOIN artists AS a ON a.id = s.artist_id
            LIMIT 1""",
        request.get("spotifyId"),
        request.get("ticketmasterId"),
        request.get("name"),
        float(within_s),
    )
    return rows[0] if rows and rows[0]["candidates"] == 1 else None


async def update_and_record(
    pool: asyncpg.Pool,
    job_id: UUID,
    *,
    event: EventName = "progress",
    **fields: Any,
) -> dict[str, Any]:
    """Set ``fields`` on the job row and append the resulting ImportStatus as one event."""
    assignments = []
    values: list[Any] = [job_id]
    for name, value in fields.items():
        assignments.append(f"{name} = ${len(values) + 1}")
        values.append(value)
    terminal = fields.get("status") in TERMINAL
    assignments.append("updated_at = now()")
    assignments.append("heartbeat_at = now()")
    if terminal:
        assignments.append("finished_at = now()")
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            f"UPDATE import_status SET {', '.join(assignments)} WHERE job_id = $1", *values
        )
        row = await fetch(conn, job_id)
        assert row is not None
        payload = render(row)
        await record_event(conn, "import", job_id, event, payload)
    return payload


#: The artists column that says when each phase's kind was last synced (``refresh``).
_SYNCED_COLUMNS = {"shows": "shows_synced_at", "songs": "song_catalog_synced_at"}


async def mark_unsynced(pool: asyncpg.Pool, artist_id: UUID, phases: Sequence[str]) -> None:
    """Mark what an import's failed ``phases`` left missing, so the next sync fills it in.

    Each kind's own column goes to NULL ("never synced"), which puts the artist first in the
    selection that reads it: ``shows_synced_at`` for complete-catalog-sync's show sync,
    ``song_catalog_synced_at`` for trending-artist-sync (which skips the recently synced).
    ``last_synced_at`` goes to NULL too: update-active-artists refreshes both kinds but reads
    only it and ``shows_synced_at``, and phase 1 has just set it, so a failed song phase would
    leave the artist alone for hours (for the kind that did get stored that refresh is cheap: an
    unchanged artist costs two requests). The stored rows stay; NULL says only that they are not
    known to be current. A sync that finished meanwhile loses its mark and runs once more:
    nothing worse.
    """
    assignments = ", ".join(f"{_SYNCED_COLUMNS[p]} = NULL" for p in phases)
    await pool.execute(
        f"UPDATE artists SET last_synced_at = NULL, {assignments} WHERE id = $1", artist_id
    )


async def heartbeat(pool: asyncpg.Pool, job_ids: Sequence[UUID], owner_id: str) -> set[UUID]:
    """Renew ``owner_id``'s claim on its running jobs: the ids it still owns (a job taken over
    by another owner, after this one went silent, is missing)."""
    rows = await pool.fetch(
        """UPDATE import_status SET heartbeat_at = now()
           WHERE job_id = ANY($1::uuid[]) AND owner_id = $2 AND status = 'running'
           RETURNING job_id""",
        list(job_ids),
        owner_id,
    )
    return {row["job_id"] for row in rows}


async def running_owners(pool: asyncpg.Pool) -> list[str]:
    rows = await pool.fetch(
        """SELECT DISTINCT owner_id FROM import_status
           WHERE status = 'running' AND owner_id IS NOT NULL"""
    )
    return [row["owner_id"] for row in rows]


async def claim_resumable(
    pool: asyncpg.Pool, owner_id: str, stale_after_s: float, max_attempts: int
) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
    """Take over interrupted jobs and running jobs whose owner stopped heartbeating.

    Returns (claimed, exhausted): claimed jobs now belong to ``owner_id``; exhausted ones ran out
    of attempts and must be marked failed by the caller.
    """
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            f"""SELECT {_COLUMNS} FROM import_status s
                WHERE status = 'interrupted'
                   OR (status = 'running'
                       AND coalesce(heartbeat_at, updated_at)
                           < now() - make_interval(secs => $1))
                FOR UPDATE SKIP LOCKED""",
            stale_after_s,
        )
        claimed, exhausted = [], []
        for row in rows:
            if row["attempts"] >= max_attempts:
                exhausted.append(row)
                continue
            # A resumed interrupted job may meet a newer running job of the same artist.
            busy = await conn.fetchval(
                """SELECT 1 FROM import_status
                   WHERE artist_id = $1 AND status = 'running' AND job_id <> $2""",
                row["artist_id"],
                row["job_id"],
            )
            if busy:
                exhausted.append(row)
                continue
            await conn.execute(
                """UPDATE import_status SET status = 'running', owner_id = $2,
                       heartbeat_at = now(), attempts = attempts + 1, updated_at = now()
                   WHERE job_id = $1""",
                row["job_id"],
                owner_id,
            )
            claimed.append(row)
    return claimed, exhausted


async def release_dead_owners(pool: asyncpg.Pool, owner_ids: Sequence[str]) -> None:
    """Running jobs of processes known to be dead become resumable at once."""
    await pool.execute(
        """UPDATE import_status SET status = 'interrupted', updated_at = now()
           WHERE status = 'running' AND owner_id = ANY($1::text[])""",
        list(owner_ids),
    )


async def mark_interrupted(
    pool: asyncpg.Pool, job_id: UUID, owner_id: str, checkpoint: Mapping[str, Any]
) -> dict[str, Any] | None:
    """A running job stopped by a shutdown: ``interrupted``, with its checkpoint, for a resume.

    Only a job ``owner_id`` still owns is marked (one taken over after this owner went silent
    is its new owner's), and only one still ``running``: the cancellation can come after the
    job's last write (its ``completed`` row committed, the cache invalidation that follows under
    way), and a job that reached its end keeps it (marking it would break
    ``import_status_finished_iff_terminal`` and end the cancelled task in that error instead of
    its cancellation). None when nothing was marked.
    """
    async with pool.acquire() as conn, conn.transaction():
        marked = await conn.fetchval(
            """UPDATE import_status
               SET status = 'interrupted',
                   message = 'interrupted by shutdown; resumes at the next start',
                   checkpoint = $2::jsonb, updated_at = now(), heartbeat_at = now()
               WHERE job_id = $1 AND status = 'running' AND owner_id = $3
               RETURNING 1""",
            job_id,
            dict(checkpoint),
            owner_id,
        )
        if marked is None:
            return None
        row = await fetch(conn, job_id)
        assert row is not None
        payload = render(row)
        await record_event(conn, "import", job_id, "progress", payload)
    return payload
