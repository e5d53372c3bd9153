"""Injected faults: statuses, Retry-After, latency, malformed and truncated bodies, clearing."""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp
import pytest

from tests.sim.conftest import JSON_ACCEPT, Sim, SimFactory
from theset_daemon.sim.state import SIM_STATE


async def post_fault(sim: Sim, **fault: Any) -> dict[str, Any]:
    response = await sim.client.post("/_sim/faults", json=fault)
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def get(sim: Sim, provider: str) -> aiohttp.ClientResponse:
    entry = (await sim.catalog(limit=1))[0]
    if provider == "spotify":
        headers = {"Authorization": f"Bearer {await sim.token()}"}
        return await sim.client.get(f"/v1/artists/{entry['spotifyId']}", headers=headers)
    if provider == "ticketmaster":
        return await sim.client.get(
            f"/discovery/v2/attractions/{entry['ticketmasterId']}", params={"apikey": "k"}
        )
    return await sim.client.get(
        f"/rest/1.0/artist/{entry['mbid']}", headers={"x-api-key": "k", **JSON_ACCEPT}
    )


@pytest.mark.parametrize("provider", ["spotify", "ticketmaster", "setlistfm"])
async def test_status_faults_apply_to_the_next_n_requests(sim: Sim, provider: str) -> None:
    await sim.token()  # so a Spotify fault is not spent on the token request
    await post_fault(sim, provider=provider, status=429, count=2, retryAfter=3)
    await post_fault(sim, provider=provider, status=503, count=1)
    await post_fault(sim, provider=provider, status=500, count=1, retryAfter=1)
    first, second = await get(sim, provider), await get(sim, provider)
    assert first.status == second.status == 429
    assert first.headers["Retry-After"] == "3"
    body = await first.json()
    if provider == "spotify":
        assert body == {"error": {"status": 429, "message": "API rate limit exceeded"}}
    elif provider == "ticketmaster":
        assert body["fault"]["detail"]["errorcode"] == "policies.ratelimit.SpikeArrestViolation"
    else:
        assert body == {"message": "Too Many Requests"}
    unavailable = await get(sim, provider)
    assert unavailable.status == 503 and "Retry-After" not in unavailable.headers
    broken = await get(sim, provider)
    assert broken.status == 500 and broken.headers["Retry-After"] == "1"
    assert (await get(sim, provider)).status == 200
    stats = (await sim.stats())[provider]
    assert stats["rate_limited"] == 2


@pytest.mark.parametrize("provider", ["spotify", "ticketmaster", "setlistfm"])
async def test_requests_inside_an_announced_retry_after_are_counted(
    sim: Sim, provider: str
) -> None:
    clock = [100.0]
    sim.client.app[SIM_STATE].monotonic = lambda: clock[0]
    await sim.token()
    await post_fault(sim, provider=provider, status=503, retryAfter=2)
    await post_fault(sim, provider=provider, status=429, retryAfter=1)
    assert (await get(sim, provider)).status == 503  # a 2 s window from t = 100
    clock[0] = 101.0
    assert (await get(sim, provider)).status == 429  # too early; and a 1 s window from t = 101
    clock[0] = 102.0
    assert (await get(sim, provider)).status == 200  # both windows are over
    stats = (await sim.stats())[provider]
    assert (stats["retry_after_windows"], stats["inside_retry_after"]) == (2, 1)


async def test_spotify_429_fault_always_says_when_to_retry(sim: Sim) -> None:
    await sim.token()
    await post_fault(sim, provider="spotify", status=429)
    response = await get(sim, "spotify")
    assert response.status == 429 and response.headers["Retry-After"] == "1"


async def test_latency_fault_is_a_slow_success(sim: Sim) -> None:
    await post_fault(sim, provider="ticketmaster", latencyMs=300)
    started = time.perf_counter()
    response = await get(sim, "ticketmaster")
    assert response.status == 200 and time.perf_counter() - started >= 0.3
    started = time.perf_counter()
    assert (await get(sim, "ticketmaster")).status == 200
    assert time.perf_counter() - started < 0.3


async def test_malformed_fault_is_a_200_that_does_not_parse(sim: Sim) -> None:
    await post_fault(sim, provider="setlistfm", malformed=True)
    response = await get(sim, "setlistfm")
    assert response.status == 200 and response.content_type == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(await response.text())
    assert (await (await get(sim, "setlistfm")).json())["mbid"]


async def test_truncated_fault_cuts_the_body_short(sim: Sim) -> None:
    await sim.token()
    await post_fault(sim, provider="spotify", truncated=True)
    response = await get(sim, "spotify")
    assert response.status == 200
    declared = int(response.headers["Content-Length"])
    with pytest.raises(aiohttp.ClientPayloadError):
        await response.read()
    assert declared > 0
    assert (await get(sim, "spotify")).status == 200  # a new connection, a whole answer


async def test_delete_clears_and_get_lists(sim: Sim) -> None:
    await post_fault(sim, provider="spotify", status=500, count=5)
    listed = await post_fault(sim, provider="setlistfm", status=503, count=2)
    assert listed["faults"]["spotify"][0]["remaining"] == 5
    assert listed["faults"]["setlistfm"][0]["status"] == 503
    response = await sim.client.delete("/_sim/faults", params={"provider": "setlistfm"})
    faults = (await response.json())["faults"]
    assert faults["setlistfm"] == [] and len(faults["spotify"]) == 1
    await sim.client.delete("/_sim/faults")
    assert (await get(sim, "spotify")).status == 200
    assert (await get(sim, "setlistfm")).status == 200
    empty = await (await sim.client.get("/_sim/faults")).json()
    assert empty == {"faults": {"spotify": [], "ticketmaster": [], "setlistfm": []}}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"provider": "myspace", "status": 500}, "provider"),
        ({"provider": "spotify", "status": 404}, "status"),
        ({"provider": "spotify", "status": 500, "count": 0}, "count"),
        ({"provider": "spotify", "status": 500, "count": "2"}, "count"),
        ({"provider": "spotify", "status": 500, "retryAfter": -1}, "retryAfter"),
        ({"provider": "spotify", "status": 500, "colour": "red"}, "colour"),
        ({"provider": "spotify"}, "<body>"),
        ({"provider": "spotify", "status": 500, "malformed": True}, "<body>"),
    ],
)
async def test_fault_bodies_are_validated(sim: Sim, body: dict[str, Any], field: str) -> None:
    response = await sim.client.post("/_sim/faults", json=body)
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["code"] == "invalid_request"
    assert error["message"].startswith(field)


async def test_a_body_that_is_not_json(sim: Sim) -> None:
    response = await sim.client.post("/_sim/faults", data=b"{not json")
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_request"


async def test_settings_latency_delays_providers_but_not_control_routes(
    make_sim: SimFactory,
) -> None:
    sim = await make_sim(latency_ms=150)
    started = time.perf_counter()
    await sim.catalog(limit=1)
    assert time.perf_counter() - started < 0.15
    started = time.perf_counter()
    assert (await get(sim, "setlistfm")).status == 200
    assert time.perf_counter() - started >= 0.15
