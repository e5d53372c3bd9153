"""The Spotify client set to ``extended`` against a development-mode app (the simulator switched
to development): whichever extended call comes first, its refusal is recognised, the call is
answered the development way, and the development rules hold from then on, logged once. A 400
that is not about the page size changes nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from structlog.testing import capture_logs

from tests.upstream.conftest import SimHarness, sim_harness
from theset_daemon.upstream.errors import UpstreamClientError
from theset_daemon.upstream.spotify import SpotifyClient

FirstCall = Callable[[SpotifyClient, dict[str, Any]], Awaitable[Any]]


async def _albums(client: SpotifyClient, artist: dict[str, Any]) -> Any:
    # Listed while the app still answers as extended, fetched after it no longer does.
    return await client.albums_with_tracks(artist["summaries"])


FIRST_CALLS: dict[str, FirstCall] = {
    "artist albums, 50 a page": lambda c, a: c.artist_albums(a["spotifyId"]),
    "search, 20 a page": lambda c, a: c.search_artists(a["name"], limit=20),
    "albums in batches": _albums,
    "tracks in batches": lambda c, a: c.tracks(a["trackIds"]),
    "artists in batches": lambda c, a: c.several_artists([a["spotifyId"]]),
    "top tracks": lambda c, a: c.top_tracks(a["spotifyId"]),
}


async def switch(sim: SimHarness, mode: str) -> None:
    async with sim.control.post(sim.base_url + "/_sim/spotify-mode", json={"mode": mode}) as r:
        assert r.status == 200, await r.text()


@pytest.mark.parametrize("first", list(FIRST_CALLS))
async def test_the_first_refused_call_is_answered_the_development_way(first: str) -> None:
    async with sim_harness() as sim:
        client = sim.upstreams.spotify
        entry = max(await sim.catalog(), key=lambda a: a["counts"]["albums"])
        summaries = await client.artist_albums(entry["spotifyId"])
        albums = await client.albums_with_tracks(summaries)
        tracks = [t.id for a in albums for t in a.tracks.items]
        artist = {**entry, "summaries": summaries, "trackIds": tracks}
        assert client.mode == "extended"
        await switch(sim, "development")

        with capture_logs() as logs:
            answer = await FIRST_CALLS[first](client, artist)
            # Everything after follows the development rules: nothing refused, nothing logged.
            again = await client.albums_with_tracks(await client.artist_albums(entry["spotifyId"]))
            assert await client.several_artists([entry["spotifyId"]]) == {}
        found = [e for e in logs if e["event"] == "spotify_access_level"]
        assert len(found) == 1, found
        assert found[0]["level"] == "development" and found[0]["configured"] == "extended"
        assert client.mode == "development"

    # The answer is what the development way gives: whole, without what that level lacks.
    if first == "artist albums, 50 a page":
        assert [a.id for a in answer] == [s.id for s in summaries]
    elif first == "search, 20 a page":
        assert entry["spotifyId"] in [a.id for a in answer]
    elif first == "albums in batches":
        assert [len(a.tracks.items) for a in answer] == [len(a.tracks.items) for a in albums]
    else:
        assert not answer  # popularity, profiles and top tracks: development mode has none
    assert sum(len(a.tracks.items) for a in again) == entry["counts"]["tracks"]


async def test_a_400_about_something_else_is_raised_and_changes_nothing() -> None:
    async with sim_harness() as sim:
        client = sim.upstreams.spotify
        entry = (await sim.catalog())[0]
        with capture_logs() as logs, pytest.raises(UpstreamClientError) as refused:
            await client.artist_albums_page(entry["spotifyId"], include_groups=("bogus",))
        assert refused.value.status == 400
        assert client.mode == "extended"
        assert not [e for e in logs if e["event"] == "spotify_access_level"]
