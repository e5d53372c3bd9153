"""The reads and writes of ``complete-catalog-sync``'s artist selection and artist refresh
(its past setlists are ``db/setlists.py``'s).

- **Selection.** Each phase walks the artists (with a Spotify id: bare support-act rows are never
  synced) whose phase timestamp (``last_synced_at`` for the artist sync, ``shows_synced_at`` for
  the show sync) is older than the run's start, stalest first, as keyset pages ordered by
  ``(coalesce(ts, '-infinity'), id)``. An artist synced by this run moves past the cut-off and
  leaves the selection, so a resumed run never takes it twice, and the weekly run reaches every
  artist in turn when ``maxArtists`` is smaller than the catalog.
- **Artist refresh**: many artists in one ``UPDATE ... FROM jsonb_to_recordset``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from theset_daemon.db.catalog import ArtistRow
from theset_daemon.db.conn import Connection

Cursor = list[Any] | None


@dataclass(frozen=True, slots=True)
class CatalogArtist:
    id: UUID
    name: str
    spotify_id: str
    mbid: str | None
    #: The phase timestamp as the keyset cursor needs it (ISO text, or "-infinity").
    sort_key: str

    def cursor(self) -> list[Any]:
        return [self.sort_key, str(self.id)]


_PHASE_COLUMNS = {"artist-sync": "last_synced_at", "show-sync": "shows_synced_at"}


def _phase_column(phase: str) -> str:
    return _PHASE_COLUMNS[phase]


async def stale_artists(
    pool: asyncpg.Pool, phase: str, cutoff: dt.datetime, cursor: Cursor, limit: int
) -> list[CatalogArtist]:
    """The next ``limit`` artists not yet synced by this phase since ``cutoff``, stalest first."""
    column = _phase_column(phase)
    key = f"coalesce(a.{column}, '-infinity'::timestamptz)"
    rows = await pool.fetch(
        f"""SELECT a.id, a.name, a.spotify_id, a.mbid, {key}::text AS sort_key
            FROM artists AS a
            WHERE a.spotify_id IS NOT NULL
              AND (a.{column} IS NULL OR a.{column} < $1)
              AND ($2::text IS NULL OR ({key}, a.id) > ($2::timestamptz, $3::uuid))
            ORDER BY {key}, a.id
            LIMIT $4""",
        cutoff,
        cursor[0] if cursor else None,
        UUID(str(cursor[1])) if cursor else None,
        limit,
    )
    return [
        CatalogArtist(r["id"], r["name"], r["spotify_id"], r["mbid"], r["sort_key"]) for r in rows
    ]


async def count_stale_artists(pool: asyncpg.Pool, phase: str, cutoff: dt.datetime) -> int:
    column = _phase_column(phase)
    value = await pool.fetchval(
        f"""SELECT count(*) FROM artists
            WHERE spotify_id IS NOT NULL AND ({column} IS NULL OR {column} < $1)""",
        cutoff,
    )
    return int(value)


# --- artist refresh ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ArtistRefresh:
    artist_id: UUID
    #: What Spotify says now; its popularity and followers are None in Spotify's development
    #: mode, and then the stored values are kept.
    profile: ArtistRow

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.artist_id),
            "name": self.profile.name,
            "image_url": self.profile.image_url,
            "genres": list(self.profile.genres),
            "popularity": self.profile.popularity,
            "followers": self.profile.followers,
        }


async def refresh_artists(conn: Connection, refreshed: Sequence[ArtistRefresh]) -> list[UUID]:
    """Write the fetched artist data of many artists in one statement and mark them synced;
    returns the artists whose stored data changed (their cached pages must go)."""
    if not refreshed:
        return []
    rows = await conn.fetch(
        """
        UPDATE artists AS a
        SET name = x.name,
            image_url = coalesce(x.image_url, o.image_url),
            genres = x.genres,
            popularity = coalesce(x.popularity, o.popularity),
            followers = coalesce(x.followers, o.followers),
            last_synced_at = now()
        FROM jsonb_to_recordset($1::jsonb) AS x (
                 id uuid, name text, image_url text, genres text[], popularity int,
                 followers int)
        JOIN artists AS o ON o.id = x.id  -- the row as it was, to tell what changed
        WHERE a.id = x.id
        RETURNING a.id,
                  (o.name, o.image_url, o.genres, o.popularity, o.followers)
                  IS DISTINCT FROM (a.name, a.image_url, a.genres, a.popularity, a.followers)
                  AS changed
        """,
        [r.as_json() for r in refreshed],
    )
    return [row["id"] for row in rows if row["changed"]]
