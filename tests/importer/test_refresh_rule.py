"""The catalog refresh's one rule for deleting songs, through the import and through a job.

A song the upstream no longer lists is deleted by a complete refresh of its artist's
discography, unless a setlist lists it (predicted or actual) or a vote refers to it. The import's
phase 3 (a repeated import) and trending-artist-sync are the two refreshes that read a whole
discography; both must keep and remove the same songs. Real app, real Postgres, the simulator.
"""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from tests.importer.support import sim_catalog, wait_done
from tests.jobs.catalog_support import plant_vote
from theset_daemon.appkeys import DATABASE, RUNNER


async def import_artist(client: TestClient, spotify_id: str) -> dict[str, Any]:
    """An import through the route, to its end; the final ImportStatus."""
    response = await client.post("/api/artists/import", json={"spotifyId": spotify_id})
    assert response.status in (200, 202), await response.text()
    status = await wait_done(client, (await response.json())["jobId"])
    assert status["status"] == "completed", status
    return status


async def a_touring_artist(client: TestClient) -> dict[str, Any]:
    """A simulated artist with upcoming shows (so its import predicts setlists), and songs
    enough to fill a predicted setlist; the smallest such catalog, for speed."""
    touring = [
        a
        for a in await sim_catalog(client)
        if a["counts"]["upcoming_shows"] > 0 and a["counts"]["tracks"] >= 12
    ]
    return min(touring, key=lambda a: a["counts"]["tracks"])


async def withdrawn_song(conn: asyncpg.Connection, artist_id: UUID, name: str) -> UUID:
    """A song stored by an earlier refresh whose release the upstream no longer lists: an id
    the simulator never answers with."""
    song_id: UUID = await conn.fetchval(
        """INSERT INTO songs (spotify_id, artist_id, name, normalized_title, album_name,
                              album_type)
           VALUES ($1, $2, $3, lower($3), 'Withdrawn Release', 'album') RETURNING id""",
        uuid.uuid4().hex[:22],
        artist_id,
        name,
    )
    return song_id


async def listed_on(conn: asyncpg.Connection, setlist_id: UUID, song_id: UUID) -> UUID:
    """The song added at the end of the setlist; its setlist_songs id."""
    entry: UUID = await conn.fetchval(
        """INSERT INTO setlist_songs (setlist_id, song_id, position)
           SELECT $1, $2, coalesce(max(position), 0) + 1 FROM setlist_songs
           WHERE setlist_id = $1 RETURNING id""",
        setlist_id,
        song_id,
    )
    return entry


async def plant_withdrawn_songs(conn: asyncpg.Connection, artist_id: UUID) -> dict[str, UUID]:
    """Four withdrawn songs: on a predicted setlist, on an actual setlist, voted on (through a
    predicted setlist), and on nothing."""
    predicted = await conn.fetchrow(
        "SELECT id, show_id FROM setlists WHERE artist_id = $1 AND type = 'predicted' LIMIT 1",
        artist_id,
    )
    assert predicted is not None, "the import predicted no setlist"
    actual = await conn.fetchval(
        """INSERT INTO setlists (show_id, artist_id, type) VALUES ($1, $2, 'actual')
           RETURNING id""",
        predicted["show_id"],
        artist_id,
    )
    songs = {
        kind: await withdrawn_song(conn, artist_id, f"Withdrawn {kind}")
        for kind in ("predicted", "actual", "voted", "nowhere")
    }
    await listed_on(conn, predicted["id"], songs["predicted"])
    await listed_on(conn, actual, songs["actual"])
    voted_entry = await listed_on(conn, predicted["id"], songs["voted"])
    await plant_vote(conn, uuid.uuid4(), voted_entry)
    return songs


@pytest.mark.parametrize("refresh", ["import", "trending-artist-sync"])
async def test_a_withdrawn_song_goes_unless_a_setlist_or_a_vote_holds_it(
    client: TestClient, refresh: str
) -> None:
    artist = await a_touring_artist(client)
    await import_artist(client, artist["spotifyId"])
    pool = client.app[DATABASE].pool
    artist_id = await pool.fetchval(
        "SELECT id FROM artists WHERE spotify_id = $1", artist["spotifyId"]
    )
    async with pool.acquire() as conn:
        planted = await plant_withdrawn_songs(conn, artist_id)
    entries_before = await pool.fetchval("SELECT count(*) FROM setlist_songs")
    votes_before = await pool.fetchval("SELECT count(*) FROM votes")

    if refresh == "import":
        status = await import_artist(client, artist["spotifyId"])
        stored = await pool.fetchval("SELECT count(*) FROM songs WHERE artist_id = $1", artist_id)
        assert status["counts"]["songs"] == stored
    else:
        run = await client.app[RUNNER].run(refresh, {"skipRecentlyUpdated": False})
        assert run["status"] == "succeeded", run
        assert run["summary"]["staleRemoved"] == 1

    remaining = {r["id"] for r in await pool.fetch("SELECT id FROM songs")}
    assert planted["nowhere"] not in remaining
    kept = {kind: song_id in remaining for kind, song_id in planted.items() if kind != "nowhere"}
    assert kept == {"predicted": True, "actual": True, "voted": True}
    assert await pool.fetchval("SELECT count(*) FROM setlist_songs") == entries_before
    assert await pool.fetchval("SELECT count(*) FROM votes") == votes_before
    # Everything else the upstream lists is still there, once.
    truth = artist["counts"]
    studio_and_live = await pool.fetchval(
        """SELECT count(*) FROM songs WHERE artist_id = $1 AND NOT (id = ANY($2::uuid[]))""",
        artist_id,
        list(planted.values()),
    )
    assert studio_and_live == truth["tracks"] - truth["duplicate_tracks"]
