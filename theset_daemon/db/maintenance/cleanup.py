"""Cleanup: rows nothing refers to removed, the artists' counters recounted, retention applied."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from theset_daemon.db.conn import Connection
from theset_daemon.db.sql import TODAY_UTC, rows_affected

#: Rows younger than this are never orphans: an import may be between two of its statements.
ORPHAN_GRACE_S = 86400.0


@dataclass(frozen=True, slots=True)
class OrphanCounts:
    venues: int  # venues no show takes place at
    artists: int  # bare support-act rows (no Spotify id) nothing refers to any more

    @property
    def removed(self) -> int:
        return self.venues + self.artists


async def remove_orphans(conn: Connection, grace_s: float = ORPHAN_GRACE_S) -> OrphanCounts:
    """Delete rows nothing refers to.

    Orphans are rows that only exist to be referred to: a venue no show uses; an artist row made
    for a support act (no Spotify id, so never imported) that no bill, show, song, song credit,
    setlist, follow, page view or import refers to. A song is never an orphan: it always has its
    artist (``songs.artist_id``, its primary credit).
    """
    venues = await conn.execute(
        """DELETE FROM venues AS v
           WHERE v.created_at < now() - make_interval(secs => $1)
             AND NOT EXISTS (SELECT 1 FROM shows AS s WHERE s.venue_id = v.id)""",
        grace_s,
    )
    artists = await conn.execute(
        """DELETE FROM artists AS a
           WHERE a.spotify_id IS NULL
             AND a.created_at < now() - make_interval(secs => $1)
             AND NOT EXISTS (SELECT 1 FROM show_artists AS x WHERE x.artist_id = a.id)
             AND NOT EXISTS (SELECT 1 FROM shows AS x WHERE x.headliner_artist_id = a.id)
             AND NOT EXISTS (SELECT 1 FROM songs AS x WHERE x.artist_id = a.id)
             AND NOT EXISTS (SELECT 1 FROM song_credits AS x WHERE x.artist_id = a.id)
             AND NOT EXISTS (SELECT 1 FROM setlists AS x WHERE x.artist_id = a.id)
             AND NOT EXISTS (SELECT 1 FROM user_follows_artists AS x WHERE x.artist_id = a.id)
             AND NOT EXISTS (SELECT 1 FROM page_views AS x WHERE x.artist_id = a.id)
             AND NOT EXISTS (SELECT 1 FROM import_status AS x WHERE x.artist_id = a.id)""",
        grace_s,
    )
    return OrphanCounts(rows_affected(venues), rows_affected(artists))


async def recount_artist_totals(conn: Connection) -> list[UUID]:
    """Set ``total_shows``, ``upcoming_shows`` and ``total_songs`` from the rows (shows the artist
    headlines; songs it owns); returns the artists whose totals changed. ``upcoming_shows`` goes
    stale by itself as dates pass, so this is routine, not only a repair. (``total_albums`` counts
    releases fetched upstream, which stored rows cannot tell; it is left alone.)"""
    rows = await conn.fetch(
        f"""
        WITH counted AS (
            SELECT a.id, coalesce(sh.total, 0) AS total_shows,
                   coalesce(sh.upcoming, 0) AS upcoming_shows, coalesce(so.n, 0) AS total_songs
            FROM artists AS a
            LEFT JOIN (SELECT headliner_artist_id AS artist_id, count(*) AS total,
                              count(*) FILTER (WHERE status = 'upcoming'
                                               AND date >= {TODAY_UTC}) AS upcoming
                       FROM shows GROUP BY headliner_artist_id) AS sh ON sh.artist_id = a.id
            LEFT JOIN (SELECT artist_id, count(*) AS n FROM songs GROUP BY artist_id) AS so
                   ON so.artist_id = a.id
        )
        UPDATE artists AS a
        SET total_shows = c.total_shows, upcoming_shows = c.upcoming_shows,
            total_songs = c.total_songs
        FROM counted AS c
        WHERE a.id = c.id
          AND (a.total_shows, a.upcoming_shows, a.total_songs)
              IS DISTINCT FROM (c.total_shows, c.upcoming_shows, c.total_songs)
        RETURNING a.id
        """
    )
    return [row["id"] for row in rows]


async def cleanup_old_data(conn: Connection) -> dict[str, int]:
    """Retention (``cleanup_old_data()`` of 0003, its default windows): rows deleted per table."""
    rows = await conn.fetch("SELECT table_name, rows_deleted FROM cleanup_old_data()")
    return {row["table_name"]: int(row["rows_deleted"]) for row in rows}
