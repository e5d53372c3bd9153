"""Artist reads: one artist by id or slug, its upcoming shows and top songs, and trending ranks.

Plain SQL over asyncpg; each function takes a connection (or the pool) and returns records. The
shapes the API sends are built in ``theset_daemon/cache/reads.py``.
"""

from __future__ import annotations

from uuid import UUID

import asyncpg
from asyncpg.pool import PoolConnectionProxy

#: A connection, a pooled one, or the pool itself (one statement, any free connection).
Executor = asyncpg.Connection | PoolConnectionProxy | asyncpg.Pool

_ARTIST_COLUMNS = """
    id, name, slug, spotify_id, ticketmaster_id, mbid, image_url, genres, popularity, followers,
    trending_score, total_shows, upcoming_shows, total_songs, total_albums, last_synced_at,
    updated_at
"""

#: Upcoming shows on an artist page, at most.
UPCOMING_SHOWS_LIMIT = 50
#: Top songs on an artist page.
TOP_SONGS_LIMIT = 10
#: The longest trending list kept per window (``limit`` of the route is 1-100).
TRENDING_MAX = 100


async def artist_by_id(db: Executor, artist_id: UUID) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {_ARTIST_COLUMNS} FROM artists WHERE id = $1", artist_id)


async def artist_by_slug(db: Executor, slug: str) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {_ARTIST_COLUMNS} FROM artists WHERE slug = $1", slug)


async def upcoming_shows(
    db: Executor, artist_id: UUID, limit: int = UPCOMING_SHOWS_LIMIT
) -> list[asyncpg.Record]:
    """Shows the artist headlines or is billed on, from today (UTC) on, soonest first."""
    return await db.fetch(
        """
        SELECT s.id, s.slug, s.name, s.date, s.start_time, s.status, s.ticket_url,
               s.min_price, s.max_price, s.currency,
               s.headliner_artist_id = $1 AS is_headliner,
               v.id AS venue_id, v.name AS venue_name, v.slug AS venue_slug,
               v.city AS venue_city, v.state AS venue_state, v.country AS venue_country
        FROM shows AS s
        LEFT JOIN venues AS v ON v.id = s.venue_id
        WHERE s.id IN (
                -- Two indexed lookups, not one OR: an OR across them scans every upcoming show.
                SELECT h.id FROM shows AS h
                WHERE h.headliner_artist_id = $1 AND h.date >= (now() AT TIME ZONE 'UTC')::date
                UNION ALL
                SELECT sa.show_id FROM show_artists AS sa WHERE sa.artist_id = $1
            )
          AND s.status = 'upcoming'
          AND s.date >= (now() AT TIME ZONE 'UTC')::date
        ORDER BY s.date, s.start_time NULLS LAST, s.id
        LIMIT $2
        """,
        artist_id,
        limit,
    )


async def top_songs(
    db: Executor, artist_id: UUID, limit: int = TOP_SONGS_LIMIT
) -> list[asyncpg.Record]:
    """The artist's studio songs, most popular first (popularity is NULL in Spotify development
    mode: then newest first)."""
    return await db.fetch(
        """
        SELECT id, name, spotify_id, album_name, album_image_url, release_date, duration_ms,
               popularity, is_explicit, is_remix, preview_url
        FROM songs
        WHERE artist_id = $1 AND NOT is_live
        ORDER BY popularity DESC NULLS LAST, release_date DESC NULLS LAST, name, id
        LIMIT $2
        """,
        artist_id,
        limit,
    )


async def trending(db: Executor, days: int, limit: int = TRENDING_MAX) -> list[asyncpg.Record]:
    """Artists ranked by activity in the last ``days`` days (votes on the shows they headline,
    new follows, page views: one point each), then by trending score, then popularity."""
    return await db.fetch(
        """
        WITH since AS (SELECT now() - make_interval(days => $1) AS t),
        vote_counts AS (
            SELECT s.headliner_artist_id AS artist_id, count(*) AS n
            FROM votes AS v JOIN shows AS s ON s.id = v.show_id, since
            WHERE v.created_at >= since.t
            GROUP BY s.headliner_artist_id
        ),
        follow_counts AS (
            SELECT f.artist_id, count(*) AS n
            FROM user_follows_artists AS f, since
            WHERE f.created_at >= since.t
            GROUP BY f.artist_id
        ),
        view_counts AS (
            SELECT p.artist_id, count(*) AS n
            FROM page_views AS p, since
            WHERE p.artist_id IS NOT NULL AND p.viewed_at >= since.t
            GROUP BY p.artist_id
        ),
        upcoming_counts AS (
            SELECT s.headliner_artist_id AS artist_id, count(*) AS n
            FROM shows AS s
            WHERE s.status = 'upcoming' AND s.date >= (now() AT TIME ZONE 'UTC')::date
            GROUP BY s.headliner_artist_id
        )
        SELECT a.id, a.name, a.slug, a.image_url, a.genres, a.popularity, a.followers,
               a.trending_score,
               coalesce(up.n, 0) AS upcoming_shows,
               coalesce(vo.n, 0) AS votes,
               coalesce(fo.n, 0) AS follows,
               coalesce(vi.n, 0) AS page_views
        FROM artists AS a
        LEFT JOIN vote_counts AS vo ON vo.artist_id = a.id
        LEFT JOIN follow_counts AS fo ON fo.artist_id = a.id
        LEFT JOIN view_counts AS vi ON vi.artist_id = a.id
        LEFT JOIN upcoming_counts AS up ON up.artist_id = a.id
        ORDER BY coalesce(vo.n, 0) + coalesce(fo.n, 0) + coalesce(vi.n, 0) DESC,
                 a.trending_score DESC, a.popularity DESC NULLS LAST, a.name, a.id
        LIMIT $2
        """,
        days,
        limit,
    )
