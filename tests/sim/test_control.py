"""The ``/_sim`` control routes: catalog listing and additions, stats, mode, errors."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.sim.conftest import SETTINGS, Sim, SimFactory
from theset_daemon.sim import SIM_CREDENTIALS, SimLimits, build_sim_app, running_simulator
from theset_daemon.sim.state import SIM_STATE


async def test_catalog_lists_artists_with_ids_and_counts(make_sim: SimFactory) -> None:
    sim = await make_sim(artists=120)
    response = await sim.client.get("/_sim/catalog")
    body = await response.json()
    assert body["total"] == 120 and len(body["artists"]) == 100
    entry = body["artists"][0]
    assert set(entry) == {"name", "spotifyId", "ticketmasterId", "mbid", "counts"}
    assert set(entry["counts"]) == {
        "albums",
        "tracks",
        "live_tracks",
        "duplicate_tracks",
        "upcoming_shows",
        "past_setlists",
    }
    tail = await sim.catalog(offset=110, limit=50)
    assert len(tail) == 10
    assert [a["name"] for a in await sim.catalog(offset=3, limit=2)] == [
        a["name"] for a in body["artists"][3:5]
    ]
    for query in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"offset": "x"}):
        bad = await sim.client.get("/_sim/catalog", params=query)
        assert bad.status == 400
        assert (await bad.json())["error"]["code"] == "invalid_request"


async def test_adding_albums_and_shows_shows_up_in_the_api(sim: Sim) -> None:
    entry = (await sim.catalog(limit=2))[1]
    before = entry["counts"]
    response = await sim.client.post(
        "/_sim/catalog", json={"artistName": entry["name"].upper(), "newAlbums": 2, "newShows": 3}
    )
    assert response.status == 200
    after = (await response.json())["counts"]
    assert after["albums"] == before["albums"] + 2
    assert after["tracks"] > before["tracks"]
    assert after["duplicate_tracks"] == before["duplicate_tracks"]
    assert after["upcoming_shows"] == before["upcoming_shows"] + 3
    assert (await sim.catalog(limit=2))[1]["counts"] == after

    page = await sim.spotify_ok(f"/artists/{entry['spotifyId']}/albums", include_groups="album")
    newest = page["items"][:2]
    today = max(a["release_date"] for a in page["items"])
    assert [a["release_date"] for a in newest] == [today, today]
    tracks = 0
    for album in newest:
        tracks += (await sim.spotify_ok(f"/albums/{album['id']}/tracks", limit=50))["total"]
    assert tracks == after["tracks"] - before["tracks"]
    status, events = await sim.tm("/events.json", attractionId=entry["ticketmasterId"], size=200)
    assert status == 200 and events["page"]["totalElements"] == after["upcoming_shows"]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"artistName": "Nobody Of That Name", "newAlbums": 1}, 404, None),
        ({"artistName": "", "newAlbums": 1}, 400, "artistName"),
        ({"newAlbums": 1}, 400, "artistName"),
        ({"artistName": "x", "newAlbums": -1}, 400, "newAlbums"),
        ({"artistName": "x", "newShows": 1.5}, 400, "newShows"),
        ({"artistName": "x", "extra": 1}, 400, "extra"),
    ],
)
async def test_catalog_additions_are_validated(
    sim: Sim, body: dict[str, Any], status: int, field: str | None
) -> None:
    response = await sim.client.post("/_sim/catalog", json=body)
    assert response.status == status
    error = (await response.json())["error"]
    assert error["code"] == ("not_found" if status == 404 else "invalid_request")
    if field:
        assert error["message"].startswith(field)


async def test_stats_count_by_route_and_reset(sim: Sim) -> None:
    entry = (await sim.catalog(limit=1))[0]
    await sim.spotify_ok(f"/artists/{entry['spotifyId']}")
    await sim.spotify_ok(f"/artists/{entry['spotifyId']}/albums")
    await sim.tm("/events.json", attractionId=entry["ticketmasterId"])
    await sim.fm(f"/artist/{entry['mbid']}")
    stats = await sim.stats()
    assert stats["spotify"]["by_endpoint"] == {
        "GET /v1/artists/{id}": 1,
        "GET /v1/artists/{id}/albums": 1,
        "POST /api/token": 1,
    }
    assert stats["ticketmaster"]["by_endpoint"] == {"GET /discovery/v2/events.json": 1}
    assert stats["setlistfm"]["requests"] == 1
    response = await sim.client.delete("/_sim/stats")
    cleared = (await response.json())["providers"]
    assert all(p["requests"] == 0 and p["by_endpoint"] == {} for p in cleared.values())


async def test_spotify_mode_switch_and_unknown_control_routes(sim: Sim) -> None:
    assert await (await sim.client.get("/_sim/spotify-mode")).json() == {"mode": "extended"}
    bad = await sim.client.post("/_sim/spotify-mode", json={"mode": "premium"})
    assert bad.status == 400 and (await bad.json())["error"]["message"].startswith("mode")
    await sim.mode("development")
    assert await (await sim.client.get("/_sim/spotify-mode")).json() == {"mode": "development"}
    missing = await sim.client.get("/_sim/nothing-here")
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "not_found"
    wrong = await sim.client.put("/_sim/stats")
    assert wrong.status == 405
    assert (await wrong.json())["error"]["code"] == "method_not_allowed"


async def test_running_simulator_serves_on_a_free_port_and_stops() -> None:
    async with running_simulator(SETTINGS) as base:
        assert base.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/_sim/catalog", params={"limit": 1}) as response:
                assert response.status == 200
            token = await session.post(
                f"{base}/api/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": SIM_CREDENTIALS.spotify_client_id,
                    "client_secret": SIM_CREDENTIALS.spotify_client_secret,
                },
            )
            assert token.status == 200
            token.release()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(f"{base}/_sim/stats")


def test_every_app_is_a_fresh_world() -> None:
    one, two = build_sim_app(SETTINGS), build_sim_app(SETTINGS, SimLimits())
    assert one[SIM_STATE] is not two[SIM_STATE]
    assert one[SIM_STATE].catalog is not two[SIM_STATE].catalog
