"""Trending scores in SQL: ``artists.trending_score`` and ``shows.trending_score`` written in one
statement each, and the materialized views behind the trending reads refreshed."""

from __future__ import annotations

from dataclasses import dataclass

from theset_daemon.catalog import trending
from theset_daemon.db.conn import Connection
from theset_daemon.db.sql import TODAY_UTC

#: The materialized views behind the trending reads, refreshed by ``refresh_trending_data()``.
TRENDING_VIEWS = ("trending_artists_mv", "show_stats_mv")

# The formula of catalog/trending.py, term by term. The weights and the decay come in as
# parameters ($1-$8) so the constants live in one place, the pure module the tests quote.
_DECAY = "power(0.5::float8, greatest(0, extract(epoch FROM now() - {ts}))::float8 / $1::float8)"

_FOLLOWS_CTE = f"""
    follow_w AS (
        SELECT f.artist_id, sum({_DECAY.format(ts="f.created_at")}) AS w
        FROM user_follows_artists AS f
        WHERE f.created_at >= now() - make_interval(secs => $2::float8)
        GROUP BY f.artist_id
    )"""

_SCORE_ARTISTS = f"""
WITH {_FOLLOWS_CTE},
    vote_w AS (
        SELECT s.headliner_artist_id AS artist_id, sum({_DECAY.format(ts="v.created_at")}) AS w
        FROM votes AS v
        JOIN shows AS s ON s.id = v.show_id
        WHERE v.created_at >= now() - make_interval(secs => $2::float8)
        GROUP BY s.headliner_artist_id
    ),
    view_w AS (
        SELECT p.artist_id, sum({_DECAY.format(ts="p.viewed_at")}) AS w
        FROM page_views AS p
        WHERE p.artist_id IS NOT NULL AND p.viewed_at >= now() - make_interval(secs => $2::float8)
        GROUP BY p.artist_id
    ),
    upcoming AS (
        SELECT s.headliner_artist_id AS artist_id, count(*) AS n
        FROM shows AS s
        WHERE s.status = 'upcoming' AND s.date >= {TODAY_UTC}
        GROUP BY s.headliner_artist_id
    ),
    scored AS (
        SELECT a.id,
               $3::float8 * coalesce(vw.w, 0)
               + $4::float8 * coalesce(fw.w, 0)
               + $5::float8 * coalesce(pw.w, 0)
               + $6::float8 * least(coalesce(up.n, 0), $8::int)
               + $7::float8 * least(greatest(coalesce(a.popularity, 0), 0), 100) AS score
        FROM artists AS a
        LEFT JOIN vote_w AS vw ON vw.artist_id = a.id
        LEFT JOIN follow_w AS fw ON fw.artist_id = a.id
        LEFT JOIN view_w AS pw ON pw.artist_id = a.id
        LEFT JOIN upcoming AS up ON up.artist_id = a.id
    ),
    updated AS (
        -- Only rows whose score moved: a quiet artist's row is not rewritten every hour.
        UPDATE artists AS a SET trending_score = sc.score
        FROM scored AS sc
        WHERE a.id = sc.id AND a.trending_score IS DISTINCT FROM sc.score
        RETURNING 1
    )
SELECT (SELECT count(*) FROM scored) AS scored, (SELECT count(*) FROM updated) AS updated
"""

_SCORE_SHOWS = f"""
WITH {_FOLLOWS_CTE},
    vote_w AS (
        SELECT v.show_id, sum({_DECAY.format(ts="v.created_at")}) AS w
        FROM votes AS v
        WHERE v.created_at >= now() - make_interval(secs => $2::float8)
        GROUP BY v.show_id
    ),
    view_w AS (
        SELECT p.show_id, sum({_DECAY.format(ts="p.viewed_at")}) AS w
        FROM page_views AS p
        WHERE p.show_id IS NOT NULL AND p.viewed_at >= now() - make_interval(secs => $2::float8)
        GROUP BY p.show_id
    ),
    scored AS (
        SELECT s.id,
               $3::float8 * coalesce(vw.w, 0)
               + $4::float8 * coalesce(fw.w, 0)
               + $5::float8 * coalesce(pw.w, 0)
               + $6::float8 * least(CASE WHEN s.status = 'upcoming' AND s.date >= {TODAY_UTC}
                                 THEN 1 ELSE 0 END, $8::int)
               + $7::float8 * least(greatest(coalesce(a.popularity, 0), 0), 100) AS score
        FROM shows AS s
        JOIN artists AS a ON a.id = s.headliner_artist_id
        LEFT JOIN vote_w AS vw ON vw.show_id = s.id
        LEFT JOIN follow_w AS fw ON fw.artist_id = s.headliner_artist_id
        LEFT JOIN view_w AS pw ON pw.show_id = s.id
    ),
    updated AS (
        UPDATE shows AS s SET trending_score = sc.score
        FROM scored AS sc
        WHERE s.id = sc.id AND s.trending_score IS DISTINCT FROM sc.score
        RETURNING 1
    )
SELECT (SELECT count(*) FROM scored) AS scored, (SELECT count(*) FROM updated) AS updated
"""


@dataclass(frozen=True, slots=True)
class Scored:
    scored: int  # rows the formula was computed for
    updated: int  # of those, rows whose stored score changed (and were written)


def _formula_args() -> tuple[float, ...]:
    return (
        trending.HALF_LIFE_S,
        trending.HORIZON_S,
        trending.W_VOTE,
        trending.W_FOLLOW,
        trending.W_PAGE_VIEW,
        trending.W_UPCOMING_SHOW,
        trending.W_POPULARITY,
        trending.MAX_UPCOMING_SHOWS,
    )


async def score_artists(conn: Connection) -> Scored:
    """Write ``artists.trending_score`` for every artist, in one statement."""
    row = await conn.fetchrow(_SCORE_ARTISTS, *_formula_args())
    assert row is not None
    return Scored(row["scored"], row["updated"])


async def score_shows(conn: Connection) -> Scored:
    """Write ``shows.trending_score`` for every show, in one statement."""
    row = await conn.fetchrow(_SCORE_SHOWS, *_formula_args())
    assert row is not None
    return Scored(row["scored"], row["updated"])


async def refresh_trending_views(conn: Connection) -> list[str]:
    """``REFRESH MATERIALIZED VIEW CONCURRENTLY`` both views (readers are never blocked); returns
    the views refreshed, in order."""
    rows = await conn.fetch("SELECT view_name FROM refresh_trending_data()")
    return [row["view_name"] for row in rows]
