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


def _decayed(name: str, key: str, rows: str, ts: str, where: str = "") -> str:
    """The CTE ``name(id, w)``: per ``key``, the decayed weight of the ``rows`` (``ts``: when each
    happened; ``where``: which count) within the horizon."""
    within = f"{ts} >= now() - make_interval(secs => $2::float8)"
    return f"""
    {name} AS (
        SELECT {key} AS id, sum({_DECAY.format(ts=ts)}) AS w
        FROM {rows}
        WHERE {f"{where} AND {within}" if where else within}
        GROUP BY {key}
    )"""


def _score(upcoming: str) -> str:
    """The score over the CTEs ``vw`` (votes), ``fw`` (follows), ``pw`` (page views) and the
    artist ``a``; ``upcoming``: the number of upcoming shows that counts."""
    return f"""$3::float8 * coalesce(vw.w, 0)
               + $4::float8 * coalesce(fw.w, 0)
               + $5::float8 * coalesce(pw.w, 0)
               + $6::float8 * least({upcoming}, $8::int)
               + $7::float8 * least(greatest(coalesce(a.popularity, 0), 0), 100)"""


_FOLLOWS = _decayed("follow_w", "f.artist_id", "user_follows_artists AS f", "f.created_at")
_ARTIST_VOTES = _decayed(
    "vote_w",
    "s.headliner_artist_id",
    "votes AS v JOIN shows AS s ON s.id = v.show_id",
    "v.created_at",
)
_ARTIST_VIEWS = _decayed(
    "view_w", "p.artist_id", "page_views AS p", "p.viewed_at", where="p.artist_id IS NOT NULL"
)
_SHOW_VOTES = _decayed("vote_w", "v.show_id", "votes AS v", "v.created_at")
_SHOW_VIEWS = _decayed(
    "view_w", "p.show_id", "page_views AS p", "p.viewed_at", where="p.show_id IS NOT NULL"
)
_SHOW_IS_UPCOMING = f"CASE WHEN s.status = 'upcoming' AND s.date >= {TODAY_UTC} THEN 1 ELSE 0 END"

_SCORE_ARTISTS = f"""
WITH {_FOLLOWS}, {_ARTIST_VOTES}, {_ARTIST_VIEWS},
    upcoming AS (
        SELECT s.headliner_artist_id AS artist_id, count(*) AS n
        FROM shows AS s
        WHERE s.status = 'upcoming' AND s.date >= {TODAY_UTC}
        GROUP BY s.headliner_artist_id
    ),
    scored AS (
        SELECT a.id, {_score("coalesce(up.n, 0)")} AS score
        FROM artists AS a
        LEFT JOIN vote_w AS vw ON vw.id = a.id
        LEFT JOIN follow_w AS fw ON fw.id = a.id
        LEFT JOIN view_w AS pw ON pw.id = a.id
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
WITH {_FOLLOWS}, {_SHOW_VOTES}, {_SHOW_VIEWS},
    scored AS (
        SELECT s.id, {_score(_SHOW_IS_UPCOMING)} AS score
        FROM shows AS s
        JOIN artists AS a ON a.id = s.headliner_artist_id
        LEFT JOIN vote_w AS vw ON vw.id = s.id
        LEFT JOIN follow_w AS fw ON fw.id = s.headliner_artist_id
        LEFT JOIN view_w AS pw ON pw.id = s.id
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
