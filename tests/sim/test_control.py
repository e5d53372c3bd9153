"""The ``/_sim`` control routes: catalog listing and additions, stats, mode, errors."""

from __future__ import annotations

import datetime as dt
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


def fm_date(event_date: str) -> dt.date:
    return dt.datetime.strptime(event_date, "%d-%m-%Y").date()


def fm_time(last_updated: str) -> dt.datetime:
    return dt.datetime.strptime(last_updated, "%Y-%m-%dT%H:%M:%S.%f%z")


async def test_new_setlists_are_shows_just_played_on_both_providers(sim: Sim) -> None:
    entry = next(e for e in await sim.catalog(limit=20) if e["counts"]["upcoming_shows"] >= 2)
    before = entry["counts"]
    added_after = dt.datetime.now(dt.UTC)
    answer = await sim.change(artistName=entry["name"], newSetlists=2)
    added_before = dt.datetime.now(dt.UTC)
    changed = answer["changed"]
    assert len(changed["setlistIds"]) == len(changed["playedEventIds"]) == 2
    assert changed["cancelledEventIds"] == []
    assert answer["counts"]["past_setlists"] == before["past_setlists"] + 2
    assert answer["counts"]["upcoming_shows"] == before["upcoming_shows"]  # played, not coming

    status, page = await sim.fm(f"/artist/{entry['mbid']}/setlists")
    assert status == 200 and page["total"] == before["past_setlists"] + 2
    newest = {s["id"]: s for s in page["setlist"][:2]}  # newest first: the two just played
    assert set(newest) == set(changed["setlistIds"])
    today = added_before.date()
    status, events = await sim.tm("/events.json", attractionId=entry["ticketmasterId"], size=200)
    assert events["page"]["totalElements"] == before["upcoming_shows"] + 2
    played = [e for e in events["_embedded"]["events"] if e["id"] in changed["playedEventIds"]]
    assert len(played) == 2
    for setlist in newest.values():
        # One to three days back from the venue's local date, which may be behind UTC's.
        assert today - dt.timedelta(days=4) <= fm_date(setlist["eventDate"]) < today
        assert added_after - dt.timedelta(seconds=1) <= fm_time(setlist["lastUpdated"])
        assert fm_time(setlist["lastUpdated"]) <= added_before
        assert setlist["sets"]["set"], "a played show's setlist has its songs"
    # Each setlist is one of the past events: same day, same venue, in the same city.
    fm_shows = {
        (fm_date(s["eventDate"]).isoformat(), s["venue"]["name"], s["venue"]["city"]["name"])
        for s in newest.values()
    }
    tm_shows = {
        (
            e["dates"]["start"]["localDate"],
            e["_embedded"]["venues"][0]["name"],
            e["_embedded"]["venues"][0]["city"]["name"],
        )
        for e in played
    }
    assert fm_shows == tm_shows and len(fm_shows) == 2
    for event in played:
        assert event["dates"]["status"]["code"] == "offsale"
        started = dt.datetime.fromisoformat(event["dates"]["start"]["dateTime"])
        assert added_after - dt.timedelta(days=4) < started < added_after
        assert event["_embedded"]["attractions"][0]["id"] == entry["ticketmasterId"]


async def test_cancel_shows_cancels_the_soonest_upcoming_ones(sim: Sim) -> None:
    entry = next(e for e in await sim.catalog(limit=40) if e["counts"]["upcoming_shows"] >= 6)
    query = {"attractionId": entry["ticketmasterId"], "size": 200, "sort": "date,asc"}
    _, listing = await sim.tm("/events.json", **query)
    status_before = {e["id"]: e["dates"]["status"]["code"] for e in listing["_embedded"]["events"]}
    # date,asc lists undated (postponed) events last, as the cancellations are chosen.
    soonest = [i for i, code in status_before.items() if code != "canceled"][:2]

    answer = await sim.change(artistName=entry["name"], cancelShows=2)
    assert answer["changed"]["cancelledEventIds"] == soonest
    assert answer["counts"] == entry["counts"]  # a cancelled show is still listed
    _, listing = await sim.tm("/events.json", **query)
    status_after = {e["id"]: e["dates"]["status"]["code"] for e in listing["_embedded"]["events"]}
    assert status_after == {**status_before, **dict.fromkeys(soonest, "canceled")}
    _, single = await sim.tm(f"/events/{soonest[0]}.json")
    assert single["dates"]["status"]["code"] == "canceled"

    left = sum(code != "canceled" for code in status_after.values())
    refused = await sim.client.post(
        "/_sim/catalog",
        json={"artistName": entry["name"], "cancelShows": left + 2, "newShows": 1},
    )
    assert refused.status == 400
    error = (await refused.json())["error"]
    assert error["message"] == (
        f"cancelShows: the artist has {left + 1} upcoming shows that are not cancelled"
    )
    _, listing = await sim.tm("/events.json", **query)  # all or nothing: no new show either
    assert {e["id"]: e["dates"]["status"]["code"] for e in listing["_embedded"]["events"]} == (
        status_after
    )


async def test_a_change_goes_up_to_1000_of_a_kind(sim: Sim) -> None:
    entry = (await sim.catalog(limit=1))[0]
    answer = await sim.change(artistName=entry["name"], newShows=1000)
    assert answer["counts"]["upcoming_shows"] == entry["counts"]["upcoming_shows"] + 1000
    for field in ("newAlbums", "newShows", "newSetlists", "cancelShows"):
        refused = await sim.client.post(
            "/_sim/catalog", json={"artistName": entry["name"], field: 1001}
        )
        assert refused.status == 400
        assert (await refused.json())["error"]["message"].startswith(field)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"artistName": "Nobody Of That Name", "newAlbums": 1}, 404, None),
        ({"artistName": "", "newAlbums": 1}, 400, "artistName"),
        ({"newAlbums": 1}, 400, "artistName"),
        ({"artistName": "x", "newAlbums": -1}, 400, "newAlbums"),
        ({"artistName": "x", "newShows": 1.5}, 400, "newShows"),
        ({"artistName": "x", "newSetlists": -1}, 400, "newSetlists"),
        ({"artistName": "x", "cancelShows": "2"}, 400, "cancelShows"),
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
