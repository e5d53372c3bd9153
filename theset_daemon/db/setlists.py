"""Writes of setlists: the predicted setlists of upcoming shows and the actual setlists of
shows that happened.

- **Predicted**: one per upcoming show, made of the artist's most popular studio songs; a show
  keeps the one it has (fans vote on it).
- **Actual** (setlist.fm): venues, shows, ``actual`` setlists and their songs, a few set-based
  statements per artist.
- **Who played** (``refresh/played_setlists.py``): the artists whose setlists are due, their
  ``setlists_synced_at`` stamps, and the catalog's artists by MusicBrainz id.

A show dated ``D`` counts as played at the end of that day, ``D + 1`` at 00:00 UTC (``D`` is the
venue's local date, so a show is over by then wherever it was; a fetch during the day of the show
does not count as after it); a cancelled or postponed one was not played. ``last_played_at`` is
that moment for the artist's newest show dated before today (:data:`LAST_PLAYED_AT`, which
``db/plan.py`` reads for ``catalog/plan.py`` too): the same artists are due here and in the plan.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from theset_daemon.db.conn import Connection


async def predict_setlists(conn: Connection, artist_id: UUID, size: int) -> int:
    """One predicted setlist of ``size`` songs (most popular studio songs first, then by title)
    for each of the artist's upcoming shows that has none; returns how many were created. Each
    setlist is written with its songs in one transaction (a savepoint inside the caller's), so
    none is ever left empty; the usual answer, nothing to predict, costs one query."""
    shows = await conn.fetch(
        """SELECT s.id FROM shows s
           WHERE s.headliner_artist_id = $1 AND s.status = 'upcoming' AND s.date >= current_date
             AND NOT EXISTS (SELECT 1 FROM setlists l
                             WHERE l.show_id = s.id AND l.artist_id = $1
                               AND l.type = 'predicted')""",
        artist_id,
    )
    if not shows:
        return 0
    songs = await conn.fetch(
        """SELECT id FROM songs WHERE artist_id = $1 AND NOT is_live AND NOT is_remix
           ORDER BY popularity DESC NULLS LAST, release_date ASC NULLS LAST, name, id
           LIMIT $2""",
        artist_id,
        size,
    )
    if not songs:
        return 0
    created = 0
    for show in shows:
        async with conn.transaction():
            setlist_id = await conn.fetchval(
                """INSERT INTO setlists (show_id, artist_id, type, name)
                   VALUES ($1, $2, 'predicted', 'Predicted setlist')
                   ON CONFLICT (show_id, artist_id, type) DO NOTHING RETURNING id""",
                show["id"],
                artist_id,
            )
            if setlist_id is None:
                continue  # another refresh of the artist predicted it first
            await conn.executemany(
                "INSERT INTO setlist_songs (setlist_id, song_id, position) VALUES ($1, $2, $3)",
                [(setlist_id, song["id"], n) for n, song in enumerate(songs, start=1)],
            )
        created += 1
    return created


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
    payload = [s.as_json() for s in setlists]
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


@dataclass(frozen=True, slots=True)
class DueArtist:
    """An artist that played a show after its setlists were last fetched, or never fetched."""

    id: UUID
    name: str
    mbid: str | None
    setlists_synced_at: dt.datetime | None
    last_played_at: dt.datetime | None


#: An artist's ``last_played_at`` as an aggregate over its shows (``GROUP BY
#: headliner_artist_id``), in SQL once for here and ``db/plan.py``: the newest show dated before
#: today that was not called off, as the moment it was over. NULL: none.
LAST_PLAYED_AT = """(max(date) FILTER (WHERE date < current_date
                                         AND status NOT IN ('cancelled', 'postponed'))
                      + 1)::timestamp AT TIME ZONE 'UTC'"""


async def due_setlist_artists(conn: Connection) -> list[DueArtist]:
    """Every artist (with a Spotify id) whose setlists were never fetched, or whose last played
    show is after its ``setlists_synced_at``: never fetched first, then longest waiting."""
    rows = await conn.fetch(
        f"""
        WITH played AS (
            SELECT headliner_artist_id AS artist_id, {LAST_PLAYED_AT} AS last_played_at
            FROM shows WHERE date < current_date GROUP BY headliner_artist_id
        )
        SELECT a.id, a.name, a.mbid, a.setlists_synced_at, p.last_played_at
        FROM artists AS a LEFT JOIN played AS p ON p.artist_id = a.id
        WHERE a.spotify_id IS NOT NULL
          AND (a.setlists_synced_at IS NULL OR a.setlists_synced_at < p.last_played_at)
        ORDER BY a.setlists_synced_at IS NOT NULL, p.last_played_at NULLS FIRST, a.id
        """
    )
    return [
        DueArtist(r["id"], r["name"], r["mbid"], r["setlists_synced_at"], r["last_played_at"])
        for r in rows
    ]


async def artists_by_mbid(conn: Connection, mbids: Sequence[str]) -> dict[str, tuple[UUID, str]]:
    """The catalog's artists of these MusicBrainz ids: mbid -> (artist id, name)."""
    rows = await conn.fetch(
        "SELECT mbid, id, name FROM artists WHERE mbid = ANY($1::text[])", list(set(mbids))
    )
    return {r["mbid"]: (r["id"], r["name"]) for r in rows}


async def mark_setlists_synced(conn: Connection, artist_id: UUID, at: dt.datetime) -> None:
    """The artist's setlists read as of ``at`` (a stamp never goes back)."""
    await conn.execute(
        """UPDATE artists SET setlists_synced_at = greatest(setlists_synced_at, $2)
           WHERE id = $1""",
        artist_id,
        at,
    )


async def mark_feed_read(conn: Connection, since: dt.datetime, at: dt.datetime) -> int:
    """After a complete walk of the setlists updated since ``since``, started at ``at``: every
    artist with a MusicBrainz id read at or after ``since`` is current as of ``at``; how many."""
    status = await conn.execute(
        """UPDATE artists SET setlists_synced_at = $2
           WHERE mbid IS NOT NULL AND setlists_synced_at >= $1 AND setlists_synced_at < $2""",
        since,
        at,
    )
    return _rows(status)


def _rows(status: str) -> int:
    return int(status.split()[-1])
