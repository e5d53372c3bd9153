"""The import end to end: the real app (simulated upstreams), a real Postgres, the stored rows
checked against the simulator's ground truth (/_sim/catalog)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from tests.importer.support import CONFIG, app_client, sim_catalog, stored_songs, wait_done
from theset_daemon.progress.frames import read_events


async def test_an_import_stores_exactly_the_catalog(client: TestClient, database_url: str) -> None:
    """Unthrottled, the songs phase may end before the shows phase: every upcoming show still
    gets its predicted setlist (each refresh predicts after its own write has committed)."""
    artist = max(await sim_catalog(client), key=lambda a: a["counts"]["tracks"])
    response = await client.post("/api/artists/import", json={"spotifyId": artist["spotifyId"]})
    body = await response.json()
    assert response.status == 202, body
    assert body["status"] == "running" and body["artist"]["name"] == artist["name"]
    assert body["progressUrl"] == f"/api/artists/import/progress/{body['jobId']}"
    status = await wait_done(client, body["jobId"])
    assert status["status"] == "completed", status
    assert status["progress"] == 100 and status["stage"] == "done"

    counts = artist["counts"]
    conn = await asyncpg.connect(database_url)
    try:
        artist_id = await conn.fetchval(
            "SELECT id FROM artists WHERE spotify_id = $1", artist["spotifyId"]
        )
        songs, live, dupes = await stored_songs(conn, artist_id)
        shows = await conn.fetchval(
            "SELECT count(*) FROM shows WHERE headliner_artist_id = $1", artist_id
        )
        venues = await conn.fetchval(
            "SELECT count(DISTINCT venue_id) FROM shows WHERE headliner_artist_id = $1", artist_id
        )
        predicted = await conn.fetch(
            """SELECT l.id, count(ss.id) AS n FROM setlists l
               JOIN setlist_songs ss ON ss.setlist_id = l.id
               WHERE l.artist_id = $1 AND l.type = 'predicted' GROUP BY l.id""",
            artist_id,
        )
        upcoming = await conn.fetchval(
            """SELECT count(*) FROM shows WHERE headliner_artist_id = $1
               AND status = 'upcoming' AND date >= current_date""",
            artist_id,
        )
    finally:
        await conn.close()
    assert songs == counts["tracks"] - counts["duplicate_tracks"]
    assert live == counts["live_tracks"]
    assert dupes == 0
    assert shows == counts["upcoming_shows"]
    assert status["counts"]["songs"] == songs
    assert status["counts"]["shows"] == shows and status["counts"]["venues"] == venues
    assert status["counts"]["albums"] == counts["albums"]
    assert len(predicted) == upcoming
    assert all(8 <= row["n"] <= 12 for row in predicted) or songs < 8


async def test_a_repeated_import_writes_no_duplicates(
    client: TestClient, database_url: str
) -> None:
    artist = (await sim_catalog(client))[1]
    for _ in range(2):
        response = await client.post("/api/artists/import", json={"name": artist["name"]})
        assert response.status in (200, 202)
        assert (await wait_done(client, (await response.json())["jobId"]))["status"] == "completed"
    conn = await asyncpg.connect(database_url)
    try:
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM artists WHERE spotify_id = $1", artist["spotifyId"]
            )
            == 1
        )
        duplicate_songs = await conn.fetchval(
            "SELECT count(*) - count(DISTINCT spotify_id) FROM songs"
        )
        duplicate_setlists = await conn.fetchval(
            """SELECT count(*) - count(DISTINCT (show_id, artist_id, type)) FROM setlists"""
        )
    finally:
        await conn.close()
    assert duplicate_songs == 0 and duplicate_setlists == 0


async def test_concurrent_imports_of_one_artist_share_one_job(client: TestClient) -> None:
    artist = (await sim_catalog(client))[2]
    answers = await asyncio.gather(
        *(
            client.post("/api/artists/import", json={"spotifyId": artist["spotifyId"]})
            for _ in range(5)
        )
    )
    bodies = [await a.json() for a in answers]
    statuses = sorted(a.status for a in answers)
    job_ids = {b["jobId"] for b in bodies}
    assert len(job_ids) == 1, bodies
    assert statuses.count(202) == 1 and statuses.count(200) == 4
    assert all(b["deduplicated"] for a, b in zip(answers, bodies, strict=True) if a.status == 200)
    await wait_done(client, job_ids.pop())


async def test_the_progress_stream_follows_an_import_to_complete(client: TestClient) -> None:
    artist = (await sim_catalog(client))[3]
    response = await client.post("/api/artists/import", json={"spotifyId": artist["spotifyId"]})
    job_id = (await response.json())["jobId"]
    events: list[tuple[str, str]] = []
    async with client.get(
        f"/api/artists/import/progress/{job_id}",
        headers={"Last-Event-ID": "0", "Origin": "https://theset.live"},
    ) as stream:
        assert stream.status == 200
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        assert stream.headers["Access-Control-Allow-Origin"] == "https://theset.live"
        async with asyncio.timeout(60):
            async for event in read_events(stream.content):
                assert event.id is not None, event
                events.append((event.id, event.event))
    assert [int(i) for i, _ in events] == list(range(1, len(events) + 1))
    assert events[-1][1] == "complete"
    assert all(name == "progress" for _, name in events[:-1])
    last = events[-1][0]
    again = await client.get(
        f"/api/artists/import/progress/{job_id}", headers={"Last-Event-ID": last}
    )
    assert again.status == 204


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 400),
        ({"name": "  "}, 400),
        ({"spotifyId": "short"}, 400),
        ({"name": "A", "spotifyId": "0" * 22}, 400),
        ({"ticketmasterId": "../../etc"}, 400),
        ({"name": "x" * 201}, 400),
        ({"spotifyId": "0" * 22}, 404),
        ({"name": "No Such Band Zzzxq"}, 404),
    ],
)
async def test_bad_imports_are_refused_cleanly(
    client: TestClient, body: dict[str, Any], status: int
) -> None:
    response = await client.post("/api/artists/import", json=body)
    assert response.status == status, await response.text()
    assert (await response.json())["error"]["code"] == (
        "invalid_request" if status == 400 else "not_found"
    )


async def test_unknown_jobs_are_404(client: TestClient) -> None:
    for path in (
        "/api/artists/import/nope",
        "/api/artists/import/progress/nope",
        "/api/artists/import/00000000-0000-4000-8000-000000000000",
    ):
        response = await client.get(path)
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "not_found"


async def test_openapi_lists_the_import_routes(client: TestClient) -> None:
    doc = await (await client.get("/api/openapi.json")).json()
    assert "/api/artists/import" in doc["paths"]
    assert "/api/artists/import/progress/{jobId}" in doc["paths"]
    schemas = doc["components"]["schemas"]
    assert "partial" in schemas["ImportStatus"]["properties"]["status"]["enum"]
    started = schemas["ImportStarted"]["properties"]
    assert started["reused"]["type"] == "boolean" and "deduplicated" in started


async def test_a_client_past_its_limit_gets_429(aiohttp_client: Any, database_url: str) -> None:
    text = CONFIG.replace("per_client_per_minute = 1000", "per_client_per_minute = 2")
    client = await app_client(aiohttp_client, database_url, text)
    codes = []
    for _ in range(3):
        response = await client.post("/api/artists/import", json={"spotifyId": "0" * 22})
        codes.append(response.status)
    assert codes == [404, 404, 429]
    assert int(response.headers["Retry-After"]) >= 1
