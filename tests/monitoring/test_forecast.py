"""The upstream forecast, pure: runs per day from a schedule, the measured cost per artist, and
the two figures per provider (CONTRACT.md section 9)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from theset_daemon.monitoring.forecast import (
    Budget,
    Forecast,
    JobPlan,
    RunCost,
    cost_per_artist,
    forecast,
    runs_per_day,
)

NOW = datetime(2026, 3, 4, 10, 30, tzinfo=UTC)  # a Wednesday


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("0 */6 * * *", 4.0),  # update-active-artists' default
        ("0 2 * * *", 1.0),
        ("0 3 * * 0", 1 / 7),  # weekly, Sunday (complete-catalog-sync's default)
        ("0 * * * *", 24.0),
        ("* * * * *", 1440.0),  # counted over its first fires only
        ("*/5 * * * *", 288.0),
        ("0 2 * * 1-5", 5 / 7),
        ("0 0 1 * *", 12 / 365),  # monthly: seen over the year ahead
    ],
)
def test_runs_per_day_follow_the_schedule(schedule: str, expected: float) -> None:
    assert runs_per_day(schedule, NOW) == pytest.approx(expected, rel=0.02)


def test_cost_per_artist_is_a_ratio_of_sums_over_the_artists_of_each_run() -> None:
    runs = [
        RunCost("trending-artist-sync", 10, {"spotify": 100, "ticketmaster": 0}),
        RunCost("trending-artist-sync", 30, {"spotify": 200, "ticketmaster": 0}),
        # 2 passes over 5 artists, plus data-cleanup and integrity-checks
        RunCost("complete-catalog-sync", 12, {"spotify": 5, "ticketmaster": 10, "setlistfm": 20}),
        # went through no artist: unknown, not free
        RunCost("update-active-artists", 0, {"spotify": 0}),
    ]
    assert cost_per_artist(runs) == {
        "trending-artist-sync": {"spotify": 7.5, "ticketmaster": 0.0},
        "complete-catalog-sync": {"spotify": 1.0, "ticketmaster": 2.0, "setlistfm": 4.0},
    }


def test_the_forecast_sums_the_jobs_and_divides_one_refresh_by_the_background_share() -> None:
    plans = [
        JobPlan("trending-artist-sync", runs_per_day=1.0, artists_per_run=100),
        JobPlan("complete-catalog-sync", runs_per_day=1 / 7, artists_per_run=700),
    ]
    costs = {
        "trending-artist-sync": {"spotify": 7.5},
        "complete-catalog-sync": {"spotify": 1.0, "ticketmaster": 2.0, "setlistfm": 4.0},
    }
    budgets = {
        "spotify": Budget(max_rate_per_s=10, daily_quota=0, interactive_reserve=0.2),
        "ticketmaster": Budget(max_rate_per_s=5, daily_quota=5000, interactive_reserve=0.2),
        "setlistfm": Budget(max_rate_per_s=2, daily_quota=1440, interactive_reserve=0.5),
    }
    found = forecast(plans, costs, artists=1400, budgets=budgets)
    assert found["spotify"] == Forecast(
        requests_per_day=100 * 7.5 + 700 / 7 * 1.0,
        # no daily quota: the rate's day, less the reserve's share; the costliest job per artist
        days_to_refresh_all=pytest.approx(1400 * 7.5 / (10 * 86_400 * 0.8), rel=1e-3),
    )
    assert found["ticketmaster"] == Forecast(200.0, 0.7)
    assert found["setlistfm"] == Forecast(400.0, 7.778)  # 1400 * 4 / 720, 4 digits


def test_a_run_never_covers_more_artists_than_the_catalog_holds() -> None:
    plans = [JobPlan("trending-artist-sync", runs_per_day=1.0, artists_per_run=1000)]
    budgets = {"spotify": Budget(10, 0, 0.2)}
    found = forecast(plans, {"trending-artist-sync": {"spotify": 2.0}}, 30, budgets)
    assert found["spotify"].requests_per_day == 60.0


def test_unknown_figures_are_zero_never_missing() -> None:
    budgets = {"ticketmaster": Budget(5, 5000, 0.2), "setlistfm": Budget(2, 1440, 1.0)}
    plans = [JobPlan("complete-catalog-sync", 1.0, 500)]
    # nothing measured yet
    assert forecast(plans, {}, 100, budgets) == {
        "ticketmaster": Forecast(0.0, 0.0),
        "setlistfm": Forecast(0.0, 0.0),
    }
    # measured, but an empty catalog; and a provider whose whole day is the reserve
    costs = {"complete-catalog-sync": {"ticketmaster": 2.0, "setlistfm": 1.0}}
    assert forecast(plans, costs, 0, budgets)["ticketmaster"] == Forecast(0.0, 0.0)
    assert forecast(plans, costs, 10, budgets)["setlistfm"] == Forecast(10.0, 0.0)
