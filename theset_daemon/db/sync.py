"""Reads of the sync jobs: which artists to work on, a page at a time.

Every selection is a keyset page (``WHERE (key) > cursor ORDER BY key LIMIT n``), so a job over
the whole table holds one page in memory and a resumed run starts after its checkpoint's cursor
(see ``jobs/pipeline.py``). Cursors are JSON values: an artist id as text, or ``[rank, id]`` for
rankings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from theset_daemon.catalog.activity import (
    MAX_UPCOMING_SHOWS,
    RECENT_WINDOW,
    W_FOLLOWS,
    W_PAGE_VIEWS,
    W_UPCOMING_SHOW,
    W_VOTES,
    W_VOTES_RECENT,
    WINDOW,
    refreshed_at,
)


@dataclass(frozen=True, slots=True)
class SyncArtist:
    """What a sync needs of an artist row."""

    id: UUID
    name: str
    spotify_id: str | None
    ticketmaster_id: str | None
    popularity: int | None
    followers: int | None
    total_albums: int
    last_synced_at: dt.datetime | None
    song_catalog_synced_at: dt.datetime | None
    rank: float = 0.0  # the score the selection ordered by (activity, trending), when any
    shows_synced_at: dt.datetime | None = None

    @property
    def refreshed_at(self) -> dt.datetime | None:
        """The older of its releases' and its shows' fetched-at (``catalog.activity``)."""
        return refreshed_at(self.last_synced_at, self.shows_synced_at)

    @classmethod
    def from_record(cls, row: asyncpg.Record) -> SyncArtist:
        return cls(
            id=row["id"],
            name=row["name"],
            spotify_id=row["spotify_id"],
            ticketmaster_id=row["ticketmaster_id"],
            popularity=row["popularity"],
            followers=row["followers"],
            total_albums=row["total_albums"],
            last_synced_at=row["last_synced_at"],
            song_catalog_synced_at=row["song_catalog_synced_at"],
            rank=float(row["rank"]),
            shows_synced_at=row["shows_synced_at"],
        )

    def rank_cursor(self) -> list[Any]:
        return [self.rank, str(self.id)]

    def overdue_cursor(self) -> list[Any]:
        refreshed = self.refreshed_at
        return [refreshed.isoformat() if refreshed else None, str(self.id)]


_COLUMNS = """a.id, a.name, a.spotify_id, a.ticketmaster_id, a.popularity, a.followers,
              a.total_albums, a.last_synced_at, a.song_catalog_synced_at, a.shows_synced_at"""


async def artists_by_id(
    pool: asyncpg.Pool, cursor: str | None, limit: int, *, with_spotify_id: bool = True
) -> list[SyncArtist]:
    """Artists in id order after ``cursor`` (an id as text); only those with a Spotify id unless
    ``with_spotify_id`` is False."""
    rows = await pool.fetch(
        f"""SELECT {_COLUMNS}, 0::float8 AS rank FROM artists a
            WHERE ($1::uuid IS NULL OR a.id > $1::uuid)
              AND (NOT $3 OR a.spotify_id IS NOT NULL)
            ORDER BY a.id LIMIT $2""",
        UUID(cursor) if cursor else None,
        limit,
        with_spotify_id,
    )
    return [SyncArtist.from_record(r) for r in rows]


def _after(cursor: Sequence[Any] | None) -> tuple[float | None, UUID | None]:
    if not cursor:
        return None, None
    return float(cursor[0]), UUID(str(cursor[1]))


def activity_sql(recent: str, window: str) -> str:
    """The activity score of catalog/activity.py in SQL, per artist with a Spotify id, as the CTE
    ``scored(id, rank)``; ``recent`` and ``window`` are the placeholders of the two intervals. The
    weights are the module's constants, so the two cannot drift (tests/jobs checks them)."""
    return f"""
    WITH recent_votes AS (
        SELECT s.headliner_artist_id AS artist_id,
               count(*) FILTER (WHERE v.created_at >= now() - {recent}::interval) AS recent,
               count(*) AS windowed
        FROM votes v JOIN shows s ON s.id = v.show_id
        WHERE v.created_at >= now() - {window}::interval
        GROUP BY 1
    ), recent_follows AS (
        SELECT artist_id, count(*) AS n FROM user_follows_artists
        WHERE created_at >= now() - {window}::interval GROUP BY 1
    ), recent_views AS (
        SELECT artist_id, count(*) AS n FROM page_views
        WHERE artist_id IS NOT NULL AND viewed_at >= now() - {window}::interval GROUP BY 1
    ), upcoming AS (
        SELECT headliner_artist_id AS artist_id, count(*) AS n FROM shows
        WHERE status = 'upcoming' AND date >= current_date GROUP BY 1
    ), scored AS (
        SELECT a.id,
               {W_VOTES_RECENT} * coalesce(v.recent, 0) + {W_VOTES} * coalesce(v.windowed, 0)
               + {W_FOLLOWS} * coalesce(f.n, 0) + {W_PAGE_VIEWS} * coalesce(p.n, 0)
               + {W_UPCOMING_SHOW} * least(coalesce(u.n, 0), {MAX_UPCOMING_SHOWS}) AS rank
        FROM artists a
        LEFT JOIN recent_votes v ON v.artist_id = a.id
        LEFT JOIN recent_follows f ON f.artist_id = a.id
        LEFT JOIN recent_views p ON p.artist_id = a.id
        LEFT JOIN upcoming u ON u.artist_id = a.id
        WHERE a.spotify_id IS NOT NULL
    )
"""


async def most_active_artists(
    pool: asyncpg.Pool, cursor: Sequence[Any] | None, limit: int
) -> list[SyncArtist]:
    """The next ``limit`` artists (with a Spotify id) by activity, highest first, then by id;
    an artist with no activity at all is not active and never selected."""
    rank, after = _after(cursor)
    rows = await pool.fetch(
        activity_sql("$3", "$4")
        + f"""SELECT {_COLUMNS}, s.rank::float8 AS rank
              FROM scored s JOIN artists a ON a.id = s.id
              WHERE s.rank > 0
                AND ($1::float8 IS NULL OR (s.rank, a.id) < ($1::float8, $2::uuid))
              ORDER BY s.rank DESC, a.id DESC LIMIT $5""",
        rank,
        after,
        RECENT_WINDOW,
        WINDOW,
        limit,
    )
    return [SyncArtist.from_record(r) for r in rows]


async def count_active_artists(pool: asyncpg.Pool) -> int:
    value = await pool.fetchval(
        activity_sql("$1", "$2") + "SELECT count(*) FROM scored WHERE rank > 0",
        RECENT_WINDOW,
        WINDOW,
    )
    return int(value)


# ``catalog.activity.refreshed_at`` in SQL; NULL (never) sorts first as '-infinity'.
_REFRESHED = """coalesce(CASE WHEN a.last_synced_at IS NULL OR a.shows_synced_at IS NULL THEN NULL
                          ELSE least(a.last_synced_at, a.shows_synced_at) END,
                     '-infinity'::timestamptz)"""


async def count_walk_to_due(pool: asyncpg.Pool, due: int, due_before: dt.datetime) -> int:
    """How many artists a walk down the activity ranking (``most_active_artists``' order) passes
    to meet ``due`` artists refreshed at or before ``due_before``: every active artist when
    fewer are due."""
    value = await pool.fetchval(
        activity_sql("$1", "$2")
        + f""", walk AS (
                SELECT row_number() OVER w AS walked,
                       count(*) FILTER (WHERE {_REFRESHED} <= $4) OVER w AS due
                FROM scored s JOIN artists a ON a.id = s.id
                WHERE s.rank > 0
                WINDOW w AS (ORDER BY s.rank DESC, a.id DESC)
            )
            SELECT coalesce((SELECT min(walked) FROM walk WHERE due >= $3),
                            (SELECT count(*) FROM walk))""",
        RECENT_WINDOW,
        WINDOW,
        due,
        due_before,
    )
    return int(value)


async def most_overdue_active_artists(
    pool: asyncpg.Pool,
    cursor: Sequence[Any] | None,
    limit: int,
    *,
    top: int,
    as_of: dt.datetime,
) -> list[SyncArtist]:
    """Of the ``top`` most active artists, the next ``limit`` not refreshed (either kind) since
    ``as_of``, the longest unrefreshed first (never refreshed: first), then by id. The cursor is
    ``[refreshed_at as ISO text or None, id]`` (:meth:`SyncArtist.overdue_cursor`).

    A run passes its own start as ``as_of``: an artist it has refreshed (even in part) drops
    out, so a resumed run does not take it again, while its keyset stays put."""
    after_refreshed: dt.datetime | None = None
    after: UUID | None = None
    if cursor:
        after_refreshed = dt.datetime.fromisoformat(cursor[0]) if cursor[0] else None
        after = UUID(str(cursor[1]))
    rows = await pool.fetch(
        activity_sql("$1", "$2")
        + f""", top AS (
                SELECT id, rank FROM scored WHERE rank > 0 ORDER BY rank DESC, id DESC LIMIT $3
            )
            SELECT {_COLUMNS}, t.rank::float8 AS rank
            FROM top t JOIN artists a ON a.id = t.id
            WHERE coalesce(a.last_synced_at, '-infinity') < $4
              AND coalesce(a.shows_synced_at, '-infinity') < $4
              AND ($6::uuid IS NULL
                   OR ({_REFRESHED}, a.id)
                      > (coalesce($5::timestamptz, '-infinity'::timestamptz), $6::uuid))
            ORDER BY {_REFRESHED}, a.id LIMIT $7""",
        RECENT_WINDOW,
        WINDOW,
        top,
        as_of,
        after_refreshed,
        after,
        limit,
    )
    return [SyncArtist.from_record(r) for r in rows]


async def top_trending_artists(
    pool: asyncpg.Pool, cursor: Sequence[Any] | None, limit: int
) -> list[SyncArtist]:
    """The next ``limit`` artists (with a Spotify id) by ``trending_score``, highest first."""
    rank, after = _after(cursor)
    rows = await pool.fetch(
        f"""SELECT {_COLUMNS}, a.trending_score AS rank FROM artists a
            WHERE a.spotify_id IS NOT NULL
              AND ($1::float8 IS NULL OR (a.trending_score, a.id) < ($1::float8, $2::uuid))
            ORDER BY a.trending_score DESC, a.id DESC LIMIT $3""",
        rank,
        after,
        limit,
    )
    return [SyncArtist.from_record(r) for r in rows]


async def count_spotify_artists(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM artists WHERE spotify_id IS NOT NULL"))
