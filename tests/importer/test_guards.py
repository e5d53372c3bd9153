"""What keeps anonymous clients from draining the budget (CONTRACT.md sections 2 and 3): a recent
import reused without a provider call, the cap on imports running, and clients told apart by
address (IPv6 by /64, ``X-Forwarded-For`` only from a trusted proxy). Real app, real Postgres,
the simulator."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from tests.importer.support import UNTHROTTLED, app_client, sim_catalog, wait_done
from tests.plugins.simulator import UNTHROTTLED_RATE_PER_S
from theset_daemon import config
from theset_daemon.appkeys import SETTINGS, UPSTREAMS

REUSING = UNTHROTTLED.replace("reuse_within_s = 0", "reuse_within_s = 3600")


async def sim(client: TestClient, method: str, path: str, body: Any = None) -> Any:
    base = client.app[UPSTREAMS].simulator_url
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, f"{base}{path}", json=body) as response,
    ):
        assert response.status < 300, await response.text()
        return await response.json()


async def requests_sent(client: TestClient) -> dict[str, int]:
    providers = (await sim(client, "GET", "/_sim/stats"))["providers"]
    return {name: stats["requests"] for name, stats in providers.items()}


async def test_a_recent_import_is_reused_without_a_provider_call(
    aiohttp_client: Any, database_url: str, unthrottled_simulator: None
) -> None:
    client = await app_client(aiohttp_client, database_url, REUSING)
    artist = (await sim_catalog(client))[4]
    first = await client.post("/api/artists/import", json={"name": artist["name"]})
    assert first.status == 202, await first.text()
    job = await first.json()
    assert "reused" not in job and "deduplicated" not in job
    assert (await wait_done(client, job["jobId"]))["status"] == "completed"

    before = await requests_sent(client)
    for body in (
        {"spotifyId": artist["spotifyId"]},  # the artist row's own id
        {"name": artist["name"].upper()},  # the same question as the first, answered
        {"name": artist["name"]},
    ):
        again = await client.post("/api/artists/import", json=body)
        answer = await again.json()
        assert again.status == 200, answer
        assert answer["reused"] is True and answer["jobId"] == job["jobId"], answer
        assert answer["status"] == "completed" and answer["artist"] == job["artist"]
        assert answer["statusUrl"] == job["statusUrl"]
    assert await requests_sent(client) == before

    # A name our tables never resolved goes upstream as before.
    other = (await sim_catalog(client))[5]
    fresh = await client.post("/api/artists/import", json={"name": other["name"]})
    assert fresh.status == 202, await fresh.text()
    await wait_done(client, (await fresh.json())["jobId"])
    assert (await requests_sent(client))["spotify"] > before["spotify"]


async def test_past_max_running_an_import_is_refused_with_503(
    aiohttp_client: Any, database_url: str, unthrottled_simulator: None
) -> None:
    text = UNTHROTTLED.replace("reuse_within_s = 0", "reuse_within_s = 0\nmax_running = 1")
    client = await app_client(aiohttp_client, database_url, text)
    first, second = (await sim_catalog(client))[6:8]
    # The first import's shows phase is slow, so it is still running when the second comes.
    await sim(client, "POST", "/_sim/faults", {"provider": "ticketmaster", "latencyMs": 1500})
    started = await client.post("/api/artists/import", json={"spotifyId": first["spotifyId"]})
    assert started.status == 202, await started.text()

    refused = await client.post("/api/artists/import", json={"spotifyId": second["spotifyId"]})
    body = await refused.json()
    assert refused.status == 503, body
    assert body["error"]["code"] == "overloaded", body
    assert int(refused.headers["Retry-After"]) >= 1
    # Its artist's running job is still joined: that starts nothing.
    joined = await client.post("/api/artists/import", json={"spotifyId": first["spotifyId"]})
    assert joined.status == 200 and (await joined.json())["deduplicated"] is True

    await wait_done(client, (await started.json())["jobId"])
    admitted = await client.post("/api/artists/import", json={"spotifyId": second["spotifyId"]})
    assert admitted.status == 202, await admitted.text()
    await wait_done(client, (await admitted.json())["jobId"])


LIMITED = UNTHROTTLED.replace("per_client_per_minute = 1000", "per_client_per_minute = 2")
UNKNOWN_ARTIST = {"spotifyId": "0" * 22}  # a 404 after one upstream lookup: cheap to repeat


async def statuses(client: TestClient, forwarded_for: list[str]) -> list[int]:
    codes = []
    for hop in forwarded_for:
        response = await client.post(
            "/api/artists/import", json=UNKNOWN_ARTIST, headers={"X-Forwarded-For": hop}
        )
        codes.append(response.status)
    return codes


async def test_x_forwarded_for_counts_only_from_a_trusted_proxy(
    aiohttp_client: Any, database_url: str, unthrottled_simulator: None
) -> None:
    client = await app_client(aiohttp_client, database_url, LIMITED)
    # The test client connects from 127.0.0.1, trusted by nobody: one client, whatever it says.
    assert await statuses(client, ["198.51.100.1", "198.51.100.2", "198.51.100.3"]) == [
        404,
        404,
        429,
    ]
    # A reload (what SIGHUP does: a new settings object in the holder) trusts it.
    holder = client.app[SETTINGS]
    holder.current = config.parse(
        LIMITED.replace("[server]\n", '[server]\ntrusted_proxies = ["127.0.0.0/8"]\n'),
        {"DATABASE_URL": database_url},
    )
    assert holder.current.server.trusted_proxies == ("127.0.0.0/8",)
    assert await statuses(client, ["198.51.100.1", "198.51.100.2", "198.51.100.3"]) == [404] * 3
    # The hop the proxy appended is the client; what the client wrote left of it is not.
    assert await statuses(client, ["6.6.6.6, 198.51.100.1", "7.7.7.7, 198.51.100.1"]) == [
        404,
        429,
    ]
    # IPv6 by /64: two addresses of one /64 share an allowance, another /64 has its own.
    assert await statuses(
        client, ["2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "2001:db8:1:2::3", "2001:db8:1:3::1"]
    ) == [404, 404, 429, 404]


# Spotify's day: 10 requests, imports at most half of them (5), the jobs 8 (a 20 % reserve).
SMALL_SPOTIFY_DAY = UNTHROTTLED.replace(
    f"[upstream.spotify]\nmax_rate_per_s = {UNTHROTTLED_RATE_PER_S}\n",
    f"[upstream.spotify]\nmax_rate_per_s = {UNTHROTTLED_RATE_PER_S}\n"
    "daily_quota = 10\ninteractive_max = 0.5\ninteractive_reserve = 0.2\n",
)


async def test_imports_past_their_ceiling_are_refused_with_503_and_the_jobs_keep_their_share(
    aiohttp_client: Any, database_url: str, unthrottled_simulator: None
) -> None:
    assert SMALL_SPOTIFY_DAY != UNTHROTTLED
    client = await app_client(aiohttp_client, database_url, SMALL_SPOTIFY_DAY)
    artists = await sim_catalog(client)
    # One import spends the imports' 5: the token, the artist, then its catalog until refused.
    started = await client.post("/api/artists/import", json={"spotifyId": artists[0]["spotifyId"]})
    assert started.status == 202, await started.text()
    await wait_done(client, (await started.json())["jobId"])

    refused = await client.post("/api/artists/import", json={"spotifyId": artists[1]["spotifyId"]})
    body = await refused.json()
    assert refused.status == 503, body
    assert body["error"]["code"] == "quota_exhausted", body
    assert 1 <= int(refused.headers["Retry-After"]) <= 86_400
    assert (await requests_sent(client))["spotify"] == 5  # the refusal sent nothing

    # A job's request (background) still has its share of the day.
    spotify = client.app[UPSTREAMS].spotify
    assert (await spotify.artist(artists[1]["spotifyId"])).id == artists[1]["spotifyId"]
    assert (await requests_sent(client))["spotify"] == 6
