"""setlist.fm 1.0 through HTTP: x-api-key, content negotiation, 1-based paging, 404s."""

from __future__ import annotations

import re
from xml.etree import ElementTree

from tests.sim.conftest import FAST, JSON_ACCEPT, Json, Sim, SimFactory
from theset_daemon.sim import SimLimits

ERROR_KEYS = {"code", "status", "message", "timestamp"}


async def test_api_key_is_required(sim: Sim) -> None:
    path = "/rest/1.0/search/artists?artistName=a"
    for headers, message in (
        (JSON_ACCEPT, "missing API key"),
        ({**JSON_ACCEPT, "x-api-key": "invalid-key"}, "invalid API key"),
    ):
        response = await sim.client.get(path, headers=headers)
        assert response.status == 403
        body = await response.json()
        assert set(body) == ERROR_KEYS
        assert (body["code"], body["status"], body["message"]) == (403, "Forbidden", message)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", body["timestamp"])


async def test_json_only_when_asked_for(sim: Sim) -> None:
    entry = (await sim.catalog(limit=1))[0]
    path = f"/rest/1.0/artist/{entry['mbid']}"
    xml = await sim.client.get(path, headers={"x-api-key": "k"})  # aiohttp sends Accept: */*
    assert xml.status == 200 and xml.content_type == "application/xml"
    root = ElementTree.fromstring(await xml.read())
    assert root.tag == "artist" and root.get("mbid") == entry["mbid"]
    html = await sim.client.get(path, headers={"x-api-key": "k", "Accept": "text/html"})
    assert html.status == 406
    status, body = await sim.fm(f"/artist/{entry['mbid']}")
    assert status == 200 and body["name"] == entry["name"] and body["mbid"] == entry["mbid"]


async def test_artist_search_pages_and_404s(sim: Sim) -> None:
    entries = await sim.catalog(limit=4)
    status, found = await sim.fm("/search/artists", artistName=entries[2]["name"], sort="relevance")
    assert status == 200
    assert (found["type"], found["page"], found["itemsPerPage"]) == ("artists", 1, 30)
    assert found["artist"][0]["mbid"] == entries[2]["mbid"]
    assert entries[3]["mbid"] in [a["mbid"] for a in found["artist"]]  # the look-alike too
    assert found["total"] == len(found["artist"])
    status, missing = await sim.fm("/search/artists", artistName="zzzz qqqq")
    assert status == 404
    assert set(missing) == ERROR_KEYS and (missing["code"], missing["status"]) == (404, "Not Found")
    status, _ = await sim.fm("/search/artists", artistName=entries[2]["name"], p=2)
    assert status == 404
    status, broad = await sim.fm("/search/artists", artistName="the")
    assert status == 200 and broad["total"] > 30 and len(broad["artist"]) == 30
    sort_names = [a["sortName"].casefold() for a in broad["artist"]]
    assert sort_names == sorted(sort_names)
    everyone = list(broad["artist"])
    page = 2
    while (answer := await sim.fm("/search/artists", artistName="the", p=page))[0] == 200:
        assert answer[1]["page"] == page and answer[1]["total"] == broad["total"]
        everyone += answer[1]["artist"]
        page += 1
    assert answer[0] == 404 and page == -(-broad["total"] // 30) + 1
    assert len({a["mbid"] for a in everyone}) == broad["total"]
    assert (await sim.fm("/search/artists", artistName="x", sort="popularity"))[0] == 400
    assert (await sim.fm("/search/artists"))[0] == 400
    assert (await sim.fm("/search/artists", artistName="x", p=0))[0] == 400


async def test_setlists_page_to_the_end(sim: Sim) -> None:
    entries = await sim.catalog(limit=40)
    entry = entries[0]
    total = entry["counts"]["past_setlists"]
    assert total > 40
    setlists: list[Json] = []
    page = 1
    while True:
        status, body = await sim.fm(f"/artist/{entry['mbid']}/setlists", p=page)
        if status == 404:
            assert set(body) == ERROR_KEYS
            break
        assert (body["type"], body["page"], body["itemsPerPage"]) == ("setlists", page, 20)
        assert body["total"] == total
        setlists += body["setlist"]
        page += 1
    assert page == -(-total // 20) + 1 and len(setlists) == total
    dates = [tuple(reversed(s["eventDate"].split("-"))) for s in setlists]
    assert all(re.fullmatch(r"\d\d-\d\d-\d{4}", s["eventDate"]) for s in setlists)
    assert dates == sorted(dates, reverse=True)  # newest first
    assert all("set" not in s and isinstance(s["sets"]["set"], list) for s in setlists)
    everything = [s for e in entries[:40] for s in await all_setlists(sim, e)]
    assert any(s["sets"]["set"] == [] for s in everything)
    songs = [song for s in everything for part in s["sets"]["set"] for song in part["song"]]
    assert any(song.get("tape") for song in songs)
    assert any("cover" in song for song in songs)
    assert any("with" in song for song in songs)
    assert any(part.get("encore") for s in everything for part in s["sets"]["set"])
    quiet = next(e for e in entries if e["counts"]["past_setlists"] == 0)
    assert (await sim.fm(f"/artist/{quiet['mbid']}/setlists"))[0] == 404
    assert (await sim.fm("/artist/00000000-0000-4000-8000-000000000000/setlists"))[0] == 404


async def all_setlists(sim: Sim, entry: Json) -> list[Json]:
    found: list[Json] = []
    for page in range(1, -(-entry["counts"]["past_setlists"] // 20) + 1):
        status, body = await sim.fm(f"/artist/{entry['mbid']}/setlists", p=page)
        assert status == 200
        found += body["setlist"]
    return found


async def test_daily_quota(make_sim: SimFactory) -> None:
    sim = await make_sim(
        limits=SimLimits(setlistfm_daily_quota=2, setlistfm_per_s=FAST.setlistfm_per_s)
    )
    entry = (await sim.catalog(limit=1))[0]
    for _ in range(2):
        assert (await sim.fm(f"/artist/{entry['mbid']}"))[0] == 200
    response = await sim.client.get(
        f"/rest/1.0/artist/{entry['mbid']}", headers={"x-api-key": "k", **JSON_ACCEPT}
    )
    assert response.status == 429
    assert await response.json() == {"message": "Limit Exceeded"}
    assert response.headers["x-amzn-ErrorType"] == "LimitExceededException"
    assert "Retry-After" not in response.headers
