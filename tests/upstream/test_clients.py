"""Every client call against the simulator: paging to the last page, both Spotify modes, the
token race, Retry-After, the breaker, quotas and malformed answers."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from tests.upstream.conftest import SimHarness, sim_harness
from tests.waiting import eventually
from theset_daemon.sim import SimLimits
from theset_daemon.upstream.breaker import BreakerState
from theset_daemon.upstream.errors import (
    UpstreamMalformed,
    UpstreamNotFound,
    UpstreamUnavailable,
)
from theset_daemon.upstream.setlistfm import SetlistPage
from theset_daemon.upstream.spotify import Album


def requests_of(stats: dict[str, Any], provider: str) -> int:
    return int(stats[provider]["requests"])


def busiest(artists: list[dict[str, Any]]) -> dict[str, Any]:
    """The artist with the most releases: the one that exercises paging hardest."""
    return max(artists, key=lambda a: (a["counts"]["albums"], a["counts"]["tracks"]))


async def whole_spotify_catalog(sim: SimHarness, spotify_id: str) -> list[Album]:
    client = sim.upstreams.spotify
    await client.artist(spotify_id)
    summaries = await client.artist_albums(spotify_id)
    return await client.albums_with_tracks(summaries)


@pytest.mark.parametrize("mode", ["extended", "development"])
async def test_a_whole_artist_pages_to_the_end_with_the_fewest_requests(mode: str) -> None:
    async with sim_harness(SimLimits(spotify_mode=mode)) as sim:  # type: ignore[arg-type]
        artist = busiest(await sim.catalog())
        await sim.reset_stats()
        albums = await whole_spotify_catalog(sim, artist["spotifyId"])
        tracks = [t for a in albums for t in a.tracks.items]
        full_tracks = await sim.upstreams.spotify.tracks([t.id for t in tracks])
        events = await sim.upstreams.ticketmaster.events_for_attraction(artist["ticketmasterId"])
        stats = await sim.stats()

    counts = artist["counts"]
    assert len(albums) == counts["albums"]
    assert len(tracks) == counts["tracks"]
    assert len({t.id for t in tracks}) == len(tracks)
    assert len(events) >= counts["upcoming_shows"]
    page = 50 if mode == "extended" else 10
    extra_track_pages = sum(max(0, math.ceil(len(a.tracks.items) / 50) - 1) for a in albums)
    if mode == "extended":
        assert len(full_tracks) == len(tracks)
        assert all(t.popularity is not None for t in full_tracks)
        minimum = (
            1  # token
            + 1  # artist
            + math.ceil(len(albums) / page)
            + math.ceil(len(albums) / 20)
            + extra_track_pages
            + math.ceil(len(tracks) / 50)
        )
    else:
        assert full_tracks == []
        per_album_pages = sum(max(1, math.ceil(len(a.tracks.items) / 50)) for a in albums)
        minimum = 1 + 1 + math.ceil(len(albums) / page) + per_album_pages
    assert any(len(a.tracks.items) > 50 for a in albums), "the catalog must exercise track paging"
    assert requests_of(stats, "spotify") == minimum
    assert requests_of(stats, "ticketmaster") == max(1, math.ceil(len(events) / 200))


async def test_search_finds_artists_with_unicode_names(sim: SimHarness) -> None:
    for artist in (await sim.catalog())[:10]:
        found = await sim.upstreams.spotify.search_artists(artist["name"])
        assert artist["spotifyId"] in {a.id for a in found}, artist["name"]


async def test_unknown_artist_is_not_found(sim: SimHarness) -> None:
    with pytest.raises(UpstreamNotFound):
        await sim.upstreams.spotify.artist("0" * 22)


async def test_development_mode_has_no_popularity(sim: SimHarness) -> None:
    async with sim_harness(SimLimits(spotify_mode="development")) as dev:
        artist = (await dev.catalog())[0]
        found = await dev.upstreams.spotify.artist(artist["spotifyId"])
        assert found.popularity is None and found.followers is None
        assert await dev.upstreams.spotify.top_tracks(artist["spotifyId"]) == []


async def test_one_token_refresh_under_a_hundred_concurrent_calls(sim: SimHarness) -> None:
    artist = (await sim.catalog())[0]
    await sim.reset_stats()
    await asyncio.gather(*(sim.upstreams.spotify.artist(artist["spotifyId"]) for _ in range(100)))
    by_endpoint = (await sim.stats())["spotify"]["by_endpoint"]
    token_calls = sum(n for key, n in by_endpoint.items() if "/api/token" in key)
    assert token_calls == 1


async def test_the_token_is_refreshed_before_it_expires() -> None:
    # Tokens live 61 s; we refresh 60 s early, so each is used for about 1 s.
    async with sim_harness(SimLimits(token_ttl_s=61)) as sim:
        artist = (await sim.catalog())[0]
        await sim.reset_stats()
        await sim.upstreams.spotify.artist(artist["spotifyId"])
        await asyncio.sleep(1.1)
        await sim.upstreams.spotify.artist(artist["spotifyId"])
        by_endpoint = (await sim.stats())["spotify"]["by_endpoint"]
    assert sum(n for key, n in by_endpoint.items() if "/api/token" in key) == 2
    assert sum(n for key, n in by_endpoint.items() if "/artists" in key) == 2  # no 401 retries


async def test_ticketmaster_keyword_search_keeps_only_the_headliner(sim: SimHarness) -> None:
    checked = 0
    for artist in await sim.catalog():
        if not artist["counts"]["upcoming_shows"]:
            continue
        events = await sim.upstreams.ticketmaster.events_by_keyword(artist["name"])
        assert all(e.attractions[0].name == artist["name"] for e in events)
        by_id = await sim.upstreams.ticketmaster.events_for_attraction(artist["ticketmasterId"])
        assert {e.id for e in events} <= {e.id for e in by_id}
        checked += 1
        if checked == 3:
            break
    assert checked == 3


async def test_ticketmaster_venues_parse_string_coordinates(sim: SimHarness) -> None:
    artist = busiest(await sim.catalog())
    events = await sim.upstreams.ticketmaster.events_for_attraction(artist["ticketmasterId"])
    venues = [e.venue for e in events if e.venue is not None]
    assert venues and all(v.location is not None for v in venues)
    assert all(
        v.location is not None
        and v.location.latitude is not None
        and -90 <= v.location.latitude <= 90
        for v in venues
    )
    assert {e.status for e in events} <= {"upcoming", "cancelled", "postponed"}


async def test_setlistfm_search_and_setlists_paged(sim: SimHarness) -> None:
    artist = max(await sim.catalog(), key=lambda a: a["counts"]["past_setlists"])
    found = await sim.upstreams.setlistfm.search_artists(artist["name"])
    assert artist["mbid"] in {a.mbid for a in found}
    setlists = await sim.upstreams.setlistfm.artist_setlists(artist["mbid"], max_pages=100)
    assert len(setlists) == artist["counts"]["past_setlists"]
    assert len({s.id for s in setlists}) == len(setlists)


async def test_setlistfm_no_results_is_empty_not_an_error(sim: SimHarness) -> None:
    assert await sim.upstreams.setlistfm.search_artists("No Such Band Zzzxq") == []
    unknown = "00000000-0000-4000-8000-000000000000"
    assert await sim.upstreams.setlistfm.artist_setlists(unknown) == []


async def test_setlistfm_setlists_updated_since_reads_a_page_at_a_time(sim: SimHarness) -> None:
    artist = (await sim.catalog())[1]
    client = sim.upstreams.setlistfm
    start = datetime.now(UTC).replace(microsecond=0)
    assert await client.setlists_updated_since(start) == SetlistPage(page=1)
    body = {"artistName": artist["name"], "newSetlists": 23}
    async with sim.control.post(sim.base_url + "/_sim/catalog", json=body) as response:
        assert response.status == 200, await response.text()
        added = set((await response.json())["changed"]["setlistIds"])
    first = await client.setlists_updated_since(start)
    assert (first.page, first.items_per_page, first.total, len(first.setlist)) == (1, 20, 23, 20)
    assert not first.is_last
    second = await client.setlists_updated_since(start, page=2)
    assert (second.page, second.total, len(second.setlist), second.is_last) == (2, 23, 3, True)
    setlists = first.setlist + second.setlist
    assert {s.id for s in setlists} == added
    for setlist in setlists:
        assert setlist.artist.mbid == artist["mbid"]
        assert setlist.last_updated is not None and setlist.last_updated >= start
        assert setlist.event_date < setlist.last_updated.date()
        assert setlist.songs_played
    # A page past the last is setlist.fm's 404: an empty page.
    assert await client.setlists_updated_since(start, page=3) == SetlistPage(page=3)
    in_tokyo = start.astimezone(timezone(timedelta(hours=9)))  # the same moment, another offset
    assert (await client.setlists_updated_since(in_tokyo)).total == 23
    with pytest.raises(ValueError, match="timezone-aware"):
        await client.setlists_updated_since(start.replace(tzinfo=None))


async def test_retry_after_is_honoured_then_the_call_succeeds(sim: SimHarness) -> None:
    artist = (await sim.catalog())[0]
    await sim.upstreams.spotify.artist(artist["spotifyId"])  # token fetched
    await sim.fault(provider="spotify", status=429, count=1, retryAfter=2)
    await sim.reset_stats()
    started = time.monotonic()
    results = await asyncio.gather(
        *(sim.upstreams.spotify.artist(artist["spotifyId"]) for _ in range(3))
    )
    elapsed = time.monotonic() - started
    assert all(r.id == artist["spotifyId"] for r in results)
    assert elapsed >= 2
    stats = (await sim.stats())["spotify"]
    assert stats["requests"] == 4  # the 429, then the three calls after the pause
    assert sim.upstreams.providers["spotify"].rate_limited == 1


async def test_server_errors_open_the_breaker_and_it_recovers() -> None:
    extra = "[upstream.ticketmaster.breaker]\nfailure_threshold = 2\nreset_timeout_s = 0.5\n"
    async with sim_harness(extra_config=extra) as sim:
        artist = (await sim.catalog())[0]
        await sim.fault(provider="ticketmaster", status=503, count=8)
        with pytest.raises(UpstreamUnavailable):
            await sim.upstreams.ticketmaster.events_for_attraction(artist["ticketmasterId"])
        provider = sim.upstreams.providers["ticketmaster"]
        assert provider.breaker.state is BreakerState.OPEN
        assert sim.upstreams.status("ticketmaster").status == "degraded"
        await sim.control.delete(sim.base_url + "/_sim/faults")
        await eventually(
            lambda: provider.breaker.state is BreakerState.HALF_OPEN, what="the reset timeout over"
        )
        await sim.upstreams.ticketmaster.events_for_attraction(artist["ticketmasterId"])
        assert provider.breaker.state is BreakerState.CLOSED


async def test_malformed_answers_raise_a_typed_error_naming_the_endpoint(sim: SimHarness) -> None:
    artist = (await sim.catalog())[0]
    await sim.fault(provider="ticketmaster", malformed=True, count=10)
    with pytest.raises(UpstreamMalformed, match=r"ticketmaster /events\.json"):
        await sim.upstreams.ticketmaster.events_for_attraction(artist["ticketmasterId"])


async def test_ticketmaster_pages_to_the_deep_paging_limit_and_no_further(
    sim: SimHarness,
) -> None:
    artist = (await sim.catalog())[0]
    body = {"artistName": artist["name"], "newShows": 1000}  # the most one call adds
    async with sim.control.post(sim.base_url + "/_sim/catalog", json=body) as response:
        assert response.status in (200, 201), await response.text()
    await sim.reset_stats()
    events = await sim.upstreams.ticketmaster.events_for_attraction(artist["ticketmasterId"])
    stats = await sim.stats()
    # size 200: pages 0-4 hold events 1-1000; page 5 would break size * page < 1000.
    assert len(events) == 1000
    assert len({e.id for e in events}) == 1000
    assert requests_of(stats, "ticketmaster") == 5
    dates = [e.dates.start.local_date for e in events]
    assert dates == sorted(d for d in dates if d is not None)
