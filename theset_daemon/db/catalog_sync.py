"""The reads and writes of ``complete-catalog-sync``'s two upstream phases.

- **Selection.** Each phase walks the artists (with a Spotify id: bare support-act rows are never
  synced) whose phase timestamp (``last_synced_at`` for the artist sync, ``shows_synced_at`` for
  the show sync) is older than the run's start, stalest first, as keyset pages ordered by
  ``(coalesce(ts, '-infinity'), id)``. An artist synced by this run moves past the cut-off and
  leaves the selection, so a resumed run never takes it twice, and the weekly run reaches every
  artist in turn when ``maxArtists`` is smaller than the catalog.
- **Artist refresh**: many artists in one ``UPDATE ... FROM jsonb_to_recordset``.
- **Past setlists** (setlist.fm): venues, shows, ``actual`` setlists and their songs, a few
  set-based statements per artist.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

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
    name: str
    image_url: str | None
    genres: tuple[str, ...]
    popularity: int | None  # None in Spotify's development mode: the stored value is kept
    followers: int | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.artist_id),
            "name": self.name,
            "image_url": self.image_url,
            "genres": list(self.genres),
            "popularity": self.popularity,
            "followers": self.followers,
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
        json.dumps([r.as_json() for r in refreshed]),
    )
    return [row["id"] for row in rows if row["changed"]]


async def set_mbid(conn: Connection, artist_id: UUID, mbid: str) -> bool:
    """Record the artist's MusicBrainz id unless another artist row holds it; True when set."""
    try:
        status = await conn.execute(
            "UPDATE artists SET mbid = $2 WHERE id = $1 AND mbid IS NULL", artist_id, mbid
        )
    except asyncpg.UniqueViolationError:
        return False
    return status.endswith("1")


# --- past setlists -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PastSetlist:
    setlistfm_id: str
    date: dt.date
    name: str  # the show's name when we create it
    tour: str | None
    venue_name: str | None
    venue_slug: str | None  # unique per setlist.fm venue; None when the setlist has no venue
    city: str | None
    #: Normalised titles in the order played (tapes left out), repeats included.
    titles: tuple[str, ...]
    show_slug: str

    def as_json(self) -> dict[str, Any]:
        return {
            "fm_id": self.setlistfm_id,
            "date": self.date.isoformat(),
            "name": self.name,
            "tour": self.tour,
            "venue_name": self.venue_name,
            "venue_slug": self.venue_slug,
            "city": self.city,
            "show_slug": self.show_slug,
        }


@dataclass(frozen=True, slots=True)
class SetlistCounts:
    shows_matched: int  # stored shows (Ticketmaster's) that now carry their setlist.fm id
    shows_created: int
    setlists_created: int
    songs_matched: int  # setlist entries written (played songs found in the catalog)


async def store_past_setlists(
    conn: Connection, artist_id: UUID, setlists: Sequence[PastSetlist]
) -> SetlistCounts:
    """Store setlists of shows that happened as ``actual`` setlists; call in a transaction.

    A setlist lands on the artist's stored show of that date when there is one (a Ticketmaster
    show that has happened), else on a show created for it at its setlist.fm venue. Its songs are
    matched to the artist's catalog by normalised title (the studio song before a live recording,
    then the most popular); a song played twice keeps its first position, and songs not in the
    catalog (covers, reprises) are left out. A setlist already stored with songs is left alone;
    one stored empty (nobody had entered the songs yet) is filled in.
    """
    if not setlists:
        return SetlistCounts(0, 0, 0, 0)
    payload = json.dumps([s.as_json() for s in setlists])
    await conn.execute(
        """INSERT INTO venues (name, slug, city)
           SELECT DISTINCT ON (x.venue_slug) x.venue_name, x.venue_slug, x.city
           FROM jsonb_to_recordset($1::jsonb) AS x (venue_name text, venue_slug text, city text)
           WHERE x.venue_slug IS NOT NULL
           ON CONFLICT DO NOTHING""",
        payload,
    )
    matched = await conn.execute(
        """
        WITH x AS (
            SELECT * FROM jsonb_to_recordset($2::jsonb) AS x (fm_id text, date date)
            WHERE NOT EXISTS (SELECT 1 FROM shows AS s WHERE s.setlistfm_id = x.fm_id)
        ),
        per_setlist AS (
            SELECT DISTINCT ON (x.fm_id) x.fm_id, s.id AS show_id
            FROM x JOIN shows AS s
              ON s.headliner_artist_id = $1 AND s.date = x.date AND s.setlistfm_id IS NULL
            ORDER BY x.fm_id, s.id
        ),
        per_show AS (
            SELECT DISTINCT ON (show_id) show_id, fm_id FROM per_setlist ORDER BY show_id, fm_id
        )
        UPDATE shows AS s
        SET setlistfm_id = p.fm_id,
            status = CASE WHEN s.status = 'upcoming' THEN 'completed' ELSE s.status END
        FROM per_show AS p
        WHERE s.id = p.show_id
        """,
        artist_id,
        payload,
    )
    created = await conn.execute(
        """
        INSERT INTO shows (headliner_artist_id, venue_id, setlistfm_id, slug, name, date, status)
        SELECT $1, v.id, x.fm_id, x.show_slug, x.name, x.date, 'completed'
        FROM jsonb_to_recordset($2::jsonb)
             AS x (fm_id text, date date, name text, venue_slug text, show_slug text)
        LEFT JOIN venues AS v ON v.slug = x.venue_slug
        WHERE NOT EXISTS (SELECT 1 FROM shows AS s WHERE s.setlistfm_id = x.fm_id)
        ON CONFLICT DO NOTHING
        """,
        artist_id,
        payload,
    )
    new_setlists = await conn.execute(
        """
        INSERT INTO setlists (show_id, artist_id, type, setlistfm_id, name)
        SELECT s.id, $1, 'actual', x.fm_id, x.tour
        FROM jsonb_to_recordset($2::jsonb) AS x (fm_id text, tour text)
        JOIN shows AS s ON s.setlistfm_id = x.fm_id
        ON CONFLICT DO NOTHING
        """,
        artist_id,
        payload,
    )
    played = [
        (s.setlistfm_id, position, title)
        for s in setlists
        for position, title in enumerate(s.titles, start=1)
    ]
    songs = await conn.execute(
        """
        WITH played AS (
            SELECT * FROM unnest($2::text[], $3::int[], $4::text[]) AS p (fm_id, pos, title)
        ),
        matched AS (
            SELECT l.id AS setlist_id, m.song_id, min(p.pos) AS first_pos
            FROM played AS p
            JOIN setlists AS l ON l.setlistfm_id = p.fm_id AND l.artist_id = $1
            CROSS JOIN LATERAL (
                SELECT so.id AS song_id FROM songs AS so
                WHERE so.artist_id = $1 AND so.normalized_title = p.title
                ORDER BY so.is_live, so.popularity DESC NULLS LAST, so.id
                LIMIT 1
            ) AS m
            WHERE NOT EXISTS (SELECT 1 FROM setlist_songs AS e WHERE e.setlist_id = l.id)
            GROUP BY l.id, m.song_id
        )
        INSERT INTO setlist_songs (setlist_id, song_id, position, is_played)
        SELECT setlist_id, song_id,
               row_number() OVER (PARTITION BY setlist_id ORDER BY first_pos), true
        FROM matched
        ON CONFLICT (setlist_id, song_id) DO NOTHING
        """,
        artist_id,
        [p[0] for p in played],
        [p[1] for p in played],
        [p[2] for p in played],
    )
    return SetlistCounts(_rows(matched), _rows(created), _rows(new_setlists), _rows(songs))


def _rows(status: str) -> int:
    return int(status.split()[-1])
