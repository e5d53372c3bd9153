"""Phases 2 (shows, Ticketmaster) and 3 (songs, Spotify) do not take each other down: with one
provider failing, the other phase's data is stored, the import ends ``partial`` with the failed
phase's code and a final ``complete`` event, and the artist is marked for the next sync.
Real app, real Postgres, the simulator with injected faults (``POST /_sim/faults``)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import asyncpg
from aiohttp.test_utils import TestClient

from tests.importer.support import UNTHROTTLED, app_client, sim_catalog, stored_songs, wait_done
from tests.waiting import eventually
from theset_daemon.appkeys import UPSTREAMS
from theset_daemon.progress.frames import read_events

# Failures fast: no pause between retries (the breaker still opens after five).
FAST_FAILURES = UNTHROTTLED.replace("reuse_within_s = 0", "reuse_within_s = 3600") + "".join(
    f"[upstream.{p}.retry]\nbase_delay_s = 0\n" for p in ("spotify", "ticketmaster")
)


async def touring_artist(client: TestClient) -> dict[str, Any]:
    """A small catalog with upcoming shows and songs."""
    touring = [
        a
        for a in await sim_catalog(client)
        if a["counts"]["upcoming_shows"] > 0 and a["counts"]["tracks"] > 0
    ]
    return min(touring, key=lambda a: a["counts"]["tracks"])


async def fault(client: TestClient, **body: Any) -> None:
    base = client.app[UPSTREAMS].simulator_url
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base}/_sim/faults", json=body) as response,
    ):
        assert response.status == 201, await response.text()


async def events_of(client: TestClient, job_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The job's whole stored event log, as the stream replays it."""
    out = []
    async with client.get(
        f"/api/artists/import/progress/{job_id}", headers={"Last-Event-ID": "0"}
    ) as stream:
        async with asyncio.timeout(30):
            async for event in read_events(stream.content):
                out.append((event.event, json.loads(event.data)))
    return out


async def synced_columns(database_url: str, spotify_id: str) -> tuple[asyncpg.Record, int]:
    conn = await asyncpg.connect(database_url)
    try:
        row: asyncpg.Record = await conn.fetchrow(
            """SELECT id, last_synced_at, shows_synced_at, song_catalog_synced_at,
                      (SELECT count(*) FROM shows WHERE headliner_artist_id = a.id) AS shows
               FROM artists AS a WHERE spotify_id = $1""",
            spotify_id,
        )
        row_songs = await stored_songs(conn, row["id"])
    finally:
        await conn.close()
    return row, row_songs.songs


async def test_a_failed_show_phase_keeps_the_songs(
    aiohttp_client: Any, database_url: str, unthrottled_simulator: None
) -> None:
    client = await app_client(aiohttp_client, database_url, FAST_FAILURES)
    artist = await touring_artist(client)
    # Phase 1 by Spotify id asks Spotify alone; every Ticketmaster request fails from now on.
    await fault(client, provider="ticketmaster", status=500, count=10_000)
    response = await client.post("/api/artists/import", json={"spotifyId": artist["spotifyId"]})
    assert response.status == 202, await response.text()
    job_id = (await response.json())["jobId"]
    status = await wait_done(client, job_id)

    assert status["status"] == "partial", status
    assert status["error"] == {
        "code": "shows_unavailable",
        "message": "the shows could not be imported now; the next sync fills them in",
    }
    assert status["stage"] == "done" and status["progress"] == 100
    assert status["finishedAt"] is not None
    counts = artist["counts"]
    row, songs = await synced_columns(database_url, artist["spotifyId"])
    assert songs == counts["tracks"] - counts["duplicate_tracks"] == status["counts"]["songs"]
    assert row["shows"] == 0
    # Marked: the show sync takes it first, update-active-artists finds it due; songs are fresh.
    assert row["shows_synced_at"] is None and row["last_synced_at"] is None
    assert row["song_catalog_synced_at"] is not None

    events = await events_of(client, job_id)
    assert events[-1][0] == "complete" and events[-1][1]["status"] == "partial"
    assert all(name == "progress" for name, _ in events[:-1])

    # A partial import is never reused: the next POST starts a new job.
    again = await client.post("/api/artists/import", json={"spotifyId": artist["spotifyId"]})
    assert again.status == 202, await again.text()
    assert (await again.json())["jobId"] != job_id
    await wait_done(client, (await again.json())["jobId"])


async def test_a_failed_song_phase_keeps_the_shows(
    aiohttp_client: Any, database_url: str, unthrottled_simulator: None
) -> None:
    client = await app_client(aiohttp_client, database_url, FAST_FAILURES)
    artist = await touring_artist(client)
    spotify = client.app[UPSTREAMS].spotify
    await spotify.search_artists("warm", limit=1)  # the token is fetched now, not in phase 1
    # Phase 1 (one artist lookup) goes through; every Spotify request after it fails.
    await fault(client, provider="spotify", latencyMs=1, count=1)
    await fault(client, provider="spotify", status=500, count=10_000)
    response = await client.post("/api/artists/import", json={"spotifyId": artist["spotifyId"]})
    assert response.status == 202, await response.text()
    status = await wait_done(client, (await response.json())["jobId"])

    assert status["status"] == "partial", status
    assert status["error"]["code"] == "songs_unavailable", status
    assert "spotify" not in status["error"]["message"].lower()  # our sentence, not the error's
    row, songs = await synced_columns(database_url, artist["spotifyId"])
    assert row["shows"] == artist["counts"]["upcoming_shows"] == status["counts"]["shows"]
    assert songs == 0
    assert row["song_catalog_synced_at"] is None and row["last_synced_at"] is None
    assert row["shows_synced_at"] is not None


async def test_an_interrupted_import_resumes_only_its_missing_phase(
    aiohttp_client: Any, database_url: str, unthrottled_simulator: None
) -> None:
    """Shows stored, songs in flight when the daemon stops: interrupted with the shows in its
    checkpoint; the next daemon resumes it, asks Spotify for the songs and Ticketmaster for
    nothing, and completes it."""
    text = FAST_FAILURES + "[shutdown]\ngrace_seconds = 2\n"
    client = await app_client(aiohttp_client, database_url, text)
    artist = await touring_artist(client)
    await client.app[UPSTREAMS].spotify.search_artists("warm", limit=1)
    await fault(client, provider="spotify", latencyMs=1, count=1)  # phase 1
    await fault(client, provider="spotify", latencyMs=60_000, count=1000)  # the songs hang
    response = await client.post("/api/artists/import", json={"spotifyId": artist["spotifyId"]})
    job_id = (await response.json())["jobId"]
    conn = await asyncpg.connect(database_url)
    try:
        await eventually(
            lambda: conn.fetchval(
                "SELECT checkpoint ? 'shows' FROM import_status WHERE job_id = $1::uuid", job_id
            ),
            what="the shows phase done",
        )
        await client.close()  # as on SIGTERM: the songs phase is cancelled after the drain
        row = await conn.fetchrow(
            "SELECT status, checkpoint FROM import_status WHERE job_id = $1::uuid", job_id
        )
    finally:
        await conn.close()
    assert row["status"] == "interrupted" and "songs" not in row["checkpoint"], row

    restarted = await app_client(aiohttp_client, database_url, FAST_FAILURES)
    status = await wait_done(restarted, job_id)
    assert status["status"] == "completed", status
    assert status["counts"]["shows"] == artist["counts"]["upcoming_shows"]
    assert (
        status["counts"]["songs"]
        == artist["counts"]["tracks"] - artist["counts"]["duplicate_tracks"]
    )
    base = restarted.app[UPSTREAMS].simulator_url
    async with aiohttp.ClientSession() as session, session.get(f"{base}/_sim/stats") as answer:
        providers = (await answer.json())["providers"]
    assert providers["ticketmaster"]["requests"] == 0, providers
    assert providers["spotify"]["requests"] > 0
