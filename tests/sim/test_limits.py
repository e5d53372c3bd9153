"""Per-second windows and daily quotas: the pure pieces, then each provider's 429 over HTTP."""

from __future__ import annotations

import asyncio
import datetime as dt

from aiohttp import ClientResponse

from tests.sim.conftest import JSON_ACCEPT, Sim, SimFactory
from theset_daemon.sim import SimLimits
from theset_daemon.sim.limits import (
    ARRIVAL_JITTER_S,
    RETRY_AFTER_IN_FLIGHT_S,
    DailyQuota,
    Fault,
    FaultBook,
    ProviderStats,
    RateWindow,
)
from theset_daemon.upstream.gate import ARRIVAL_JITTER_MARGIN_S


def test_window_admits_the_limit_and_not_one_more() -> None:
    window = RateWindow(3)
    assert [window.admit(t) for t in (10.0, 10.1, 10.2, 10.3)] == [True, True, True, False]
    assert window.retry_after_s(10.3) == 1
    span = 1.0 - ARRIVAL_JITTER_S
    assert not window.admit(10.0 + span - 0.001)  # the first is still in the window
    assert window.admit(10.0 + span)  # ... and now it is not: a slot is free
    assert not window.admit(10.0 + span)


def test_rejected_requests_do_not_fill_the_window() -> None:
    window = RateWindow(2)
    assert window.admit(0.0) and window.admit(0.5)
    assert not any(window.admit(0.6 + i / 100) for i in range(30))
    assert window.admit(1.0)  # only the two admitted ones counted: 0.0 left at 0.98


def test_fractional_limits_round_down() -> None:
    window = RateWindow(2.5)
    assert [window.admit(t) for t in (0.0, 0.1, 0.2)] == [True, True, False]


def test_peak_rate_counts_every_request_in_any_window() -> None:
    stats = ProviderStats()
    for t in (0.0, 0.2, 0.4, 0.9, 1.5, 1.6):
        stats.record("GET /x", t)
    assert stats.peak_rate_per_s == 4  # 0.0-0.9
    assert stats.by_endpoint == {"GET /x": 6}
    stats.reset()
    assert stats.as_json() == {
        "requests": 0,
        "rate_limited": 0,
        "peak_rate_per_s": 0,
        "by_endpoint": {},
        "retry_after_windows": 0,
        "inside_retry_after": 0,
    }


def test_requests_inside_an_announced_retry_after_window_are_counted() -> None:
    stats = ProviderStats()
    stats.announce_retry_after(10.0, 2)
    stats.announce_retry_after(10.5, 0)  # "retry now" opens no window
    stats.record("GET /x", 10.0 + RETRY_AFTER_IN_FLIGHT_S / 2)  # sent before it could know
    assert stats.inside_retry_after == 0
    for t in (10.0 + RETRY_AFTER_IN_FLIGHT_S, 11.0, 11.999):
        stats.record("GET /x", t)
    assert stats.inside_retry_after == 3
    stats.record("GET /x", 12.0)  # the end is exact: the window is over
    assert stats.inside_retry_after == 3
    stats.announce_retry_after(12.0, 5)
    stats.announce_retry_after(12.5, 1)  # a shorter window inside a longer one
    stats.record("GET /x", 14.0)  # the short one is over, the long one is not
    assert (stats.retry_after_windows, stats.inside_retry_after) == (3, 4)
    stats.reset()
    stats.record("GET /x", 14.5)
    assert (stats.retry_after_windows, stats.inside_retry_after) == (0, 0)


def test_daily_quota_rolls_over_at_utc_midnight() -> None:
    quota = DailyQuota(2)
    evening = dt.datetime(2026, 11, 28, 23, 59, tzinfo=dt.UTC)
    assert [quota.take(evening) for _ in range(3)] == [True, True, False]
    assert (quota.available, quota.over) == (0, 1)
    assert DailyQuota.reset_epoch_ms(evening) == int(
        dt.datetime(2026, 11, 29, tzinfo=dt.UTC).timestamp() * 1000
    )
    assert quota.take(evening + dt.timedelta(minutes=1))
    assert (quota.available, quota.over) == (1, 0)


def test_faults_are_used_in_order() -> None:
    book = FaultBook()
    book.add("spotify", Fault(status=500), 2)
    book.add("spotify", Fault(status=503), 1)
    taken = [book.take("spotify") for _ in range(4)]
    assert [f.status if f else None for f in taken] == [500, 500, 503, None]
    assert book.take("ticketmaster") is None


# --- over HTTP -----------------------------------------------------------------------------------


async def burst(sim: Sim, count: int, provider: str, path: str) -> list[ClientResponse]:
    headers: dict[str, str] = {}
    if provider == "spotify":
        headers = {"Authorization": f"Bearer {await sim.token()}"}
    elif provider == "setlistfm":
        headers = {"x-api-key": "k", **JSON_ACCEPT}
    return list(
        await asyncio.gather(*(sim.client.get(path, headers=headers) for _ in range(count)))
    )


async def test_each_provider_answers_its_own_429(make_sim: SimFactory) -> None:
    sim = await make_sim(limits=SimLimits(spotify_per_s=4, ticketmaster_per_s=3, setlistfm_per_s=2))
    entry = (await sim.catalog(limit=1))[0]
    spotify_path = f"/v1/artists/{entry['spotifyId']}"
    tm_path = f"/discovery/v2/attractions/{entry['ticketmasterId']}?apikey=k"
    fm_path = f"/rest/1.0/artist/{entry['mbid']}"
    await sim.token()  # one Spotify request in the window already
    spotify, tm, fm = await asyncio.gather(
        burst(sim, 5, "spotify", spotify_path),
        burst(sim, 5, "ticketmaster", tm_path),
        burst(sim, 4, "setlistfm", fm_path),
    )
    assert sorted(r.status for r in spotify) == [200] * 3 + [429] * 2
    assert sorted(r.status for r in tm) == [200] * 3 + [429] * 2
    assert sorted(r.status for r in fm) == [200] * 2 + [429] * 2

    limited = next(r for r in spotify if r.status == 429)
    assert int(limited.headers["Retry-After"]) >= 1
    assert await limited.json() == {"error": {"status": 429, "message": "API rate limit exceeded"}}

    limited = next(r for r in tm if r.status == 429)
    assert await limited.json() == {
        "fault": {
            "faultstring": "Spike arrest violation. Allowed rate : 3ps",
            "detail": {"errorcode": "policies.ratelimit.SpikeArrestViolation"},
        }
    }
    assert "Retry-After" not in limited.headers and "Rate-Limit" not in limited.headers

    limited = next(r for r in fm if r.status == 429)
    assert await limited.json() == {"message": "Too Many Requests"}
    assert limited.headers["x-amzn-ErrorType"] == "TooManyRequestsException"
    assert "Retry-After" not in limited.headers

    stats = await sim.stats()
    assert (stats["spotify"]["requests"], stats["spotify"]["rate_limited"]) == (6, 2)
    assert stats["spotify"]["peak_rate_per_s"] == 6  # rejected requests were sent too
    assert (stats["ticketmaster"]["peak_rate_per_s"], stats["ticketmaster"]["rate_limited"]) == (
        5,
        2,
    )
    assert (stats["setlistfm"]["peak_rate_per_s"], stats["setlistfm"]["rate_limited"]) == (4, 2)
    assert stats["setlistfm"]["by_endpoint"] == {"GET /rest/1.0/artist/{mbid}": 4}

    await asyncio.sleep(1.0)  # the window slides: served again
    again = await burst(sim, 1, "setlistfm", fm_path)
    assert again[0].status == 200


async def test_a_strict_client_never_sees_a_429(make_sim: SimFactory) -> None:
    """A client that never lets a 1-second window hold more than 2 of its sends (it waits until
    the send two before is 1 s old, plus the margin a strict client keeps for arrival jitter, as
    the daemon's send gate does) is always served, and the peak it leaves is 2. (Without the
    margin, a first request that reached a loaded server late put three arrivals in a window.)"""
    sim = await make_sim(limits=SimLimits(setlistfm_per_s=2))
    entry = (await sim.catalog(limit=1))[0]
    path = f"/rest/1.0/artist/{entry['mbid']}"
    loop = asyncio.get_running_loop()
    sent: list[float] = []
    statuses = []
    for _ in range(5):
        if len(sent) >= 2:
            await asyncio.sleep(max(0.0, sent[-2] + 1.0 + ARRIVAL_JITTER_MARGIN_S - loop.time()))
        sent.append(loop.time())
        statuses += [r.status for r in await burst(sim, 1, "setlistfm", path)]
    assert statuses == [200] * 5
    stats = (await sim.stats())["setlistfm"]
    assert stats["peak_rate_per_s"] == 2 and stats["rate_limited"] == 0


async def test_unthrottled_admits_any_rate_and_still_counts_and_limits_by_quota(
    make_sim: SimFactory, unthrottled_simulator: None
) -> None:
    """``THESET_SIM_RATE_WINDOWS=off`` (tests that do not measure rates): no per-second window,
    so no window 429 at any rate; the peak is still measured, and the daily quota, the queued
    faults and Retry-After still apply."""
    sim = await make_sim(limits=SimLimits(setlistfm_per_s=2, setlistfm_daily_quota=12))
    entry = (await sim.catalog(limit=1))[0]
    path = f"/rest/1.0/artist/{entry['mbid']}"
    assert [r.status for r in await burst(sim, 10, "setlistfm", path)] == [200] * 10
    stats = (await sim.stats())["setlistfm"]
    assert (stats["peak_rate_per_s"], stats["rate_limited"]) == (10, 0)

    response = await sim.client.post(
        "/_sim/faults", json={"provider": "setlistfm", "status": 503, "retryAfter": 1, "count": 1}
    )
    assert response.status in (200, 201, 204), await response.text()
    faulted = await burst(sim, 1, "setlistfm", path)
    assert faulted[0].status == 503 and faulted[0].headers["Retry-After"] == "1"
    # 12 a day: 10, the fault (answered before the quota is taken), then 2 more, then refused.
    statuses = [r.status for r in await burst(sim, 3, "setlistfm", path)]
    assert sorted(statuses) == [200, 200, 429]
    stats = (await sim.stats())["setlistfm"]
    assert (stats["retry_after_windows"], stats["rate_limited"]) == (1, 1)
