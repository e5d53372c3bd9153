"""Spotify through HTTP: tokens, errors, paging, both access levels, and the ground truth."""

from __future__ import annotations

import asyncio
import math
import unicodedata
from typing import Any

import pytest

from tests.sim.conftest import SETTINGS, Json, Sim, SimFactory, basic
from theset_daemon.sim import SimLimits
from theset_daemon.sim.ids import IdCodec, Kind
from theset_daemon.sim.limits import SpotifyMode
from theset_daemon.sim.state import SIM_STATE

COUNTED = "album,single,compilation"


def catalog_of(sim: Sim) -> Any:
    return sim.client.server.app[SIM_STATE].catalog


# --- the accounts service -------------------------------------------------------------------------


async def test_token_needs_valid_client_credentials(sim: Sim) -> None:
    ok = await sim.client.post(
        "/api/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": basic("any-id", "any-secret")},
    )
    body = await ok.json()
    assert ok.status == 200
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["access_token"]

    form = await sim.client.post(
        "/api/token",
        data={"grant_type": "client_credentials", "client_id": "a", "client_secret": "b"},
    )
    assert form.status == 200

    invalid = {"error": "invalid_client", "error_description": "Invalid client"}
    for headers in (
        {},
        {"Authorization": basic("invalid-id", "secret")},
        {"Authorization": basic("id", "invalid-secret")},
        {"Authorization": "Basic !!!not-base64"},
    ):
        response = await sim.client.post(
            "/api/token", data={"grant_type": "client_credentials"}, headers=headers
        )
        assert response.status == 400
        assert await response.json() == invalid

    missing = await sim.client.post("/api/token", headers={"Authorization": basic("a", "b")})
    assert missing.status == 400
    assert (await missing.json())["error"] == "unsupported_grant_type"


async def test_api_needs_a_live_bearer_token(make_sim: SimFactory) -> None:
    sim = await make_sim(limits=SimLimits(token_ttl_s=1, spotify_per_s=1000))
    artist_id = (await sim.catalog(limit=1))[0]["spotifyId"]
    path = f"/v1/artists/{artist_id}"
    for headers, message in (
        ({}, "No token provided"),
        ({"Authorization": "Bearer not-a-token"}, "Invalid access token"),
    ):
        response = await sim.client.get(path, headers=headers)
        assert response.status == 401
        assert await response.json() == {"error": {"status": 401, "message": message}}
        assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    token = await sim.token()
    assert (await sim.client.get(path, headers={"Authorization": f"Bearer {token}"})).status == 200
    await asyncio.sleep(1.05)
    expired = await sim.client.get(path, headers={"Authorization": f"Bearer {token}"})
    assert expired.status == 401
    assert await expired.json() == {"error": {"status": 401, "message": "The access token expired"}}


# --- errors --------------------------------------------------------------------------------------


async def test_invalid_unknown_and_out_of_range(sim: Sim) -> None:
    artist_id = (await sim.catalog(limit=1))[0]["spotifyId"]
    stranger = IdCodec(SETTINGS.seed + 1).spotify(Kind.ARTIST, 0)  # right shape, nobody here
    invalid = {"error": {"status": 400, "message": "invalid id"}}
    not_found = {"error": {"status": 404, "message": "Resource not found"}}
    assert await sim.spotify("/artists/not-an-id") == (400, invalid)
    assert await sim.spotify(f"/artists/{stranger}") == (404, not_found)
    assert await sim.spotify(f"/albums/{artist_id}") == (404, not_found)  # an artist's id
    assert await sim.spotify(f"/albums/{stranger}/tracks") == (404, not_found)
    assert await sim.spotify(f"/tracks/{artist_id}") == (404, not_found)
    for path, params in (
        (f"/artists/{artist_id}/albums", {"limit": 51}),
        (f"/artists/{artist_id}/albums", {"limit": 0}),
        (f"/artists/{artist_id}/albums", {"offset": -1}),
        (f"/artists/{artist_id}/albums", {"include_groups": "album,bootleg"}),
        ("/search", {"q": "x", "type": "artist", "limit": 51}),
        ("/search", {"q": "x", "type": "artist", "offset": 1001}),
        ("/search", {"q": "x", "type": "podcast"}),
        ("/search", {"type": "artist"}),
    ):
        status, body = await sim.spotify(path, **params)
        assert status == 400, (path, params, body)
        assert body["error"]["status"] == 400
    albums = await sim.spotify_ok(f"/artists/{artist_id}/albums", limit=1)
    album_id = albums["items"][0]["id"]
    assert (await sim.spotify(f"/albums/{album_id}/tracks", limit=51))[0] == 400
    too_many = ",".join([album_id] * 21)
    assert await sim.spotify("/albums", ids=too_many) == (
        400,
        {"error": {"status": 400, "message": "Too many ids requested"}},
    )
    assert (await sim.spotify("/albums", ids=f"{album_id},bad"))[0] == 400
    batch = await sim.spotify_ok("/albums", ids=f"{album_id},{stranger}")
    assert batch["albums"][0]["id"] == album_id and batch["albums"][1] is None
    assert (await sim.spotify("/tracks", ids=",".join([stranger] * 51)))[0] == 400
    assert await sim.spotify("/no-such-endpoint") == (
        404,
        {"error": {"status": 404, "message": "Service not found"}},
    )


# --- paging and the ground truth ------------------------------------------------------------------


async def walk_albums(sim: Sim, artist_id: str, limit: int, groups: str | None) -> list[Json]:
    params: dict[str, Any] = {"limit": limit}
    if groups:
        params["include_groups"] = groups
    page = await sim.spotify_ok(f"/artists/{artist_id}/albums", **params)
    items, total, offsets = list(page["items"]), page["total"], [page["offset"]]
    assert page["previous"] is None
    while page["next"] is not None:
        assert page["next"].startswith(sim.base + "/v1/"), "next must stay on the simulator"
        page = await sim.spotify_ok(page["next"])
        assert page["previous"] is not None
        offsets.append(page["offset"])
        items += page["items"]
    assert offsets == list(range(0, total, limit)) or total == 0
    assert len(items) == total and len(page["items"]) == total - offsets[-1]
    return items


async def rest_of(sim: Sim, page: Json) -> list[Json]:
    """The items of ``page`` and of every page after it, following ``next``."""
    items = list(page["items"])
    while page["next"] is not None:
        page = await sim.spotify_ok(page["next"])
        if "items" not in page:  # a search answer: the paging object is under its type
            page = page["artists"]
        items += page["items"]
    assert len(items) == page["total"]
    return items


async def import_tracks(sim: Sim, artist_id: str, mode: str) -> tuple[list[Json], list[Json]]:
    """What a perfect client fetches for one artist: its albums, then every track of each."""
    limit = 50 if mode == "extended" else 10
    albums = await walk_albums(sim, artist_id, limit, COUNTED)
    tracks: list[Json] = []
    if mode == "extended":
        for start in range(0, len(albums), 20):
            ids = ",".join(album["id"] for album in albums[start : start + 20])
            for full in (await sim.spotify_ok("/albums", ids=ids))["albums"]:
                assert full["tracks"]["limit"] == 50
                tracks += await rest_of(sim, full["tracks"])
    else:
        for album in albums:
            page = await sim.spotify_ok(f"/albums/{album['id']}/tracks", limit=50)
            tracks += await rest_of(sim, page)
    return albums, tracks


@pytest.mark.parametrize("mode", ["extended", "development"])
async def test_served_tracks_match_the_ground_truth(
    make_sim: SimFactory, mode: SpotifyMode
) -> None:
    sim = await make_sim(limits=SimLimits(spotify_per_s=100_000, spotify_mode=mode))
    catalog = catalog_of(sim)
    entries = await sim.catalog(limit=8)
    for index, entry in enumerate(entries):
        await sim.client.delete("/_sim/stats")
        albums, tracks = await import_tracks(sim, entry["spotifyId"], mode)
        counts = entry["counts"]
        labels = catalog.labels(index)
        assert len(albums) == counts["albums"]
        assert len(tracks) == counts["tracks"]
        assert len({t["id"] for t in tracks}) == len(tracks)
        served = [labels[t["id"]] for t in tracks]
        assert sum(label.live for label in served) == counts["live_tracks"]
        assert sum(label.duplicate for label in served) == counts["duplicate_tracks"]
        songs = {label.song_key for label in served if not label.live}
        assert len(songs) == counts["tracks"] - counts["duplicate_tracks"] - counts["live_tracks"]

        # The minimal request count of a perfect client (the formula in the report).
        extra_pages = sum(max(0, math.ceil(a["total_tracks"] / 50) - 1) for a in albums)
        releases = len(albums)
        if mode == "extended":
            expected = 1 + math.ceil(releases / 50) + math.ceil(releases / 20) + extra_pages
        else:
            expected = 1 + math.ceil(releases / 10) + releases + extra_pages
        stats = (await sim.stats())["spotify"]
        token_calls = stats["by_endpoint"].get("POST /api/token", 0)
        assert stats["requests"] - token_calls == expected - 1

    # Big artists page: over 50 releases, and an album over 50 tracks.
    assert entries[0]["counts"]["albums"] > 50


async def test_appears_on_is_listed_but_not_counted(sim: Sim) -> None:
    entry = (await sim.catalog(limit=1))[0]
    everything = await walk_albums(sim, entry["spotifyId"], 50, None)
    counted = [a for a in everything if a["album_group"] != "appears_on"]
    elsewhere = [a for a in everything if a["album_group"] == "appears_on"]
    assert len(counted) == entry["counts"]["albums"]
    assert elsewhere
    assert all(a["artists"][0]["id"] != entry["spotifyId"] for a in elsewhere)
    groups = [a["album_group"] for a in everything]
    order = ["album", "single", "compilation", "appears_on"]
    assert groups == sorted(groups, key=order.index)
    albums_only = await walk_albums(sim, entry["spotifyId"], 50, "album")
    dates = [a["release_date"] for a in albums_only]
    assert dates == sorted(dates, key=lambda d: (d + "-01-01")[:10], reverse=True)


async def test_album_with_more_than_fifty_tracks_pages_its_tracks(sim: Sim) -> None:
    entry = (await sim.catalog(limit=1))[0]
    albums = await walk_albums(sim, entry["spotifyId"], 50, COUNTED)
    long = next(a for a in albums if a["total_tracks"] > 50)
    full = (await sim.spotify_ok("/albums", ids=long["id"]))["albums"][0]
    embedded = full["tracks"]
    assert len(embedded["items"]) == 50 and embedded["total"] == long["total_tracks"]
    assert embedded["next"] == f"{sim.base}/v1/albums/{long['id']}/tracks?offset=50&limit=50"
    rest = await sim.spotify_ok(embedded["next"])
    assert rest["next"] is None and rest["offset"] == 50
    assert len(embedded["items"]) + len(rest["items"]) == long["total_tracks"]
    small = await sim.spotify_ok(f"/albums/{long['id']}/tracks", limit=7, offset=49)
    assert [t["track_number"] for t in small["items"]] == [
        t["track_number"] for t in (embedded["items"] + rest["items"])[49:56]
    ]
    assert {t["disc_number"] for t in embedded["items"] + rest["items"]} == {1, 2, 3}


# --- the two access levels -----------------------------------------------------------------------


async def test_development_mode_follows_the_february_2026_rules(sim: Sim) -> None:
    entry = (await sim.catalog(limit=1))[0]
    artist_id = entry["spotifyId"]
    extended_artist = await sim.spotify_ok(f"/artists/{artist_id}")
    assert {"followers", "popularity"} <= set(extended_artist)
    album = (await sim.spotify_ok(f"/artists/{artist_id}/albums", limit=50))["items"][0]
    assert "album_group" in album and "available_markets" in album
    track_id = (await sim.spotify_ok(f"/albums/{album['id']}/tracks"))["items"][0]["id"]

    await sim.mode("development")
    forbidden = {"error": {"status": 403, "message": "Forbidden"}}
    for path, params in (
        ("/albums", {"ids": album["id"]}),
        ("/tracks", {"ids": track_id}),
        ("/artists", {"ids": artist_id}),
        (f"/artists/{artist_id}/top-tracks", {}),
    ):
        assert await sim.spotify(path, **params) == (403, forbidden), path
    artist = await sim.spotify_ok(f"/artists/{artist_id}")
    assert not {"followers", "popularity"} & set(artist)
    assert {"genres", "images", "name", "id"} <= set(artist)
    page = await sim.spotify_ok(f"/artists/{artist_id}/albums")
    assert page["limit"] == 5  # the new default
    assert (await sim.spotify(f"/artists/{artist_id}/albums", limit=11))[0] == 400
    assert not {"album_group", "available_markets"} & set(page["items"][0])
    full = await sim.spotify_ok(f"/albums/{album['id']}")
    assert not {"label", "popularity", "available_markets"} & set(full)
    track = await sim.spotify_ok(f"/tracks/{track_id}")
    assert not {"popularity", "available_markets"} & set(track)
    assert not {"available_markets"} & set(full["tracks"]["items"][0])
    assert (await sim.spotify("/search", q=entry["name"], type="artist", limit=11))[0] == 400
    search = await sim.spotify_ok("/search", q=entry["name"], type="artist")
    assert search["artists"]["limit"] == 5

    await sim.mode("extended")
    assert (await sim.spotify("/albums", ids=album["id"]))[0] == 200


async def test_search_finds_names_without_accents_and_their_doppelgangers(sim: Sim) -> None:
    entries = await sim.catalog(limit=30)
    accented = next(e for e in entries if not e["name"].isascii())
    plain = accented["name"].encode("ascii", "ignore").decode()
    found = await sim.spotify_ok("/search", q=accented["name"], type="artist", limit=50)
    assert found["artists"]["items"][0]["id"] == accented["spotifyId"]
    folded = "".join(c for c in unicodedata.normalize("NFKD", accented["name"]) if c.isascii())
    again = await sim.spotify_ok("/search", q=folded, type="artist")
    assert accented["spotifyId"] in [a["id"] for a in again["artists"]["items"]], plain
    original = entries[2]
    assert entries[3]["name"].startswith(original["name"])
    page = await sim.spotify_ok("/search", q=original["name"], type="artist", limit=1)
    assert page["artists"]["items"][0]["id"] == original["spotifyId"]  # exact match first
    assert page["artists"]["total"] >= 2
    assert page["artists"]["next"].startswith(f"{sim.base}/v1/search?offset=1&limit=1&query=")
    second = await sim.spotify_ok(page["artists"]["next"])  # ``query=`` is accepted
    assert second["artists"]["offset"] == 1
    broad = await sim.spotify_ok("/search", q="the", type="artist", limit=50)
    found = await rest_of(sim, broad["artists"])  # to the last page, by ``next``
    assert len({a["id"] for a in found}) == broad["artists"]["total"] > 50
    filtered = await sim.spotify_ok("/search", q=f'artist:"{original["name"]}"', type="artist")
    assert filtered["artists"]["items"][0]["id"] == original["spotifyId"]
    nothing = await sim.spotify_ok("/search", q="zzzz qqqq", type="artist,track")
    assert nothing["artists"]["items"] == [] and nothing["tracks"]["total"] == 0


async def test_batches_top_tracks_and_guests(sim: Sim) -> None:
    entry = (await sim.catalog(limit=1))[0]
    top = (await sim.spotify_ok(f"/artists/{entry['spotifyId']}/top-tracks"))["tracks"]
    assert 0 < len(top) <= 10
    assert [t["popularity"] for t in top] == sorted((t["popularity"] for t in top), reverse=True)
    ids = ",".join(t["id"] for t in top)
    several = (await sim.spotify_ok("/tracks", ids=ids))["tracks"]
    assert [t["id"] for t in several] == [t["id"] for t in top]
    assert all("album" in t and "external_ids" in t for t in several)
    artists = (await sim.spotify_ok("/artists", ids=entry["spotifyId"]))["artists"]
    assert artists[0]["name"] == entry["name"]
    albums = await walk_albums(sim, entry["spotifyId"], 50, None)
    guests = {a["id"] for album in albums for a in album["artists"]} - {entry["spotifyId"]}
    for guest_id in guests:  # featured artists, remixers, "Various Artists": all resolvable
        guest = await sim.spotify_ok(f"/artists/{guest_id}")
        assert guest["id"] == guest_id
        empty = await sim.spotify_ok(f"/artists/{guest_id}/albums")
        assert empty["total"] == 0 and empty["next"] is None
