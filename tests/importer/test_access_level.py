"""Spotify's access level found from its answers, not only configured (CONTRACT.md section 7).

A daemon set to ``api_mode = "extended"`` whose app Spotify answers as a development-mode app
(the simulator switched to development: 403 on the batch endpoints, 400 ``Invalid limit`` on a
page over 10) finds out on the first refusal, follows the development rules from then on, logs
``spotify_access_level`` once, names the level in ``/readyz``, and imports the whole catalog.
Real app, real Postgres, the simulator's ground truth (``/_sim/catalog``).
"""

from __future__ import annotations

from typing import Any

import aiohttp
import asyncpg
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from tests.importer.support import sim_catalog, stored_songs, wait_done
from theset_daemon.appkeys import SETTINGS, UPSTREAMS
from theset_daemon.config import SettingsHolder


async def spotify_mode(client: TestClient, mode: str) -> None:
    """How the simulator answers: as Spotify answers an extended or a development-mode app."""
    base = client.app[UPSTREAMS].simulator_url
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base}/_sim/spotify-mode", json={"mode": mode}) as response,
    ):
        assert response.status == 200, await response.text()


async def sim_stats(client: TestClient) -> dict[str, Any]:
    base = client.app[UPSTREAMS].simulator_url
    async with aiohttp.ClientSession() as session, session.get(f"{base}/_sim/stats") as response:
        stats: dict[str, Any] = await response.json()
        return stats


def set_api_mode(holder: SettingsHolder, api_mode: str) -> None:
    """``upstream.spotify.api_mode`` changed the way a SIGHUP changes it."""
    current = holder.current
    spotify = current.upstream.spotify.model_copy(update={"api_mode": api_mode})
    upstream = current.upstream.model_copy(update={"spotify": spotify})
    holder.current = current.model_copy(update={"upstream": upstream})


async def readiness_level(client: TestClient) -> str:
    response = await client.get("/readyz")
    body = await response.json()
    assert response.status == 200, body
    level: str = body["components"]["spotify"]["details"]["accessLevel"]
    return level


async def test_an_extended_daemon_on_a_development_app_finds_out_and_imports_everything(
    client: TestClient, database_url: str
) -> None:
    assert client.app[SETTINGS].current.upstream.spotify.api_mode == "extended"
    assert await readiness_level(client) == "extended"
    await spotify_mode(client, "development")
    touring = [a for a in await sim_catalog(client) if a["counts"]["upcoming_shows"] > 0]
    # More than one page of releases at development's 10, and more than one album batch.
    artist = max(touring, key=lambda a: (a["counts"]["albums"], a["counts"]["tracks"]))
    assert artist["counts"]["albums"] > 10

    with capture_logs() as logs:
        response = await client.post("/api/artists/import", json={"spotifyId": artist["spotifyId"]})
        assert response.status == 202, await response.text()
        status = await wait_done(client, (await response.json())["jobId"])
    assert status["status"] == "completed", status

    found = [e for e in logs if e["event"] == "spotify_access_level"]
    assert len(found) == 1, found
    assert found[0]["level"] == "development" and found[0]["configured"] == "extended"
    assert found[0]["setting"] == 'upstream.spotify.api_mode = "development"'
    assert 'upstream.spotify.api_mode = "development"' in found[0]["message"]
    assert await readiness_level(client) == "development"

    counts = artist["counts"]
    conn = await asyncpg.connect(database_url)
    try:
        artist_id = await conn.fetchval(
            "SELECT id FROM artists WHERE spotify_id = $1", artist["spotifyId"]
        )
        songs = await stored_songs(conn, artist_id)
        shows = await conn.fetchval(
            "SELECT count(*) FROM shows WHERE headliner_artist_id = $1", artist_id
        )
    finally:
        await conn.close()
    assert songs.songs == counts["tracks"] - counts["duplicate_tracks"] == status["counts"]["songs"]
    assert songs.live == counts["live_tracks"] and songs.duplicated_titles == 0
    assert shows == counts["upcoming_shows"] == status["counts"]["shows"]
    assert status["counts"]["albums"] == counts["albums"]

    # From then on the development rules: no batch call, no page over 10, nothing refused.
    base = client.app[UPSTREAMS].simulator_url
    async with aiohttp.ClientSession() as session:
        await session.delete(f"{base}/_sim/stats")
    other = next(a for a in touring if a["spotifyId"] != artist["spotifyId"])
    with capture_logs() as logs:
        response = await client.post("/api/artists/import", json={"spotifyId": other["spotifyId"]})
        status = await wait_done(client, (await response.json())["jobId"])
    assert status["status"] == "completed", status
    assert not [e for e in logs if e["event"] == "spotify_access_level"]
    by_endpoint = (await sim_stats(client))["providers"]["spotify"]["by_endpoint"]
    assert by_endpoint, "the second import asked Spotify nothing"
    batch = {"GET /v1/albums", "GET /v1/tracks", "GET /v1/artists"}
    assert not batch & set(by_endpoint), by_endpoint


async def test_the_found_level_outlives_a_reload_unless_api_mode_changes(
    client: TestClient,
) -> None:
    spotify = client.app[UPSTREAMS].spotify
    holder = client.app[SETTINGS]
    artist = (await sim_catalog(client))[0]
    await spotify_mode(client, "development")
    with capture_logs() as logs:
        assert await spotify.top_tracks(artist["spotifyId"]) == []  # refused: 403
    assert [e["event"] for e in logs].count("spotify_access_level") == 1
    assert spotify.mode == "development"

    # A reload that leaves api_mode alone keeps what the answers showed.
    current = holder.current
    holder.current = current.model_copy(update={"log": current.log.model_copy()})
    assert spotify.mode == "development"

    # The operator's change is taken: "development" as advised, then "extended" again (say
    # Spotify granted it): extended calls are tried anew and a refusal found again.
    set_api_mode(holder, "development")
    assert spotify.mode == "development"
    set_api_mode(holder, "extended")
    assert spotify.mode == "extended"
    await spotify_mode(client, "extended")
    assert len(await spotify.top_tracks(artist["spotifyId"])) > 0
    assert spotify.mode == "extended"
