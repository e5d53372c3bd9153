"""Catalog maintenance in SQL: trending scores, the duplicate-song merge, orphan removal, counter
recounts, retention and the integrity checks.

Every write is one set-based statement over the rows concerned (never a loop of per-row updates),
and every one is safe to run again: a second run finds nothing left to do. The functions take a
connection; the caller owns the transaction (``calculate-trending`` and ``complete-catalog-sync``
open one per step, so a step either lands whole or not at all).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from uuid import UUID

import asyncpg

from theset_daemon.catalog import trending
from theset_daemon.catalog.dedup import TrackCandidate, choose_canonical
from theset_daemon.db.conn import Connection

# --- trending ----------------------------------------------------------------------------------

#: The materialized views behind the trending reads, refreshed by ``refresh_trending_data()``.
TRENDING_VIEWS = ("trending_artists_mv", "show_stats_mv")

# The formula of catalog/trending.py, term by term. The weights and the decay come in as
# parameters ($1-$8) so the constants live in one place, the pure module the tests quote.
_DECAY = "power(0.5::float8, greatest(0, extract(epoch FROM now() - {ts}))::float8 / $1::float8)"
_TODAY = "(now() AT TIME ZONE 'UTC')::date"

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
        WHERE s.status = 'upcoming' AND s.date >= {_TODAY}
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
               + $6::float8 * least(CASE WHEN s.status = 'upcoming' AND s.date >= {_TODAY}
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


# --- duplicate songs ---------------------------------------------------------------------------

#: Duplicate groups merged per transaction: bounds the locks held and the rows in memory.
MERGE_GROUPS_PER_BATCH = 500


@dataclass(frozen=True, slots=True)
class MergeCounts:
    groups: int = 0  # (artist, title) groups that had duplicates
    songs_removed: int = 0  # duplicate song rows merged into their kept row and deleted
    setlist_songs_merged: int = 0  # setlist entries folded into another entry of their setlist
    votes_moved: int = 0  # votes re-pointed to the kept setlist entry
    votes_collapsed: int = 0  # a voter's second vote on one song of one setlist (one is kept)
    artist_ids: tuple[UUID, ...] = ()

    def __add__(self, other: MergeCounts) -> MergeCounts:
        return MergeCounts(
            self.groups + other.groups,
            self.songs_removed + other.songs_removed,
            self.setlist_songs_merged + other.setlist_songs_merged,
            self.votes_moved + other.votes_moved,
            self.votes_collapsed + other.votes_collapsed,
            self.artist_ids + other.artist_ids,
        )


async def duplicate_groups(
    conn: Connection, after: tuple[UUID, str] | None, limit: int
) -> list[asyncpg.Record]:
    """The next ``limit`` groups of studio songs sharing (artist, normalized title), keyset-paged
    by that pair; each with its members' dedup fields. Live recordings never merge (each is its
    own song, CONTRACT.md section 8)."""
    return await conn.fetch(
        """
        WITH groups AS (
            SELECT s.artist_id, s.normalized_title
            FROM songs AS s
            WHERE NOT s.is_live
              AND ($1::uuid IS NULL OR (s.artist_id, s.normalized_title) > ($1, $2))
            GROUP BY s.artist_id, s.normalized_title
            HAVING count(*) > 1
            ORDER BY s.artist_id, s.normalized_title
            LIMIT $3
        )
        SELECT g.artist_id, g.normalized_title,
               array_agg(ROW(s.id, s.spotify_id, s.name, s.album_type, s.album_name,
                             s.release_date, s.popularity, s.is_explicit)) AS members
        FROM groups AS g
        JOIN songs AS s ON s.artist_id = g.artist_id AND s.normalized_title = g.normalized_title
                       AND NOT s.is_live
        GROUP BY g.artist_id, g.normalized_title
        ORDER BY g.artist_id, g.normalized_title
        """,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )


def choose_merges(groups: Sequence[asyncpg.Record]) -> list[tuple[UUID, UUID]]:
    """(removed song, kept song) pairs: in each group the kept row is the catalog's canonical
    choice (:func:`choose_canonical`, the importer's rule), every other row merges into it."""
    pairs: list[tuple[UUID, UUID]] = []
    for group in groups:
        by_candidate: dict[str, UUID] = {}
        candidates = []
        for (
            song_id,
            spotify_id,
            name,
            album_type,
            album_name,
            released,
            popularity,
            explicit,
        ) in group["members"]:
            # The id breaks the last tie; our uuid stands in when a row has no Spotify id.
            track_id = spotify_id or str(song_id)
            by_candidate[track_id] = song_id
            candidates.append(
                TrackCandidate(
                    track_id=track_id,
                    title=name,
                    album_type=album_type,
                    album_name=album_name,
                    release_date=released if isinstance(released, date) else None,
                    popularity=popularity,
                    explicit=explicit,
                )
            )
        kept = by_candidate[choose_canonical(candidates).track_id]
        pairs.extend((song_id, kept) for song_id in by_candidate.values() if song_id != kept)
    return pairs


async def merge_songs(conn: Connection, pairs: Sequence[tuple[UUID, UUID]]) -> MergeCounts:
    """Merge each removed song into its kept song, so no vote is lost; call in a transaction.

    1. Lock the songs and the setlist entries involved (``FOR UPDATE``): a vote or a setlist entry
       the web app inserts meanwhile waits on its foreign-key check and then fails loudly, instead
       of landing on a row this merge is about to delete.
    2. Within one setlist, entries of songs that merge into one song fold into a single entry (the
       one already on the kept song, else the earliest): its tallies absorb theirs, their votes
       move to it. A voter who voted on two of the folded entries keeps one vote (on the kept
       entry, else the latest), and the counters of the setlist and the show drop by the
       duplicates, since a user has one vote per setlist song.
    3. Every remaining entry of a removed song points at the kept song; its credits follow
       (``song_credits``; a removed song's own artist too, when the kept song's is another);
       only then are the removed songs deleted, and a song still referenced by a setlist entry
       is never deleted.
    """
    if not pairs:
        return MergeCounts()
    await conn.execute(
        """CREATE TEMP TABLE song_merge (removed uuid PRIMARY KEY, kept uuid NOT NULL)
           ON COMMIT DROP"""
    )
    await conn.copy_records_to_table("song_merge", records=pairs)
    await conn.execute("ANALYZE song_merge")
    await conn.execute(
        """SELECT 1 FROM songs WHERE id IN (SELECT removed FROM song_merge)
                                  OR id IN (SELECT kept FROM song_merge)
           ORDER BY id FOR UPDATE"""
    )
    await conn.execute(
        """SELECT 1 FROM setlist_songs
           WHERE song_id IN (SELECT removed FROM song_merge UNION SELECT kept FROM song_merge)
           ORDER BY id FOR UPDATE"""
    )
    # Each folded entry and the entry it folds into.
    await conn.execute(
        """
        CREATE TEMP TABLE entry_merge ON COMMIT DROP AS
        WITH affected AS (
            SELECT ss.id, ss.setlist_id, ss.position, ss.song_id,
                   coalesce(m.kept, ss.song_id) AS target
            FROM setlist_songs AS ss
            LEFT JOIN song_merge AS m ON m.removed = ss.song_id
            WHERE ss.song_id IN (SELECT removed FROM song_merge UNION SELECT kept FROM song_merge)
        ),
        ranked AS (
            SELECT a.id, first_value(a.id) OVER (
                       PARTITION BY a.setlist_id, a.target
                       ORDER BY a.song_id = a.target DESC, a.position, a.id) AS survivor
            FROM affected AS a
        )
        SELECT id AS folded, survivor FROM ranked WHERE id <> survivor
        """
    )
    # Votes on folded entries: which move, which are a voter's duplicate (collapse).
    await conn.execute(
        """
        CREATE TEMP TABLE vote_merge ON COMMIT DROP AS
        WITH candidates AS (
            SELECT v.id, v.user_id, v.vote_type, v.show_id, e.survivor,
                   ss.setlist_id, v.updated_at, false AS on_survivor
            FROM votes AS v
            JOIN entry_merge AS e ON e.folded = v.setlist_song_id
            JOIN setlist_songs AS ss ON ss.id = e.survivor
            UNION ALL
            SELECT v.id, v.user_id, v.vote_type, v.show_id, v.setlist_song_id,
                   ss.setlist_id, v.updated_at, true
            FROM votes AS v
            JOIN setlist_songs AS ss ON ss.id = v.setlist_song_id
            WHERE v.setlist_song_id IN (SELECT survivor FROM entry_merge)
        ),
        ranked AS (
            SELECT c.*, row_number() OVER (
                       PARTITION BY c.user_id, c.survivor
                       ORDER BY c.on_survivor DESC, c.updated_at DESC, c.id) AS rn
            FROM candidates AS c
        )
        SELECT id, vote_type, show_id, survivor, setlist_id, rn > 1 AS collapse
        FROM ranked WHERE NOT on_survivor
        """
    )
    counts = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE NOT collapse) AS moved,
                  count(*) FILTER (WHERE collapse) AS collapsed
           FROM vote_merge"""
    )
    assert counts is not None
    # Tallies: the kept entry absorbs the folded entries' tallies, less the collapsed votes.
    await conn.execute(
        """
        UPDATE setlist_songs AS ss
        SET upvotes = greatest(0, ss.upvotes + t.up - coalesce(c.up, 0)),
            downvotes = greatest(0, ss.downvotes + t.down - coalesce(c.down, 0))
        FROM (SELECT e.survivor, sum(f.upvotes) AS up, sum(f.downvotes) AS down
              FROM entry_merge AS e JOIN setlist_songs AS f ON f.id = e.folded
              GROUP BY e.survivor) AS t
        LEFT JOIN (SELECT survivor,
                          count(*) FILTER (WHERE vote_type = 'up') AS up,
                          count(*) FILTER (WHERE vote_type = 'down') AS down
                   FROM vote_merge WHERE collapse GROUP BY survivor) AS c
               ON c.survivor = t.survivor
        WHERE ss.id = t.survivor
        """
    )
    await conn.execute(
        """UPDATE setlists AS l SET total_votes = greatest(0, l.total_votes - c.n)
           FROM (SELECT setlist_id, count(*) AS n FROM vote_merge WHERE collapse
                 GROUP BY setlist_id) AS c
           WHERE l.id = c.setlist_id"""
    )
    await conn.execute(
        """UPDATE shows AS s SET vote_count = greatest(0, s.vote_count - c.n)
           FROM (SELECT show_id, count(*) AS n FROM vote_merge WHERE collapse
                 GROUP BY show_id) AS c
           WHERE s.id = c.show_id"""
    )
    await conn.execute("DELETE FROM votes WHERE id IN (SELECT id FROM vote_merge WHERE collapse)")
    await conn.execute(
        """UPDATE votes AS v SET setlist_song_id = m.survivor
           FROM vote_merge AS m WHERE v.id = m.id AND NOT m.collapse"""
    )
    folded = await conn.execute(
        "DELETE FROM setlist_songs WHERE id IN (SELECT folded FROM entry_merge)"
    )
    # Now at most one entry per (setlist, kept song) is left: re-pointing cannot collide.
    await conn.execute(
        """UPDATE setlist_songs AS ss SET song_id = m.kept
           FROM song_merge AS m WHERE ss.song_id = m.removed"""
    )
    # The view artist_songs lists a removed song's own artist and its song_credits; the kept
    # song's own artist is implied, so it is never written as a credit.
    await conn.execute(
        """INSERT INTO song_credits (artist_id, song_id, is_primary)
           SELECT c.artist_id, m.kept, bool_or(c.is_primary)
           FROM artist_songs AS c
           JOIN song_merge AS m ON m.removed = c.song_id
           JOIN songs AS k ON k.id = m.kept
           WHERE c.artist_id <> k.artist_id
           GROUP BY c.artist_id, m.kept
           ON CONFLICT (artist_id, song_id) DO UPDATE
               SET is_primary = song_credits.is_primary OR EXCLUDED.is_primary"""
    )
    removed = await conn.fetch(
        """DELETE FROM songs AS s
           WHERE s.id IN (SELECT removed FROM song_merge)
             AND NOT EXISTS (SELECT 1 FROM setlist_songs AS ss WHERE ss.song_id = s.id)
           RETURNING s.artist_id"""
    )
    artist_ids = tuple({row["artist_id"] for row in removed})
    await conn.execute(
        """UPDATE artists AS a SET total_songs = (SELECT count(*) FROM songs WHERE artist_id = a.id)
           WHERE a.id = ANY($1::uuid[])""",
        list(artist_ids),
    )
    return MergeCounts(
        groups=len({kept for _, kept in pairs}),
        songs_removed=len(removed),
        setlist_songs_merged=_rows(folded),
        votes_moved=counts["moved"],
        votes_collapsed=counts["collapsed"],
        artist_ids=artist_ids,
    )


async def merge_duplicate_songs(
    pool: asyncpg.Pool, groups_per_batch: int = MERGE_GROUPS_PER_BATCH
) -> MergeCounts:
    """Merge every group of duplicate songs in the catalog, ``groups_per_batch`` groups per
    transaction (keyset-paged, so memory and locks stay bounded whatever the catalog's size)."""
    total = MergeCounts()
    after: tuple[UUID, str] | None = None
    while True:
        async with pool.acquire() as conn, conn.transaction():
            groups = await duplicate_groups(conn, after, groups_per_batch)
            if not groups:
                break
            total += await merge_songs(conn, choose_merges(groups))
        after = (groups[-1]["artist_id"], groups[-1]["normalized_title"])
        if len(groups) < groups_per_batch:
            break
    return total


def _rows(status: str) -> int:
    """The row count of a command tag ("DELETE 3")."""
    return int(status.split()[-1])


# --- orphans, counters, retention --------------------------------------------------------------

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
    return OrphanCounts(_rows(venues), _rows(artists))


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
                                               AND date >= {_TODAY}) AS upcoming
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


# --- integrity checks --------------------------------------------------------------------------

_TODAY_SQL = _TODAY


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
                      WHERE status = 'upcoming' AND date >= {_TODAY_SQL}
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
