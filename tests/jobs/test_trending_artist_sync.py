"""trending-artist-sync end to end: the top artists by trending score get their whole catalog
refreshed with the import's rules (checked against the simulator's ground truth), recent ones are
skipped, and stale songs go unless a setlist or a vote refers to them."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from tests.importer.support import stored_songs
from tests.jobs.sync_support import SyncEnv

JOB = "trending-artist-sync"
SUMMARY_KEYS = {
    "selected",
    "synced",
    "skippedRecent",
    "failed",
    "albumsScanned",
    "songsUpserted",
    "liveTracksFlagged",
    "duplicatesMerged",
    "staleRemoved",
}
SIM_ARTISTS = 10  # the simulator's catalog (the ``env`` fixture, tests/jobs/conftest.py)


async def imported(env: SyncEnv, count: int) -> list[tuple[dict[str, Any], UUID]]:
    """``count`` imported artists, scored count..1, their catalogs stored two days ago."""
    chosen = (await env.sim_catalog())[:count]
    out = [(artist, await env.import_artist(artist["spotifyId"])) for artist in chosen]
    for score, (_, artist_id) in zip(range(count, 0, -1), out, strict=True):
        await env.database.pool.execute(
            """UPDATE artists SET trending_score = $2,
                   song_catalog_synced_at = now() - interval '2 days' WHERE id = $1""",
            artist_id,
            float(score),
        )
    return out


async def run_job(env: SyncEnv, **params: Any) -> dict[str, Any]:
    """A run through the job runner; it must succeed, with the contract's summary."""
    return await env.run_succeeding(JOB, params, SUMMARY_KEYS)


async def plant_song(env: SyncEnv, artist_id: UUID, name: str) -> UUID:
    song_id: UUID = await env.database.pool.fetchval(
        """INSERT INTO songs (spotify_id, artist_id, name, normalized_title)
           VALUES ($1, $2, $3, lower($3)) RETURNING id""",
        uuid.uuid4().hex[:22],
        artist_id,
        name,
    )
    return song_id


async def test_the_top_artists_get_their_whole_catalog(env: SyncEnv) -> None:
    artists = await imported(env, 3)
    (top, top_id), (second, second_id), (third, third_id) = artists
    await env.sim_post("/_sim/catalog", {"artistName": top["name"], "newAlbums": 2})
    await env.sim_post("/_sim/catalog", {"artistName": third["name"], "newAlbums": 1})

    summary = await run_job(env, limit=2)
    assert summary["selected"] == 2 and summary["synced"] == 2
    assert summary["skippedRecent"] == 0 and summary["failed"] == 0

    truth = {a["spotifyId"]: a["counts"] for a in await env.sim_catalog()}
    pool = env.database.pool
    for artist, artist_id in ((top, top_id), (second, second_id)):
        counts = truth[artist["spotifyId"]]
        songs, live, dupes = await stored_songs(pool, artist_id)
        assert songs == counts["tracks"] - counts["duplicate_tracks"], artist["name"]
        assert live == counts["live_tracks"] and dupes == 0
        assert (
            await pool.fetchval("SELECT total_albums FROM artists WHERE id = $1", artist_id)
            == counts["albums"]
        )
    expected = [truth[a["spotifyId"]] for a, _ in artists[:2]]
    assert summary["albumsScanned"] == sum(c["albums"] for c in expected)
    assert summary["liveTracksFlagged"] == sum(c["live_tracks"] for c in expected)
    assert summary["duplicatesMerged"] == sum(c["duplicate_tracks"] for c in expected)
    assert summary["songsUpserted"] > 0  # the new albums' songs at least
    # The third artist is not in the top 2: its new album is not stored yet.
    third_counts = truth[third["spotifyId"]]
    third_songs = await pool.fetchval("SELECT count(*) FROM songs WHERE artist_id = $1", third_id)
    assert third_songs < third_counts["tracks"] - third_counts["duplicate_tracks"]
    # Album art: the 640 px image of the release, never the 64 px one.
    urls = await pool.fetch(
        "SELECT DISTINCT album_image_url FROM songs WHERE artist_id = $1", top_id
    )
    assert urls and all("b273" in r["album_image_url"] for r in urls)

    again = await run_job(env, limit=2, skipRecentlyUpdated=False)
    assert again["songsUpserted"] == 0 and again["staleRemoved"] == 0


async def test_recently_updated_artists_are_skipped(env: SyncEnv) -> None:
    artists = await imported(env, 2)
    await env.database.pool.execute(
        "UPDATE artists SET song_catalog_synced_at = now() - interval '1 hour' WHERE id = $1",
        artists[0][1],
    )
    summary = await run_job(env, limit=5)
    assert summary["selected"] == 2 and summary["skippedRecent"] == 1 and summary["synced"] == 1
    forced = await run_job(env, limit=5, skipRecentlyUpdated=False)
    assert forced["skippedRecent"] == 0 and forced["synced"] == 2


async def test_stale_songs_go_unless_a_setlist_or_vote_refers_to_them(env: SyncEnv) -> None:
    [(_, artist_id)] = await imported(env, 1)
    pool = env.database.pool
    gone = await plant_song(env, artist_id, "Withdrawn Single")
    in_setlist = await plant_song(env, artist_id, "Played Once")
    voted = await plant_song(env, artist_id, "Fan Favourite")
    show_id = await pool.fetchval(
        "SELECT id FROM shows WHERE headliner_artist_id = $1 LIMIT 1", artist_id
    )
    assert show_id is not None
    setlist_id = await pool.fetchval(
        """INSERT INTO setlists (show_id, artist_id, type) VALUES ($1, $2, 'actual')
           RETURNING id""",
        show_id,
        artist_id,
    )
    await pool.execute(
        "INSERT INTO setlist_songs (setlist_id, song_id, position) VALUES ($1, $2, 1)",
        setlist_id,
        in_setlist,
    )
    predicted = await pool.fetchval(
        "SELECT id FROM setlists WHERE artist_id = $1 AND type = 'predicted' LIMIT 1", artist_id
    )
    setlist_song = await pool.fetchval(
        """INSERT INTO setlist_songs (setlist_id, song_id, position)
           VALUES ($1, $2, 100) RETURNING id""",
        predicted,
        voted,
    )
    await pool.execute(
        """INSERT INTO votes (user_id, setlist_song_id, show_id, vote_type)
           SELECT $1, $2, show_id, 'up' FROM setlists WHERE id = $3""",
        uuid.uuid4(),
        setlist_song,
        predicted,
    )
    votes_before = await pool.fetchval("SELECT count(*) FROM votes")

    summary = await run_job(env)
    assert summary["staleRemoved"] == 1
    remaining = {r["id"] for r in await pool.fetch("SELECT id FROM songs")}
    assert gone not in remaining
    assert in_setlist in remaining and voted in remaining
    assert await pool.fetchval("SELECT count(*) FROM votes") == votes_before
