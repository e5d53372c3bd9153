"""The upstream forecast from the refresh plan (``monitoring/forecast.py``): each provider's plan
against its background share, "0 days" only without a share, the quota rule it feeds, and the
one-minute cache shared by the route, the status page and the monitor."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from theset_daemon import config
from theset_daemon.catalog.plan import ArtistState, Kind
from theset_daemon.config import SettingsHolder
from theset_daemon.monitoring import forecast as forecast_module
from theset_daemon.monitoring.forecast import (
    CACHE_TTL_S,
    Forecast,
    PlanForecast,
    forecast,
    plan_figures,
    significant,
)
from theset_daemon.monitoring.rules import quota_conditions, upstream_job

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def artist(name: str, **kw: Any) -> ArtistState:
    return ArtistState(
        artist_id=uuid.uuid5(uuid.NAMESPACE_DNS, name),
        fetched_at=dict.fromkeys(Kind, None),
        **kw,
    )


def settings(text: str = "") -> config.Settings:
    return config.parse(text, {})


def test_the_forecast_is_the_plans_day_against_the_background_share() -> None:
    # 1 active artist with an attraction (4 refreshes a day), 2 touring without one (1 a day,
    # 6 shows in the next 30 days between them), 7 others with an attraction (1 a week); no
    # setlists read yet.
    states = [
        artist("active", active=True, has_attraction=True),
        artist("touring", upcoming_shows=4, shows_soon=4, last_played_at=NOW - timedelta(days=1)),
        artist("touring 2", upcoming_shows=2, shows_soon=2),
        *(artist(f"other {n}", has_attraction=True) for n in range(7)),
    ]
    figures = plan_figures(states, NOW, settings().plan)
    upstream = settings(
        """
        [upstream.ticketmaster]
        daily_quota = 100
        interactive_reserve = 0.5
        [upstream.spotify]
        max_rate_per_s = 0.0001
        """
    ).upstream
    found = forecast(
        figures,
        {"spotify": upstream.spotify, "ticketmaster": upstream.ticketmaster,
         "setlistfm": upstream.setlistfm},
    )  # fmt: skip

    assert figures.artists == 10
    ticketmaster = found["ticketmaster"]
    assert ticketmaster.requests_per_day == pytest.approx(4 / 25 + 2 * 1 + 7 / 25 / 7)
    assert ticketmaster.share_per_day == 50  # 100 less the reserve of half
    # one refresh: 8 attractions at 1/25, 2 keyword searches
    assert ticketmaster.days_to_refresh_all == pytest.approx((8 / 25 + 2) / 50)
    spotify = found["spotify"]
    assert spotify.requests_per_day == pytest.approx(4 + 2 + 7 / 7)
    share = 0.0001 * 86_400 * 0.8  # no daily quota: the share of what the rate allows
    assert spotify.share_per_day == pytest.approx(share) and not spotify.fits
    assert spotify.days_to_refresh_all == pytest.approx(10 / share)
    setlistfm = found["setlistfm"]
    assert setlistfm.requests_per_day == pytest.approx(6 / 30)  # one a show played
    # setlists never read are all due (the first read brings the history): all 10
    assert setlistfm.days_to_refresh_all == pytest.approx(10 / 1152)


def test_no_share_at_all_is_unknown_never_free() -> None:
    figures = plan_figures([artist("a", has_attraction=True)], NOW, settings().plan)
    upstream = settings("[upstream.ticketmaster]\ninteractive_reserve = 1").upstream
    found = forecast(figures, {"ticketmaster": upstream.ticketmaster})["ticketmaster"]
    assert found.share_per_day == 0 and found.days_to_refresh_all == 0  # unknown
    assert found.requests_per_day > 0 and not found.fits
    # no artist at all: nothing to keep, and one refresh of nothing takes no time
    empty = forecast(plan_figures([], NOW, settings().plan), {"spotify": upstream.spotify})
    assert empty["spotify"] == Forecast(0.0, 10 * 86_400 * 0.8, 0.0)


def test_quota_insufficient_holds_when_the_plan_needs_more_than_the_share() -> None:
    found = quota_conditions(
        {
            "ticketmaster": Forecast(4_321.4, 4_000.0, 0.25),
            "setlistfm": Forecast(100.0, 1_152.0, 0.1),
            "spotify": Forecast(5.0, 0.0, 0.0),  # no share: any need is over it
        }
    )
    assert set(found) == {"upstream:ticketmaster", "upstream:setlistfm", "upstream:spotify"}
    assert found[upstream_job("setlistfm")] == {}
    condition = found["upstream:ticketmaster"]["quota_insufficient"]
    assert condition.severity == "warning"
    assert "ticketmaster" in condition.message and "4,321" in condition.message
    assert "4,000" in condition.message
    assert condition.details == {
        "provider": "ticketmaster",
        "requestsPerDay": 4321.4,
        "sharePerDay": 4000.0,
        "daysToRefreshAll": 0.25,
    }
    assert "quota_insufficient" in found["upstream:spotify"]


def test_figures_keep_four_significant_digits_and_never_round_to_zero() -> None:
    assert significant(1234.5678) == 1235.0
    assert significant(0.000012345) == 0.00001234


class FakeDatabase:
    pool = object()


async def test_the_plan_is_read_once_a_minute_and_again_when_the_plan_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads: list[object] = []

    async def artist_states(pool: object) -> list[ArtistState]:
        reads.append(pool)
        return [artist(f"a{len(reads)}", active=True)] * len(reads)

    monkeypatch.setattr(forecast_module, "artist_states", artist_states)
    holder = SettingsHolder(settings(), Path("unused"))
    elapsed_s = [0.0]
    plan = PlanForecast(
        FakeDatabase(),  # type: ignore[arg-type]
        holder,
        clock=lambda: NOW,
        monotonic_s=lambda: elapsed_s[0],
    )
    first = await plan.forecasts()
    elapsed_s[0] = CACHE_TTL_S - 1
    assert await plan.forecasts() == first and len(reads) == 1  # a minute: the same figures
    # A raised quota applies at once: the shares are never cached.
    holder.current = settings("[upstream.ticketmaster]\ndaily_quota = 10000")
    assert (await plan.forecasts())["ticketmaster"].share_per_day == 8000
    assert len(reads) == 1
    # Longer target ages: the figures were computed with the old ones.
    holder.current = settings("[plan]\nactive_target_age_h = 12")
    # read again: 2 artists now (the fake adds one a read), each twice a day
    assert (await plan.forecasts())["spotify"].requests_per_day == 2 * 2
    assert len(reads) == 2
    elapsed_s[0] += CACHE_TTL_S
    assert (await plan.figures()).artists == 3 and len(reads) == 3
    plan.forget()
    await plan.figures()
    assert len(reads) == 4
