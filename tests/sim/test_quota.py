"""Daily quotas: each provider's own quota 429, ``quota_used_today`` in ``/_sim/stats``, and the
sizes reaching the simulator from ``SimLimits``, from ``[upstream.simulator]`` and in the daemon's
simulated mode (the ``simulate`` flags are in ``test_cli.py``)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from tests.sim.conftest import FAST, JSON_ACCEPT, SETTINGS, Sim, SimFactory
from theset_daemon.app import open_upstreams
from theset_daemon.config import Settings, SettingsHolder, SimulatorSettings
from theset_daemon.sim import SIM_CREDENTIALS, SimLimits, build_sim_app
from theset_daemon.sim.spotify import SpotifyFrontend
from theset_daemon.sim.state import SIM_STATE

EVENTS = "/discovery/v2/events.json"
TM_KEY = SIM_CREDENTIALS.ticketmaster_api_key
FM_HEADERS = {"x-api-key": SIM_CREDENTIALS.setlistfm_api_key, **JSON_ACCEPT}


def next_utc_midnight_ms() -> int:
    midnight = dt.datetime.combine(
        dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1), dt.time(), dt.UTC
    )
    return int(midnight.timestamp() * 1000)


async def used_today(sim: Sim) -> dict[str, Any]:
    stats = await sim.stats()
    return {p: body.get("quota_used_today") for p, body in stats.items()}


async def tm_status(sim: Sim, **params: str) -> int:
    async with sim.client.get(EVENTS, params={"apikey": TM_KEY, **params}) as response:
        return response.status


async def fm_status(sim: Sim, path: str) -> int:
    async with sim.client.get(path, headers=FM_HEADERS) as response:
        return response.status


async def test_ticketmaster_quota_429_and_quota_used_today(make_sim: SimFactory) -> None:
    sim = await make_sim(limits=SimLimits(ticketmaster_daily_quota=3, ticketmaster_per_s=100_000))
    # Refused before the quota is consulted: no key, a rejected key. Not counted.
    assert (await sim.client.get(EVENTS)).status == 401
    assert (await sim.client.get(EVENTS, params={"apikey": "invalid-key"})).status == 401
    assert (await used_today(sim))["ticketmaster"] == 0
    # Counted: two answers and a 400 (Ticketmaster counts errors against the quota).
    assert await tm_status(sim, keyword="x") == 200
    assert await tm_status(sim, keyword="x", size="201") == 400
    assert await tm_status(sim, keyword="x") == 200
    assert (await used_today(sim))["ticketmaster"] == 3

    over = await sim.client.get(EVENTS, params={"apikey": TM_KEY, "keyword": "x"})
    assert over.status == 429
    assert await over.json() == {
        "fault": {
            "faultstring": (
                "Rate limit quota violation. Quota limit  exceeded. Identifier : {apikey}"
            ),
            "detail": {"errorcode": "policies.ratelimit.QuotaViolation"},
        }
    }
    assert over.content_type == "application/json"
    assert over.headers["Rate-Limit"] == "3"
    assert over.headers["Rate-Limit-Available"] == "0"
    assert over.headers["Rate-Limit-Over"] == "1"
    assert int(over.headers["Rate-Limit-Reset"]) == next_utc_midnight_ms()
    assert "Retry-After" not in over.headers

    again = await sim.client.get(EVENTS, params={"apikey": TM_KEY})
    assert again.status == 429 and again.headers["Rate-Limit-Over"] == "2"
    stats = (await sim.stats())["ticketmaster"]
    assert stats["quota_used_today"] == 3  # the refused ones are not counted
    assert (stats["requests"], stats["rate_limited"]) == (7, 2)


async def test_setlistfm_quota_429_and_quota_used_today(make_sim: SimFactory) -> None:
    sim = await make_sim(limits=SimLimits(setlistfm_daily_quota=2, setlistfm_per_s=100_000))
    mbid = (await sim.catalog(limit=1))[0]["mbid"]
    path = f"/rest/1.0/artist/{mbid}"
    # Not counted: no key, a rejected key, a key without an acceptable Accept (406).
    assert (await sim.client.get(path, headers=JSON_ACCEPT)).status == 403
    rejected = {**FM_HEADERS, "x-api-key": "invalid-key"}
    assert (await sim.client.get(path, headers=rejected)).status == 403
    assert (await sim.client.get(path, headers={**FM_HEADERS, "Accept": "image/png"})).status == 406
    assert (await used_today(sim))["setlistfm"] == 0
    assert [await fm_status(sim, path) for _ in range(2)] == [200, 200]

    over = await sim.client.get(path, headers=FM_HEADERS)
    assert over.status == 429
    assert await over.json() == {"message": "Limit Exceeded"}
    assert over.content_type == "application/json"
    assert over.headers["x-amzn-ErrorType"] == "LimitExceededException"
    assert over.headers["x-amzn-RequestId"]
    assert "Retry-After" not in over.headers and "Rate-Limit" not in over.headers
    stats = await used_today(sim)
    assert stats == {"spotify": None, "ticketmaster": 0, "setlistfm": 2}


async def test_spotify_has_no_daily_quota_and_its_quota_body_is_the_dev_mode_one(
    make_sim: SimFactory,
) -> None:
    sim = await make_sim(limits=SimLimits(ticketmaster_daily_quota=1, setlistfm_daily_quota=1))
    spotify_id = (await sim.catalog(limit=1))[0]["spotifyId"]
    for _ in range(3):
        await sim.spotify_ok(f"/artists/{spotify_id}")
    assert "quota_used_today" not in (await sim.stats())["spotify"]
    # Never sent (no quota is enforced for Spotify); the July-2026 QUOTA_EXCEEDED shape if it were.
    state = sim.client.server.app[SIM_STATE]
    response = SpotifyFrontend().quota_exceeded(state, state.utc_now())
    assert response.status == 429 and response.body is not None
    assert json.loads(bytes(response.body)) == {
        "error": {"status": 429, "message": "Too many requests", "reason": "QUOTA_EXCEEDED"}
    }


async def test_delete_stats_zeroes_the_quota_use_and_a_new_day_starts_at_zero(
    make_sim: SimFactory,
) -> None:
    sim = await make_sim(limits=SimLimits(ticketmaster_daily_quota=2, ticketmaster_per_s=100_000))
    assert [await tm_status(sim) for _ in range(3)] == [200, 200, 429]
    cleared = await sim.client.delete("/_sim/stats")
    assert (await cleared.json())["providers"]["ticketmaster"]["quota_used_today"] == 0
    ok = await sim.client.get(EVENTS, params={"apikey": TM_KEY})
    assert ok.status == 200
    assert (ok.headers["Rate-Limit-Available"], ok.headers["Rate-Limit-Over"]) == ("1", "0")
    assert (await used_today(sim))["ticketmaster"] == 1

    state = sim.client.server.app[SIM_STATE]
    tomorrow = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    state.utc_now = lambda: tomorrow
    assert (await used_today(sim))["ticketmaster"] == 0


async def test_quotas_from_simulator_settings(
    aiohttp_client: Any, unthrottled_simulator: None
) -> None:
    """No limits given: the daily quotas are ``[upstream.simulator]``'s."""
    settings = SETTINGS.model_copy(
        update={"ticketmaster_daily_quota": 2, "setlistfm_daily_quota": 1}
    )
    client: TestClient[Any, Any] = await aiohttp_client(build_sim_app(settings))
    sim = Sim(client)
    mbid = (await sim.catalog(limit=1))[0]["mbid"]
    assert [await tm_status(sim) for _ in range(3)] == [200, 200, 429]
    assert [await fm_status(sim, f"/rest/1.0/artist/{mbid}") for _ in range(2)] == [200, 429]
    assert await used_today(sim) == {"spotify": None, "ticketmaster": 2, "setlistfm": 1}
    # Limits given: theirs (the tests' FAST keeps the providers' documented quotas).
    assert build_sim_app(settings, FAST)[SIM_STATE].quotas["ticketmaster"].limit == 5000


@pytest.mark.parametrize("key", ["ticketmaster_daily_quota", "setlistfm_daily_quota"])
def test_simulator_quota_settings_are_bounded(key: str) -> None:
    assert getattr(SimulatorSettings(), key) in (5000, 1440)
    with pytest.raises(ValidationError, match=key):
        SimulatorSettings.model_validate({key: 0})


async def test_simulated_mode_passes_the_configured_quotas(unthrottled_simulator: None) -> None:
    """``upstream.mode = "simulated"``: the in-process simulator enforces the file's quotas."""
    settings = Settings.model_validate(
        {"upstream": {"simulator": {"ticketmaster_daily_quota": 2, "setlistfm_daily_quota": 3}}}
    )
    holder = SettingsHolder(settings, Path("unused.toml"))
    async with open_upstreams(holder, CollectorRegistry()) as upstreams:
        base = upstreams.simulator_url
        assert base is not None
        async with aiohttp.ClientSession() as session:
            statuses = []
            for _ in range(3):
                url = f"{base}{EVENTS}?apikey={TM_KEY}"
                async with session.get(url) as response:
                    statuses.append(response.status)
            assert statuses == [200, 200, 429]
            async with session.get(f"{base}/_sim/stats") as response:
                providers = (await response.json())["providers"]
    assert providers["ticketmaster"]["quota_used_today"] == 2
    assert providers["setlistfm"]["quota_used_today"] == 0
