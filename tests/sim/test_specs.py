"""Real simulator answers validated against the providers' own API specs (see ``specs.py``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.sim import specs
from tests.sim.conftest import JSON_ACCEPT, Json, Sim, SimFactory
from theset_daemon.sim import SimLimits
from theset_daemon.sim.limits import SpotifyMode
from theset_daemon.sim.setlist_search import SERVED, UNSERVED

ARTISTS = (0, 1, 2, 4, 5, 9, 17)  # big, "The ...", solo, small, nordic, "AC/DC"-like, "!"


def test_vendored_specs_are_the_published_files() -> None:
    listed = specs.sha256_listed_in_sources()
    for name in specs.SPEC_FILES:
        assert specs.sha256_of(specs.VENDORED / name) == listed[name], name


def test_vendored_specs_match_the_workspace_copy() -> None:
    if not specs.SHARED.is_dir():
        pytest.skip(f"{specs.SHARED} is absent (a clean clone): the sha256 check above suffices")
    for name in (*specs.SPEC_FILES, "SOURCES.md"):
        assert (specs.VENDORED / name).read_bytes() == (specs.SHARED / name).read_bytes(), name


async def spotify_answers(sim: Sim, mode: str) -> dict[str, list[Json]]:
    """A sample of every Spotify endpoint's 200 answers, keyed by the spec's path."""
    seen: dict[str, list[Json]] = {}

    def keep(path: str, body: Json) -> None:
        seen.setdefault(path, []).append(body)

    catalog = await sim.catalog(limit=max(ARTISTS) + 1)
    limit = 50 if mode == "extended" else 10
    for index in ARTISTS:
        entry = catalog[index]
        artist_id = entry["spotifyId"]
        keep("/artists/{id}", await sim.spotify_ok(f"/artists/{artist_id}"))
        keep("/search", await sim.spotify_ok("/search", q=entry["name"], type="artist"))
        albums: list[Json] = []
        page = await sim.spotify_ok(f"/artists/{artist_id}/albums", limit=limit)
        keep("/artists/{id}/albums", page)
        albums += page["items"]
        while page["next"]:
            page = await sim.spotify_ok(page["next"])
            keep("/artists/{id}/albums", page)
            albums += page["items"]
        guests = {a["id"] for album in albums for a in album["artists"]} - {artist_id}
        for guest in sorted(guests)[:3]:
            keep("/artists/{id}", await sim.spotify_ok(f"/artists/{guest}"))
        picks = albums[:3] + [a for a in albums if a["total_tracks"] > 50][:1]
        for album in picks:
            keep("/albums/{id}", await sim.spotify_ok(f"/albums/{album['id']}"))
            tracks = await sim.spotify_ok(f"/albums/{album['id']}/tracks", limit=50)
            keep("/albums/{id}/tracks", tracks)
            track_id = tracks["items"][0]["id"]
            keep("/tracks/{id}", await sim.spotify_ok(f"/tracks/{track_id}"))
        if mode == "extended":
            for start in range(0, len(albums), 20):
                ids = ",".join(a["id"] for a in albums[start : start + 20])
                keep("/albums", await sim.spotify_ok("/albums", ids=ids))
            top = await sim.spotify_ok(f"/artists/{artist_id}/top-tracks")
            keep("/artists/{id}/top-tracks", top)
            ids = ",".join(track["id"] for track in top["tracks"])
            keep("/tracks", await sim.spotify_ok("/tracks", ids=ids))
            keep("/artists", await sim.spotify_ok("/artists", ids=",".join([artist_id, *guests])))
    return seen


@pytest.mark.parametrize("mode", ["extended", "development"])
async def test_spotify_answers_match_the_openapi_spec(
    make_sim: SimFactory, mode: SpotifyMode
) -> None:
    sim = await make_sim(limits=SimLimits(spotify_per_s=100_000, spotify_mode=mode))
    answers = await spotify_answers(sim, mode)
    expected = {"/artists/{id}", "/search", "/artists/{id}/albums", "/albums/{id}"}
    expected |= {"/albums/{id}/tracks", "/tracks/{id}"}
    if mode == "extended":
        expected |= {"/albums", "/artists/{id}/top-tracks", "/tracks", "/artists"}
    assert set(answers) == expected
    for path, bodies in answers.items():
        checker = specs.spotify(path, mode)
        for body in bodies:
            checker.check(body, f"GET {path} ({mode})")


async def test_spotify_errors_match_the_spec(sim: Sim) -> None:
    artist_id = (await sim.catalog(limit=1))[0]["spotifyId"]
    unauthorized = await sim.client.get(f"/v1/artists/{artist_id}")
    specs.spotify("/artists/{id}", status="401").check(await unauthorized.json(), "401")
    status, bad = await sim.spotify("/artists/nope")
    specs.spotify("/artists/{id}", status="401").check(bad, "400 body, same ErrorObject")
    await sim.mode("development")
    status, forbidden = await sim.spotify(f"/artists/{artist_id}/top-tracks")
    specs.spotify("/artists/{id}/top-tracks", status="403").check(forbidden, "403")
    response = await sim.client.post("/_sim/faults", json={"provider": "spotify", "status": 429})
    assert response.status == 201
    status, limited = await sim.spotify(f"/artists/{artist_id}")
    assert status == 429
    specs.spotify("/artists/{id}", status="429").check(limited, "429")


async def test_ticketmaster_answers_match_the_swagger_spec(sim: Sim) -> None:
    catalog = await sim.catalog(limit=max(ARTISTS) + 1)
    event_checker = specs.ticketmaster("Event")
    venue_checker = specs.ticketmaster("Venue")
    attraction_checker = specs.ticketmaster("Attraction")
    envelope = specs.Checker(specs.TM_ENVELOPE, frozenset())
    # The spec's 200 for the list endpoints is "an array of Event/Attraction"; the README's
    # observed HAL envelope wins, and its items are the spec's objects.
    assert specs.tm_path_schema("/discovery/v2/events")["schema"]["items"]["$ref"].endswith(
        "/Event"
    )
    events: list[Json] = []
    for index in ARTISTS:
        entry = catalog[index]
        status, page = await sim.tm("/events.json", attractionId=entry["ticketmasterId"], size=200)
        assert status == 200
        envelope.check(page, "events.json envelope")
        events += page.get("_embedded", {}).get("events", [])
        status, attraction = await sim.tm(f"/attractions/{entry['ticketmasterId']}.json")
        attraction_checker.check(attraction, "attractions/{id}")
        status, found = await sim.tm("/attractions.json", keyword=entry["name"])
        envelope.check(found, "attractions.json envelope")
        for item in found["_embedded"]["attractions"]:
            attraction_checker.check(item, "attractions.json item")
    assert len(events) > 30
    for event in events:
        event_checker.check(event, f"event {event['id']}")
        for venue in event["_embedded"]["venues"]:
            venue_checker.check(venue, "embedded venue")
        for attraction in event["_embedded"]["attractions"]:
            attraction_checker.check(attraction, "embedded attraction")
    for event in events[:5]:
        status, single = await sim.tm(f"/events/{event['id']}.json")
        event_checker.check(single, "events/{id}")
        venue_id = event["_embedded"]["venues"][0]["id"]
        status, venue = await sim.tm(f"/venues/{venue_id}.json")
        venue_checker.check(venue, "venues/{id}")
    empty = await sim.tm("/events.json", keyword="zzzz qqqq")
    envelope.check(empty[1], "empty envelope")


async def test_setlistfm_answers_match_the_swagger_spec(sim: Sim) -> None:
    catalog = await sim.catalog(limit=max(ARTISTS) + 1)
    search = specs.setlistfm("/1.0/search/artists")
    artist = specs.setlistfm("/1.0/artist/{mbid}")
    setlists = specs.setlistfm("/1.0/artist/{mbid}/setlists")
    error = specs.setlistfm("/1.0/artist/{mbid}", status="404")
    checked = 0
    for index in ARTISTS:
        entry = catalog[index]
        status, body = await sim.fm("/search/artists", artistName=entry["name"])
        search.check(body, "search/artists")
        status, body = await sim.fm(f"/artist/{entry['mbid']}")
        artist.check(body, "artist/{mbid}")
        page = 1
        while True:
            status, body = await sim.fm(f"/artist/{entry['mbid']}/setlists", p=page)
            if status == 404:
                error.check(body, "404")
                break
            setlists.check(body, "artist/{mbid}/setlists")
            checked += len(body["setlist"])
            page += 1
    assert checked > 50
    headers: dict[str, Any] = {"x-api-key": "invalid-key", **JSON_ACCEPT}
    response = await sim.client.get("/rest/1.0/search/artists?artistName=x", headers=headers)
    error.check(await response.json(), "403")


async def test_setlist_search_serves_the_specs_parameters_and_shapes(sim: Sim) -> None:
    spec = specs.load(specs.SETLISTFM)["paths"]["/1.0/search/setlists"]["get"]
    assert {parameter["name"] for parameter in spec["parameters"]} == SERVED | UNSERVED
    assert not SERVED & UNSERVED
    catalog = await sim.catalog(limit=max(ARTISTS) + 1)
    start = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
    await sim.change(artistName=catalog[1]["name"], newSetlists=3)
    checker = specs.setlistfm("/1.0/search/setlists")
    busy_year = (dt.datetime.now(dt.UTC) - dt.timedelta(days=60)).year  # generated setlists
    queries: list[dict[str, str]] = [{"lastUpdated": start}, {"year": str(busy_year)}]
    queries += [{"artistMbid": catalog[index]["mbid"]} for index in ARTISTS]
    answered = 0
    for query in queries:
        status, body = await sim.fm("/search/setlists", **query)
        if status == 404:  # an artist without setlists
            assert "artistMbid" in query
            specs.setlistfm("/1.0/search/setlists", status="404").check(body, "404")
            continue
        checker.check(body, f"search/setlists {query}")
        answered += len(body["setlist"])
    assert answered > 50
    status, body = await sim.fm("/search/setlists", lastUpdated="yesterday")
    assert status == 400
    specs.setlistfm("/1.0/search/setlists", status="400").check(body, "400")


async def test_the_checkers_catch_mistakes(sim: Sim) -> None:
    """The validators are not vacuous: a wrong type, a missing field, an invented key fail."""
    entry = (await sim.catalog(limit=1))[0]
    page = await sim.spotify_ok(f"/artists/{entry['spotifyId']}/albums", limit=1)
    checker = specs.spotify("/artists/{id}/albums")
    checker.check(page)
    album = page["items"][0]
    for broken in (
        {**page, "items": [{k: v for k, v in album.items() if k != "album_type"}]},
        {**page, "items": [{**album, "total_tracks": "11"}]},
        {**page, "items": [{**album, "album_group": "bootleg"}]},
        {**page, "next": 3},
        {**page, "items": [{**album, "colour": "red"}]},
    ):
        with pytest.raises(AssertionError):
            checker.check(broken)
    _, events = await sim.tm("/events.json", attractionId=entry["ticketmasterId"], size=1)
    event = events["_embedded"]["events"][0]
    venue = event["_embedded"]["venues"][0]
    number = {**venue, "location": {"latitude": 45.5, "longitude": -122.6}}
    with pytest.raises(AssertionError):  # relaxed to the observed strings, not to anything
        specs.ticketmaster("Venue").check(number)
    with pytest.raises(AssertionError):
        specs.ticketmaster("Event").check({**event, "dates": {"status": {"code": "sold out"}}})
    _, setlists = await sim.fm(f"/artist/{entry['mbid']}/setlists")
    first = setlists["setlist"][0]
    with pytest.raises(AssertionError):
        specs.setlistfm("/1.0/artist/{mbid}/setlists").check(
            {**setlists, "setlist": [{**first, "sets": {"set": [{"song": "x"}]}}]}
        )
