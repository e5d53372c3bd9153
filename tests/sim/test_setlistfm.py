"""setlist.fm 1.0 through HTTP: x-api-key, content negotiation, 1-based paging, 404s, and the
setlist search by artist, date, year and lastUpdated."""

from __future__ import annotations

import datetime as dt
import re
from xml.etree import ElementTree

from tests.sim.conftest import FAST, JSON_ACCEPT, Json, Sim, SimFactory
from theset_daemon.sim import SimLimits

ERROR_KEYS = {"code", "status", "message", "timestamp"}
FM_TIME = "%Y-%m-%dT%H:%M:%S.%f%z"  # lastUpdated: "2013-10-20T05:18:08.000+0000"


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


# --- search/setlists ------------------------------------------------------------------------


def fm_date(event_date: str) -> dt.date:
    return dt.datetime.strptime(event_date, "%d-%m-%Y").date()


def since(moment: dt.datetime) -> str:
    """``lastUpdated``'s form: UTC to the second."""
    return moment.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S")


async def search_all(sim: Sim, **query: object) -> list[Json]:
    """Every page of a setlist search, checking each page's envelope on the way."""
    found: list[Json] = []
    page = 1
    while (answer := await sim.fm("/search/setlists", p=page, **query))[0] == 200:
        body = answer[1]
        assert (body["type"], body["page"], body["itemsPerPage"]) == ("setlists", page, 20)
        assert len(body["setlist"]) == min(20, body["total"] - 20 * (page - 1))
        found += body["setlist"]
        page += 1
    assert answer[0] == 404 and set(answer[1]) == ERROR_KEYS
    assert page == -(-len(found) // 20) + 1
    return found


async def test_search_by_last_updated_finds_what_was_added_since(sim: Sim) -> None:
    entries = await sim.catalog(limit=3)
    start = dt.datetime.now(dt.UTC).replace(microsecond=0)
    assert (await sim.fm("/search/setlists", lastUpdated=since(start)))[0] == 404
    added = {}
    for entry, count in ((entries[1], 23), (entries[2], 2)):
        answer = await sim.change(artistName=entry["name"], newSetlists=count)
        added |= dict.fromkeys(answer["changed"]["setlistIds"], entry["mbid"])
    found = await search_all(sim, lastUpdated=since(start))
    assert len(found) == 25 and {s["id"]: s["artist"]["mbid"] for s in found} == added
    dates = [fm_date(s["eventDate"]) for s in found]
    assert dates == sorted(dates, reverse=True)  # newest event first
    assert all(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", s["lastUpdated"])
        for s in found
    )
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    assert (await sim.fm("/search/setlists", lastUpdated=since(later)))[0] == 404
    mine = await search_all(sim, lastUpdated=since(start), artistMbid=entries[2]["mbid"])
    assert {s["id"] for s in mine} == {i for i, mbid in added.items() if mbid == entries[2]["mbid"]}


async def test_search_by_last_updated_is_at_or_after_to_the_second(sim: Sim) -> None:
    entry = (await sim.catalog(limit=1))[0]
    every = await all_setlists(sim, entry)
    updated = sorted(dt.datetime.strptime(s["lastUpdated"], FM_TIME) for s in every)
    cut = updated[len(updated) // 2].replace(microsecond=0)
    found = await search_all(sim, artistMbid=entry["mbid"], lastUpdated=since(cut))
    expected = [s["id"] for s in every if dt.datetime.strptime(s["lastUpdated"], FM_TIME) >= cut]
    assert [s["id"] for s in found] == expected  # the artist's own order: newest first
    assert 0 < len(found) < len(every)


async def test_search_by_artist_date_and_year(sim: Sim) -> None:
    entries = await sim.catalog(limit=12)
    entry = max(entries, key=lambda e: e["counts"]["past_setlists"])
    every = await all_setlists(sim, entry)
    by_mbid = await search_all(sim, artistMbid=entry["mbid"])
    assert [s["id"] for s in by_mbid] == [s["id"] for s in every]
    year = fm_date(every[-1]["eventDate"]).year
    in_year = await search_all(sim, artistMbid=entry["mbid"], year=year)
    assert [s["id"] for s in in_year] == [
        s["id"] for s in every if fm_date(s["eventDate"]).year == year
    ]
    by_name = await search_all(sim, artistName=entry["name"], year=year)
    assert {s["id"] for s in in_year} <= {s["id"] for s in by_name}
    day = every[3]["eventDate"]
    on_day = await search_all(sim, date=day)  # across the whole catalog
    assert every[3]["id"] in {s["id"] for s in on_day}
    assert {s["eventDate"] for s in on_day} == {day}
    artists = [s["artist"]["mbid"] for s in on_day]
    assert len(set(artists)) == len(artists)  # a generated artist plays once a day at most
    stranger = "00000000-0000-4000-8000-000000000000"
    assert (await sim.fm("/search/setlists", artistMbid=stranger))[0] == 404


async def test_search_refuses_what_it_cannot_answer(sim: Sim) -> None:
    for query, message in (
        ({"lastUpdated": "2026-12-07"}, "invalid value for parameter lastUpdated: 2026-12-07"),
        (
            {"lastUpdated": "20261307000000"},
            "invalid value for parameter lastUpdated: 20261307000000",
        ),
        ({"date": "2026-12-01"}, "invalid value for parameter date: 2026-12-01"),
        ({"date": "31-02-2026"}, "invalid value for parameter date: 31-02-2026"),
        ({"year": "26"}, "invalid value for parameter year: 26"),
        (
            {"cityName": "Portland", "year": "2026"},
            "parameter cityName is not supported by the simulator",
        ),
        ({}, "at least one of artistMbid, artistName, date, year or lastUpdated is required"),
        ({"year": "2026", "p": "0"}, "parameter p must be at least 1"),
    ):
        status, body = await sim.fm("/search/setlists", **query)
        assert status == 400, query
        assert set(body) == ERROR_KEYS
        assert (body["code"], body["status"], body["message"]) == (400, "Bad Request", message)
