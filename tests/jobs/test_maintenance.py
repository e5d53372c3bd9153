"""The catalog maintenance SQL against a real Postgres: the duplicate merge keeps every vote,
cleanup never deletes a referenced song, each integrity check finds its planted defect."""

from __future__ import annotations

import uuid
from uuid import UUID

import asyncpg

from theset_daemon.db import maintenance

from .catalog_support import (
    job_env,
    plant_artist,
    plant_setlist,
    plant_show,
    plant_song,
    plant_venue,
    plant_vote,
)

DAY_S = 86400.0


async def _votes(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT v.id, v.user_id, v.vote_type, ss.setlist_id, ss.song_id
           FROM votes v JOIN setlist_songs ss ON ss.id = v.setlist_song_id"""
    )


async def _counter_checks(conn: asyncpg.Connection) -> dict[str, int]:
    checks = dict(await maintenance.integrity_checks(conn))
    return {name: count for name, count in checks.items() if "mismatch" in name}


async def _paper_moon(conn: asyncpg.Connection, artist: UUID) -> tuple[UUID, UUID, UUID, UUID]:
    """Three copies of one song (the most popular is the canonical one) and a live recording."""
    kept = await plant_song(conn, artist, "Paper Moon", "paper moon", popularity=60)
    remaster = await plant_song(
        conn,
        artist,
        "Paper Moon - Remastered 2011",
        "paper moon",
        album_type="compilation",
        album_name="Best Of",
        popularity=30,
    )
    single = await plant_song(
        conn, artist, "Paper Moon", "paper moon", album_type="single", popularity=10
    )
    live = await plant_song(
        conn, artist, "Paper Moon - Live", "paper moon", album_name="Live at Leeds", is_live=True
    )
    return kept, remaster, single, live


async def test_duplicate_merge_keeps_every_vote(database_url: str) -> None:
    async with job_env(database_url) as env, env.pool.acquire() as conn:
        artist = await plant_artist(conn)
        kept, remaster, single, live = await _paper_moon(conn, artist)
        other = await plant_song(conn, artist, "Other Song")
        # A guest credited on two of the copies (a song's own artist is its primary credit).
        guest = await plant_artist(conn)
        await conn.execute(
            """INSERT INTO song_credits (artist_id, song_id, is_primary)
               VALUES ($1, $2, false), ($1, $3, true)""",
            guest,
            remaster,
            single,
        )
        # One setlist with only a copy, one with all three copies, one without the kept row.
        only_copy = await plant_setlist(
            conn, await plant_show(conn, artist), artist, [remaster, other]
        )
        all_three = await plant_setlist(
            conn, await plant_show(conn, artist), artist, [single, kept, remaster, live]
        )
        no_kept = await plant_setlist(
            conn, await plant_show(conn, artist), artist, [single, remaster]
        )
        voted = [*only_copy, *all_three, *no_kept]
        for n, entry in enumerate(voted):
            for _ in range(n % 3 + 1):
                await plant_vote(conn, uuid.uuid4(), entry, vote_type="up" if n % 2 else "down")
        before = await _votes(conn)
        setlist_of = {row["id"]: row["setlist_id"] for row in before}

        merged = await maintenance.merge_duplicate_songs(env.pool)

        after = await _votes(conn)
        assert merged.groups == 1 and merged.songs_removed == 2
        assert merged.votes_collapsed == 0 and merged.votes_moved > 0
        assert merged.setlist_songs_merged == 3  # two folded in all_three, one in no_kept
        assert len(after) == len(before)
        assert {row["id"] for row in after} == {row["id"] for row in before}
        # Every vote stays in its setlist, with its type; none points at a removed copy.
        assert all(row["setlist_id"] == setlist_of[row["id"]] for row in after)
        assert {row["song_id"] for row in after} == {kept, other, live}
        songs = {row["id"] for row in await conn.fetch("SELECT id FROM songs")}
        assert songs == {kept, other, live}  # the live recording never merges
        # Each setlist holds the song once; the tallies and counters agree with the votes.
        dupes = await conn.fetchval(
            """SELECT count(*) FROM (SELECT setlist_id, song_id FROM setlist_songs
               GROUP BY 1, 2 HAVING count(*) > 1) d"""
        )
        assert dupes == 0
        assert await _counter_checks(conn) == {
            "vote_show_mismatch": 0,
            "show_vote_count_mismatch": 0,
            "setlist_total_votes_mismatch": 0,
            "setlist_song_tally_mismatch": 0,
            "artist_total_shows_mismatch": 1,  # planted shows, never recounted here
            "artist_upcoming_shows_mismatch": 1,
            "artist_total_songs_mismatch": 0,  # the merge recounts its artists' songs
        }
        credits = await conn.fetch("SELECT song_id FROM artist_songs WHERE artist_id = $1", artist)
        assert {row["song_id"] for row in credits} == {kept, other, live}
        # The guest's credits moved to the kept copy, primary if either copy's was.
        guest_credits = await conn.fetch(
            "SELECT song_id, is_primary FROM artist_songs WHERE artist_id = $1", guest
        )
        assert [tuple(row) for row in guest_credits] == [(kept, True)]
        # A second pass finds nothing to do.
        again = await maintenance.merge_duplicate_songs(env.pool)
        assert again.groups == 0 and again.songs_removed == 0


async def test_a_voter_on_two_merged_copies_keeps_one_vote(database_url: str) -> None:
    async with job_env(database_url) as env, env.pool.acquire() as conn:
        artist = await plant_artist(conn)
        kept, remaster, single, _live = await _paper_moon(conn, artist)
        show = await plant_show(conn, artist)
        on_kept, on_remaster, on_single = await plant_setlist(
            conn, show, artist, [kept, remaster, single]
        )
        fan, other_fan, third_fan = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        await plant_vote(conn, fan, on_kept, vote_type="up")
        await plant_vote(conn, fan, on_remaster, vote_type="down")  # the same song, twice
        await plant_vote(conn, other_fan, on_remaster, vote_type="down", age_s=DAY_S)
        await plant_vote(conn, other_fan, on_single, vote_type="up")  # the newer of the two
        await plant_vote(conn, third_fan, on_single, vote_type="up")

        merged = await maintenance.merge_duplicate_songs(env.pool)

        assert merged.votes_collapsed == 2
        after = await conn.fetch("SELECT user_id, vote_type, setlist_song_id FROM votes")
        assert {(row["user_id"], row["vote_type"]) for row in after} == {
            (fan, "up"),  # the vote already on the kept entry wins
            (other_fan, "up"),  # else the latest
            (third_fan, "up"),
        }
        assert {row["setlist_song_id"] for row in after} == {on_kept}
        entry = await conn.fetchrow(
            "SELECT upvotes, downvotes FROM setlist_songs WHERE id = $1", on_kept
        )
        assert entry is not None and (entry["upvotes"], entry["downvotes"]) == (3, 0)
        checks = await _counter_checks(conn)
        assert checks["show_vote_count_mismatch"] == 0
        assert checks["setlist_total_votes_mismatch"] == 0
        assert checks["setlist_song_tally_mismatch"] == 0


async def test_cleanup_never_deletes_a_referenced_song(database_url: str) -> None:
    async with job_env(database_url) as env, env.pool.acquire() as conn:
        artist = await plant_artist(conn)
        kept, remaster, single, live = await _paper_moon(conn, artist)
        sung = await plant_song(conn, artist, "Sung Once")
        never_sung = await plant_song(conn, artist, "No One Sings")
        show = await plant_show(conn, artist)
        entries = await plant_setlist(conn, show, artist, [remaster, live, sung])
        await plant_setlist(conn, show, artist, [single], kind="actual")
        for entry in entries:
            await plant_vote(conn, uuid.uuid4(), entry)
        # Orphans: a venue no show uses and a bare support act, both old enough.
        lonely_venue = await plant_venue(conn, created_ago_s=2 * DAY_S)
        fresh_venue = await plant_venue(conn)  # within the grace period: an import may be mid-way
        support = await plant_artist(conn, spotify_id=None, created_ago_s=2 * DAY_S)
        referenced_before = {
            row["song_id"] for row in await conn.fetch("SELECT song_id FROM setlist_songs")
        }

        merged = await maintenance.merge_duplicate_songs(env.pool)
        async with conn.transaction():
            orphans = await maintenance.remove_orphans(conn)

        songs = {row["id"] for row in await conn.fetch("SELECT id FROM songs")}
        # Every referenced song is still there, or its references moved to the kept copy first.
        for song in referenced_before:
            assert song in songs or song in (remaster, single)
        # A song is never an orphan, referenced or not: it always has its artist.
        assert {kept, live, sung, never_sung} <= songs
        assert merged.songs_removed == 2
        dangling = await conn.fetchval(
            """SELECT count(*) FROM setlist_songs ss
               WHERE NOT EXISTS (SELECT 1 FROM songs s WHERE s.id = ss.song_id)"""
        )
        assert dangling == 0
        assert await conn.fetchval("SELECT count(*) FROM votes") == len(entries)
        assert orphans.venues == 1 and orphans.artists == 1 and orphans.removed == 2
        venues = {row["id"] for row in await conn.fetch("SELECT id FROM venues")}
        assert lonely_venue not in venues and fresh_venue in venues
        assert await conn.fetchval("SELECT count(*) FROM artists WHERE id = $1", support) == 0
        checks = dict(await maintenance.integrity_checks(conn))
        assert checks["songs_without_artist"] == 0


async def test_recount_sets_artist_totals_from_rows(database_url: str) -> None:
    async with job_env(database_url) as env, env.pool.acquire() as conn:
        artist = await plant_artist(conn)
        await plant_show(conn, artist, days_ahead=3)
        await plant_show(conn, artist, days_ahead=-3, status="completed")
        await plant_song(conn, artist, "One")
        changed = await maintenance.recount_artist_totals(conn)
        assert changed == [artist]
        row = await conn.fetchrow(
            "SELECT total_shows, upcoming_shows, total_songs FROM artists WHERE id = $1", artist
        )
        assert row is not None and tuple(row) == (2, 1, 1)
        assert await maintenance.recount_artist_totals(conn) == []


async def test_integrity_checks_find_each_planted_defect(database_url: str) -> None:
    async with job_env(database_url) as env, env.pool.acquire() as conn:
        # A clean catalog first: every check at zero.
        artist = await plant_artist(conn, popularity=50)
        show = await plant_show(conn, artist)
        other_show = await plant_show(conn, artist)
        songs = [await plant_song(conn, artist, f"Song {i}") for i in range(3)]
        entries = await plant_setlist(conn, show, artist, songs)
        await plant_vote(conn, uuid.uuid4(), entries[0])
        await maintenance.recount_artist_totals(conn)
        clean = await maintenance.integrity_checks(conn)
        assert [name for name, _ in clean] == [name for name, _ in maintenance.INTEGRITY_CHECKS]
        assert all(count == 0 for _, count in clean), clean

        # Unique external ids: a database restored without its unique constraints.
        for table, constraint in [
            ("artists", "artists_spotify_id_key"),
            ("venues", "venues_ticketmaster_id_key"),
            ("shows", "shows_ticketmaster_id_key"),
            ("songs", "songs_spotify_id_key"),
            ("setlists", "setlists_setlistfm_id_key"),
        ]:
            await conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {constraint}")
        await conn.execute(
            """INSERT INTO artists (name, slug, spotify_id)
               SELECT name || ' again', slug || '-again', spotify_id FROM artists WHERE id = $1""",
            artist,
        )
        await conn.execute(
            """INSERT INTO venues (ticketmaster_id, name, slug)
               SELECT ticketmaster_id, name, slug || '-again' FROM venues LIMIT 1"""
        )
        await conn.execute(
            """INSERT INTO songs (spotify_id, artist_id, name, normalized_title)
               SELECT spotify_id, artist_id, name || ' (again)', normalized_title || ' again'
               FROM songs WHERE id = $1""",
            songs[0],
        )
        await conn.execute(
            """UPDATE setlists SET setlistfm_id = 'abc123'
               WHERE id IN (SELECT setlist_id FROM setlist_songs WHERE id = $1)""",
            entries[0],
        )
        await conn.execute(
            """INSERT INTO setlists (show_id, artist_id, type, setlistfm_id)
               VALUES ($1, $2, 'actual', 'abc123')""",
            other_show,
            artist,
        )
        twin = await plant_show(conn, artist)
        await conn.execute(
            """UPDATE shows SET ticketmaster_id = (SELECT ticketmaster_id FROM shows WHERE id = $1)
               WHERE id = $2""",
            show,
            twin,
        )

        # Foreign-key orphans: rows loaded with the constraint triggers off.
        missing = uuid.uuid4
        await conn.execute("SET session_replication_role = replica")
        await conn.execute(
            """INSERT INTO shows (headliner_artist_id, venue_id, slug, name, date)
               VALUES ($1, (SELECT venue_id FROM shows WHERE id = $2), 'orphan-show',
                       'Orphan', current_date)""",
            missing(),
            show,
        )
        await conn.execute(
            "INSERT INTO show_artists (show_id, artist_id) VALUES ($1, $2)", missing(), artist
        )
        await conn.execute(  # a song without an artist
            """INSERT INTO songs (artist_id, name, normalized_title)
               VALUES ($1, 'Nobody''s', 'nobodys')""",
            missing(),
        )
        await conn.execute(
            "INSERT INTO song_credits (artist_id, song_id) VALUES ($1, $2)", artist, missing()
        )
        await conn.execute(
            "INSERT INTO setlists (show_id, artist_id, type) VALUES ($1, $2, 'actual')",
            missing(),
            artist,
        )
        await conn.execute(
            """INSERT INTO setlist_songs (setlist_id, song_id, position)
               SELECT setlist_id, $1, 99 FROM setlist_songs WHERE id = $2""",
            missing(),
            entries[0],
        )
        await conn.execute(
            """INSERT INTO votes (user_id, setlist_song_id, show_id, vote_type)
               VALUES ($1, $2, $3, 'up')""",
            uuid.uuid4(),
            missing(),
            missing(),
        )
        await conn.execute(
            "INSERT INTO user_follows_artists (user_id, artist_id) VALUES ($1, $2)",
            uuid.uuid4(),
            missing(),
        )
        await conn.execute("INSERT INTO page_views (artist_id) VALUES ($1)", missing())
        await conn.execute("SET session_replication_role = DEFAULT")

        # A show without a venue; a credit naming the song's own artist (listed twice).
        await plant_show(conn, artist, venue_id=None)
        await conn.execute(
            "INSERT INTO song_credits (artist_id, song_id) VALUES ($1, $2)", artist, songs[1]
        )
        # A vote whose show is not its setlist's (counters moved as the web app would).
        await conn.execute(
            """INSERT INTO votes (user_id, setlist_song_id, show_id, vote_type)
               VALUES ($1, $2, $3, 'up')""",
            uuid.uuid4(),
            entries[1],
            other_show,
        )
        await conn.execute(
            "UPDATE setlist_songs SET upvotes = upvotes + 1 WHERE id = $1", entries[1]
        )
        await conn.execute(
            """UPDATE setlists SET total_votes = total_votes + 1
               WHERE id = (SELECT setlist_id FROM setlist_songs WHERE id = $1)""",
            entries[1],
        )
        await conn.execute("UPDATE shows SET vote_count = vote_count + 1 WHERE id = $1", other_show)
        # Everything above is counted in the artist totals; now the counters that disagree.
        await maintenance.recount_artist_totals(conn)
        await conn.execute("UPDATE shows SET vote_count = vote_count + 2 WHERE id = $1", show)
        await conn.execute(
            """UPDATE setlists SET total_votes = 0
               WHERE id = (SELECT setlist_id FROM setlist_songs WHERE id = $1)""",
            entries[0],
        )
        await conn.execute("UPDATE setlist_songs SET downvotes = 4 WHERE id = $1", entries[2])
        await conn.execute("UPDATE artists SET total_shows = total_shows + 1 WHERE id = $1", artist)
        other_artist = await plant_artist(conn)
        await conn.execute("UPDATE artists SET upcoming_shows = 3 WHERE id = $1", other_artist)
        third_artist = await plant_artist(conn)
        await conn.execute("UPDATE artists SET total_songs = 12 WHERE id = $1", third_artist)

        checks = dict(await maintenance.integrity_checks(conn))
        assert checks == {name: 1 for name, _ in maintenance.INTEGRITY_CHECKS}, {
            name: count for name, count in checks.items() if count != 1
        }
