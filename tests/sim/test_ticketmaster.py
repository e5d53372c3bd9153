"""Ticketmaster Discovery v2 through HTTP: apikey, HAL paging, limits, keyword look-alikes."""

from __future__ import annotations

import datetime as dt

from tests.sim.conftest import FAST, Json, Sim, SimFactory
from theset_daemon.sim import SimLimits

EVENTS = "/discovery/v2/events.json"


async def test_apikey_is_required(sim: Sim) -> None:
    missing = await sim.client.get(EVENTS)
    assert missing.status == 401
    assert (await missing.json())["fault"]["detail"]["errorcode"] == (
        "steps.oauth.v2.FailedToResolveAPIKey"
    )
    invalid = await sim.client.get(EVENTS, params={"apikey": "invalid-key"})
    assert invalid.status == 401
    assert await invalid.json() == {
        "fault": {
            "faultstring": "Invalid ApiKey",
            "detail": {"errorcode": "oauth.v2.InvalidApiKey"},
        }
    }
    assert "Rate-Limit" not in invalid.headers


async def walk(sim: Sim, first: str, **params: object) -> tuple[list[Json], list[Json]]:
    """Every page from ``first`` on, following ``_links.next``; returns (items, pages)."""
    status, page = await sim.tm(first, **params)
    assert status == 200, page
    pages = [page]
    while "next" in page["_links"]:
        href = page["_links"]["next"]["href"]
        assert href.startswith("/discovery/v2/") and "apikey" not in href
        status, page = await sim.tm(href)
        assert status == 200, page
        pages.append(page)
    key = "attractions" if "/attractions" in first else "events"
    items = [item for p in pages for item in p.get("_embedded", {}).get(key, [])]
    return items, pages


async def test_events_page_to_the_last_page_by_links(sim: Sim) -> None:
    entry = (await sim.catalog(limit=1))[0]
    items, pages = await walk(
        sim, "/events.json", attractionId=entry["ticketmasterId"], sort="date,asc", size=3
    )
    total = entry["counts"]["upcoming_shows"]
    assert total > 20
    assert len(items) == total == pages[0]["page"]["totalElements"]
    assert len({event["id"] for event in items}) == total
    assert [p["page"]["number"] for p in pages] == list(range(pages[0]["page"]["totalPages"]))
    first, middle, last = pages[0]["_links"], pages[1]["_links"], pages[-1]["_links"]
    assert set(first) == {"first", "self", "next", "last"}
    assert set(middle) == {"first", "self", "prev", "next", "last"}
    assert set(last) == {"first", "self", "prev", "last"}
    assert first["self"]["href"] == (
        f"/discovery/v2/events.json?attractionId={entry['ticketmasterId']}&sort=date,asc"
        "&page=0&size=3"
    )
    assert all(e["_embedded"]["attractions"][0]["id"] == entry["ticketmasterId"] for e in items)
    starts = [e["dates"]["start"].get("dateTime") for e in items]
    dated = [s for s in starts if s is not None]
    assert dated == sorted(dated) and starts[: len(dated)] == dated  # TBA dates last
    venues = [e["_embedded"]["venues"][0] for e in items]
    assert all(isinstance(v["location"]["latitude"], str) for v in venues)
    statuses = {e["dates"]["status"]["code"] for e in items}
    assert "onsale" in statuses


async def test_size_and_deep_paging_limits(sim: Sim) -> None:
    entry = (await sim.catalog(limit=1))[0]
    query = {"attractionId": entry["ticketmasterId"]}
    status, body = await sim.tm("/events.json", size=201, **query)
    assert status == 400 and body["errors"][0]["code"] == "DIS1036"
    assert set(body["errors"][0]) == {"_links", "code", "detail", "status"}
    assert (await sim.tm("/events.json", size=0, **query))[0] == 400
    status, body = await sim.tm("/events.json", size=200, **query)
    assert status == 200 and len(body["_embedded"]["events"]) == entry["counts"]["upcoming_shows"]
    # page * size == 1000 is still served (observed); above it is DIS1035.
    status, body = await sim.tm("/events.json", size=200, page=5, **query)
    assert status == 200 and "_embedded" not in body and body["page"]["number"] == 5
    status, body = await sim.tm("/events.json", size=20, page=51, **query)
    assert status == 400
    assert body == {
        "errors": [
            {
                "_links": {"about": {"href": "/discovery/v2/errors.html#DIS1035"}},
                "code": "DIS1035",
                "detail": "API Limits Exceeded: Max paging depth exceeded. (page * size) must "
                "be less than 1,000",
                "status": "400 BAD_REQUEST",
            }
        ]
    }
    assert "Rate-Limit" not in (await sim.client.get(f"{EVENTS}?apikey=k&size=500")).headers


async def test_an_artist_without_shows_gets_the_empty_shape(sim: Sim) -> None:
    entries = await sim.catalog(limit=20)
    quiet = next(e for e in entries if e["counts"]["upcoming_shows"] == 0)
    status, body = await sim.tm("/events.json", attractionId=quiet["ticketmasterId"])
    assert status == 200
    assert body == {
        "_links": {
            "self": {
                "href": f"/discovery/v2/events.json?attractionId={quiet['ticketmasterId']}"
                "&page=0&size=20"
            }
        },
        "page": {"size": 20, "totalElements": 0, "totalPages": 0, "number": 0},
    }


async def test_keyword_search_also_finds_artists_with_similar_names(sim: Sim) -> None:
    entries = await sim.catalog(limit=4)
    original, lookalike = entries[2], entries[3]
    assert lookalike["name"].startswith(original["name"] + " ")
    items, _ = await walk(
        sim, "/events.json", keyword=original["name"], classificationName="music", size=50
    )
    headliners = [e["_embedded"]["attractions"][0]["id"] for e in items]
    assert headliners.count(original["ticketmasterId"]) == original["counts"]["upcoming_shows"]
    assert headliners.count(lookalike["ticketmasterId"]) == lookalike["counts"]["upcoming_shows"]
    assert lookalike["counts"]["upcoming_shows"] > 0
    status, sports = await sim.tm(
        "/events.json", keyword=original["name"], classificationName="sports"
    )
    assert status == 200 and sports["page"]["totalElements"] == 0
    status, found = await sim.tm("/attractions.json", keyword=original["name"])
    names = [a["name"] for a in found["_embedded"]["attractions"]]
    assert names[0] == original["name"] and lookalike["name"] in names
    many, pages = await walk(sim, "/attractions.json", keyword="the", size=7)
    assert len(many) == pages[0]["page"]["totalElements"] > 14
    assert len({a["id"] for a in many}) == len(many)
    assert "next" not in pages[-1]["_links"] and "prev" in pages[-1]["_links"]


async def test_single_resources_and_unknown_ids(sim: Sim) -> None:
    entry = (await sim.catalog(limit=1))[0]
    _, page = await sim.tm("/events.json", attractionId=entry["ticketmasterId"], size=1)
    event = page["_embedded"]["events"][0]
    for path in (f"/events/{event['id']}", f"/events/{event['id']}.json"):
        status, body = await sim.tm(path)
        assert status == 200 and body["id"] == event["id"]
    venue = event["_embedded"]["venues"][0]
    assert (await sim.tm(f"/venues/{venue['id']}.json"))[1] == venue
    status, attraction = await sim.tm(f"/attractions/{entry['ticketmasterId']}.json")
    assert status == 200 and attraction["name"] == entry["name"]
    assert attraction["externalLinks"]["musicbrainz"] == [{"id": entry["mbid"]}]
    assert attraction["upcomingEvents"]["_total"] == entry["counts"]["upcoming_shows"]
    for path in ("/events/nope.json", "/attractions/K8vZ9aaaaaaaaaaa.json", "/venues/x"):
        status, body = await sim.tm(path)
        assert status == 404 and body["errors"][0]["code"] == "DIS1004"
    assert (await sim.tm("/no-such-thing.json"))[0] == 404


async def test_rate_limit_headers_and_the_daily_quota(make_sim: SimFactory) -> None:
    limits = SimLimits(ticketmaster_daily_quota=3, ticketmaster_per_s=FAST.ticketmaster_per_s)
    sim = await make_sim(limits=limits)
    midnight = dt.datetime.combine(
        dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1), dt.time(), dt.UTC
    )
    assert (await sim.client.get(EVENTS, params={"apikey": "invalid-x"})).status == 401
    available = []
    for _ in range(3):
        response = await sim.client.get(EVENTS, params={"apikey": "k", "keyword": "x"})
        assert response.status == 200
        assert response.headers["Rate-Limit"] == "3"
        assert response.headers["Rate-Limit-Over"] == "0"
        assert int(response.headers["Rate-Limit-Reset"]) == int(midnight.timestamp() * 1000)
        available.append(response.headers["Rate-Limit-Available"])
    assert available == ["2", "1", "0"]
    over = await sim.client.get(EVENTS, params={"apikey": "k"})
    assert over.status == 429
    assert (await over.json())["fault"]["detail"][
        "errorcode"
    ] == "policies.ratelimit.QuotaViolation"
    assert over.headers["Rate-Limit-Available"] == "0" and over.headers["Rate-Limit-Over"] == "1"
    assert "Retry-After" not in over.headers
    stats = (await sim.stats())["ticketmaster"]
    assert stats["requests"] == 5 and stats["rate_limited"] == 1
