"""The reads and writes of ``complete-catalog-sync``'s artist selection and artist refresh
(its past setlists are ``db/setlists.py``'s).

- **Selection.** The refresh plan chooses the artists and their order (``jobs/planned.py``);
  each page of them is read here by id, in that order.
- **Artist refresh**: many artists in one ``UPDATE ... FROM jsonb_to_recordset``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg

from theset_daemon.db.catalog import ArtistRow
from theset_daemon.db.conn import Connection


@dataclass(frozen=True, slots=True)
class CatalogArtist:
    id: UUID
    name: str
    spotify_id: str
    mbid: str | None
    total_albums: int
    #: Where the artist stands in the run's list (``jobs/planned.py``): the pipeline's cursor.
    cursor: list[Any] = field(default_factory=list)

    def at(self, cursor: list[Any]) -> CatalogArtist:
        return dataclasses.replace(self, cursor=cursor)


async def artists_by_ids(pool: asyncpg.Pool, ids: Sequence[UUID]) -> list[CatalogArtist]:
    """The artists of ``ids`` that still exist, in the order of ``ids``."""
    rows = await pool.fetch(
        """SELECT a.id, a.name, a.spotify_id, a.mbid, a.total_albums
             FROM unnest($1::uuid[]) WITH ORDINALITY AS wanted(id, position)
             JOIN artists AS a ON a.id = wanted.id
            WHERE a.spotify_id IS NOT NULL
            ORDER BY wanted.position""",
        list(ids),
    )
    return [
        CatalogArtist(r["id"], r["name"], r["spotify_id"], r["mbid"], r["total_albums"])
        for r in rows
    ]


# --- artist refresh ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ArtistRefresh:
    artist_id: UUID
    #: What Spotify says now; its popularity and followers are None in Spotify's development
    #: mode, and then the stored values are kept.
    profile: ArtistRow
    #: The artist's release count now (its new releases' songs are stored apart).
    total_albums: int

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.artist_id),
            "name": self.profile.name,
            "image_url": self.profile.image_url,
            "genres": list(self.profile.genres),
            "popularity": self.profile.popularity,
            "followers": self.profile.followers,
            "total_albums": self.total_albums,
        }


async def refresh_artists(conn: Connection, refreshed: Sequence[ArtistRefresh]) -> list[UUID]:
    """Write the fetched artist data of many artists in one statement (their song counts
    recounted, for the new releases stored before) and mark them synced;
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
            total_albums = x.total_albums,
            total_songs = (SELECT count(*) FROM songs WHERE artist_id = a.id),
            last_synced_at = now()
        FROM jsonb_to_recordset($1::jsonb) AS x (
                 id uuid, name text, image_url text, genres text[], popularity int,
                 followers int, total_albums int)
        JOIN artists AS o ON o.id = x.id  -- the row as it was, to tell what changed
        WHERE a.id = x.id
        RETURNING a.id,
                  (o.name, o.image_url, o.genres, o.popularity, o.followers, o.total_albums,
                   o.total_songs)
                  IS DISTINCT FROM (a.name, a.image_url, a.genres, a.popularity, a.followers,
                                    a.total_albums, a.total_songs)
                  AS changed
        """,
        [r.as_json() for r in refreshed],
    )
    return [row["id"] for row in rows if row["changed"]]
