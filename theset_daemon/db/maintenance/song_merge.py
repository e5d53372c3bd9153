"""The duplicate-song merge: studio songs sharing (artist, normalized title) merged into the
catalog's canonical choice, every vote and setlist entry kept."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from uuid import UUID

import asyncpg

from theset_daemon.catalog.dedup import TrackCandidate, choose_canonical
from theset_daemon.db.conn import Connection
from theset_daemon.db.sql import rows_affected

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
        setlist_songs_merged=rows_affected(folded),
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
