"""The integrity checks: each a query counting what should not exist (0: nothing wrong), from
duplicate external ids to foreign keys pointing nowhere and counters that disagree with the rows."""

from __future__ import annotations

from theset_daemon.db.conn import Connection
from theset_daemon.db.sql import TODAY_UTC


def _duplicates(table: str, *columns: str) -> str:
    """External ids held by more than one row (the unique constraints should make this 0; the
    check catches a database restored without them, or a constraint dropped by hand)."""
    parts = [
        f"SELECT {c} FROM {table} WHERE {c} IS NOT NULL GROUP BY {c} HAVING count(*) > 1"
        for c in columns
    ]
    return f"SELECT count(*) FROM ({' UNION ALL '.join(parts)}) AS d"


def _orphans(table: str, *links: tuple[str, str]) -> str:
    """Rows whose foreign key points at no row (possible after a load with triggers disabled,
    ``session_replication_role = replica``, or a restore without constraints)."""
    missing = " OR ".join(
        f"({column} IS NOT NULL AND NOT EXISTS "
        f"(SELECT 1 FROM {target} AS t WHERE t.id = x.{column}))"
        for column, target in links
    )
    return f"SELECT count(*) FROM {table} AS x WHERE {missing}"


#: (check name, query returning one count). Each names what a non-zero count means.
INTEGRITY_CHECKS: tuple[tuple[str, str], ...] = (
    ("duplicate_artist_ids", _duplicates("artists", "spotify_id", "ticketmaster_id", "mbid")),
    ("duplicate_venue_ids", _duplicates("venues", "ticketmaster_id")),
    ("duplicate_show_ids", _duplicates("shows", "ticketmaster_id", "setlistfm_id")),
    ("duplicate_song_ids", _duplicates("songs", "spotify_id")),
    ("duplicate_setlist_ids", _duplicates("setlists", "setlistfm_id")),
    (
        "orphaned_shows",
        _orphans("shows", ("headliner_artist_id", "artists"), ("venue_id", "venues")),
    ),
    (
        "orphaned_show_artists",
        _orphans("show_artists", ("show_id", "shows"), ("artist_id", "artists")),
    ),
    (
        "orphaned_song_credits",
        _orphans("song_credits", ("artist_id", "artists"), ("song_id", "songs")),
    ),
    ("orphaned_setlists", _orphans("setlists", ("show_id", "shows"), ("artist_id", "artists"))),
    (
        "orphaned_setlist_songs",
        _orphans("setlist_songs", ("setlist_id", "setlists"), ("song_id", "songs")),
    ),
    (
        "orphaned_votes",
        _orphans("votes", ("setlist_song_id", "setlist_songs"), ("show_id", "shows")),
    ),
    ("orphaned_follows", _orphans("user_follows_artists", ("artist_id", "artists"))),
    ("orphaned_page_views", _orphans("page_views", ("artist_id", "artists"), ("show_id", "shows"))),
    ("shows_without_venue", "SELECT count(*) FROM shows WHERE venue_id IS NULL"),
    # A song's artist is its artist_id (NOT NULL, its primary credit), so a song without an
    # artist is one whose artist row is gone: the foreign-key orphan of songs.
    ("songs_without_artist", _orphans("songs", ("artist_id", "artists"))),
    (
        # The view artist_songs would list the song's own artist twice.
        "song_credits_naming_own_artist",
        """SELECT count(*) FROM song_credits AS c
           JOIN songs AS s ON s.id = c.song_id AND s.artist_id = c.artist_id""",
    ),
    (
        # votes.show_id is denormalised from setlist_song -> setlist -> show.
        "vote_show_mismatch",
        """SELECT count(*) FROM votes AS v
           JOIN setlist_songs AS ss ON ss.id = v.setlist_song_id
           JOIN setlists AS l ON l.id = ss.setlist_id
           WHERE l.show_id <> v.show_id""",
    ),
    (
        "show_vote_count_mismatch",
        """SELECT count(*) FROM shows AS s
           LEFT JOIN (SELECT show_id, count(*) AS n FROM votes GROUP BY show_id) AS v
                  ON v.show_id = s.id
           WHERE s.vote_count <> coalesce(v.n, 0)""",
    ),
    (
        "setlist_total_votes_mismatch",
        """SELECT count(*) FROM setlists AS l
           LEFT JOIN (SELECT ss.setlist_id, count(*) AS n
                      FROM votes AS v JOIN setlist_songs AS ss ON ss.id = v.setlist_song_id
                      GROUP BY ss.setlist_id) AS v ON v.setlist_id = l.id
           WHERE l.total_votes <> coalesce(v.n, 0)""",
    ),
    (
        "setlist_song_tally_mismatch",
        """SELECT count(*) FROM setlist_songs AS ss
           LEFT JOIN (SELECT setlist_song_id,
                             count(*) FILTER (WHERE vote_type = 'up') AS up,
                             count(*) FILTER (WHERE vote_type = 'down') AS down
                      FROM votes GROUP BY setlist_song_id) AS v ON v.setlist_song_id = ss.id
           WHERE (ss.upvotes, ss.downvotes) <> (coalesce(v.up, 0), coalesce(v.down, 0))""",
    ),
    (
        "artist_total_shows_mismatch",
        """SELECT count(*) FROM artists AS a
           LEFT JOIN (SELECT headliner_artist_id AS artist_id, count(*) AS n FROM shows
                      GROUP BY headliner_artist_id) AS s ON s.artist_id = a.id
           WHERE a.total_shows <> coalesce(s.n, 0)""",
    ),
    (
        "artist_upcoming_shows_mismatch",
        f"""SELECT count(*) FROM artists AS a
           LEFT JOIN (SELECT headliner_artist_id AS artist_id, count(*) AS n FROM shows
                      WHERE status = 'upcoming' AND date >= {TODAY_UTC}
                      GROUP BY headliner_artist_id) AS s ON s.artist_id = a.id
           WHERE a.upcoming_shows <> coalesce(s.n, 0)""",
    ),
    (
        "artist_total_songs_mismatch",
        """SELECT count(*) FROM artists AS a
           LEFT JOIN (SELECT artist_id, count(*) AS n FROM songs GROUP BY artist_id) AS s
                  ON s.artist_id = a.id
           WHERE a.total_songs <> coalesce(s.n, 0)""",
    ),
)


async def integrity_checks(conn: Connection) -> list[tuple[str, int]]:
    """Every check of :data:`INTEGRITY_CHECKS` with its count, in order (0: nothing wrong)."""
    return [(name, int(await conn.fetchval(sql))) for name, sql in INTEGRITY_CHECKS]
