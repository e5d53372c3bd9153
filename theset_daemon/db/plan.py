"""What the refresh plan (``catalog/plan.py``) reads of every artist: one row each, in one query.

Only artists with a Spotify id: every job selects among them (an import's support acts without
one are stored, never refreshed). Per artist:

- each kind's fetched-at: releases and profile ``last_synced_at``, shows ``shows_synced_at``,
  setlists ``setlists_synced_at``;
- its activity score (``catalog/activity.py``, the SQL of ``db/sync.py``), and whether it is
  *active*: a vote on a show it headlines, a follow or a page view in the last 24 hours;
- *trending*: among the :data:`TRENDING_TOP` highest ``trending_score`` (above 0), the artists
  trending-artist-sync deep-refreshes;
- its upcoming shows, all and within ``SHOWS_HORIZON_DAYS``;
- whether Ticketmaster knows its attraction (``ticketmaster_id``);
- ``last_played_at``: the end of the day of its newest show dated in the past and not called off
  (``db/setlists.py``'s :data:`~theset_daemon.db.setlists.LAST_PLAYED_AT`, so the setlist step
  and the plan agree on who is due).

10,000 artists are about 2 MB of rows: the plan is computed whole (its order is a sort over every
artist's priority at one instant), not paged.
"""

from __future__ import annotations

import datetime as dt

import asyncpg

from theset_daemon.catalog.activity import RECENT_WINDOW, WINDOW
from theset_daemon.catalog.plan import SHOWS_HORIZON_DAYS, ArtistState, Kind
from theset_daemon.db.conn import Connection
from theset_daemon.db.setlists import LAST_PLAYED_AT
from theset_daemon.db.sync import activity_sql

#: The trending tier: trending-artist-sync's default ``limit``.
TRENDING_TOP = 100


async def artist_states(db: asyncpg.Pool | Connection) -> list[ArtistState]:
    rows = await db.fetch(
        activity_sql("$1", "$2")
        + f""", trending AS (
                SELECT id FROM artists WHERE spotify_id IS NOT NULL AND trending_score > 0
                ORDER BY trending_score DESC, id DESC LIMIT $3
            ), active AS (
                SELECT s.headliner_artist_id AS id FROM votes v JOIN shows s ON s.id = v.show_id
                 WHERE v.created_at >= now() - $1::interval
                UNION
                SELECT artist_id FROM user_follows_artists WHERE created_at >= now() - $1::interval
                UNION
                SELECT artist_id FROM page_views
                 WHERE artist_id IS NOT NULL AND viewed_at >= now() - $1::interval
            ), shows_of AS (
                SELECT headliner_artist_id AS id,
                       count(*) FILTER (WHERE status = 'upcoming' AND date >= current_date)
                           AS upcoming,
                       count(*) FILTER (WHERE status = 'upcoming' AND date >= current_date
                                          AND date < current_date + $4::int) AS soon,
                       {LAST_PLAYED_AT} AS last_played_at
                  FROM shows GROUP BY 1
            )
            SELECT a.id, a.last_synced_at, a.shows_synced_at, a.setlists_synced_at,
                   s.rank::float8 AS activity,
                   EXISTS (SELECT 1 FROM active x WHERE x.id = a.id) AS active,
                   EXISTS (SELECT 1 FROM trending t WHERE t.id = a.id) AS trending,
                   coalesce(o.upcoming, 0) AS upcoming, coalesce(o.soon, 0) AS soon,
                   a.ticketmaster_id IS NOT NULL AS has_attraction,
                   o.last_played_at
              FROM scored s JOIN artists a ON a.id = s.id
              LEFT JOIN shows_of o ON o.id = a.id""",
        RECENT_WINDOW,
        WINDOW,
        TRENDING_TOP,
        SHOWS_HORIZON_DAYS,
    )
    return [_state(row) for row in rows]


def _state(row: asyncpg.Record) -> ArtistState:
    return ArtistState(
        artist_id=row["id"],
        fetched_at={
            Kind.RELEASES: row["last_synced_at"],
            Kind.SHOWS: row["shows_synced_at"],
            Kind.SETLISTS: row["setlists_synced_at"],
        },
        activity=float(row["activity"]),
        active=row["active"],
        trending=row["trending"],
        upcoming_shows=int(row["upcoming"]),
        shows_soon=int(row["soon"]),
        has_attraction=row["has_attraction"],
        last_played_at=_utc(row["last_played_at"]),
    )


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.astimezone(dt.UTC) if value is not None else None
