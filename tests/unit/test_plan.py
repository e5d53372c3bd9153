"""The refresh plan (``catalog/plan.py``) as pure functions, with a fixed clock."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from theset_daemon.catalog.plan import (
    ATTRACTIONS_PER_QUERY,
    ArtistState,
    Kind,
    Tier,
    background_share_per_day,
    days_to_refresh_all,
    due_in_order,
    in_order,
    is_due,
    one_refresh_of_all,
    overdue,
    requests_per_day,
    run_share,
    tier_of,
    within_budget,
)
from theset_daemon.config import PlanSettings

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
SETTINGS = PlanSettings()


def artist(name: str, *, hours_ago: float | None = None, **kw: object) -> ArtistState:
    fetched = None if hours_ago is None else NOW - timedelta(hours=hours_ago)
    return ArtistState(
        artist_id=uuid.uuid5(uuid.NAMESPACE_DNS, name),
        fetched_at={Kind.SHOWS: fetched, Kind.RELEASES: fetched},
        **kw,  # type: ignore[arg-type]
    )


def test_tiers_go_active_then_touring_or_trending_then_everyone_else() -> None:
    assert tier_of(artist("a", active=True, upcoming_shows=3)) is Tier.ACTIVE
    assert tier_of(artist("t", upcoming_shows=1)) is Tier.TOURING
    assert tier_of(artist("tr", trending=True)) is Tier.TOURING
    assert tier_of(artist("o")) is Tier.OTHER


@pytest.mark.parametrize(
    ("state", "hours_ago", "expected"),
    [
        ({"active": True}, 3, 0.5),  # 3 h of 6
        ({"active": True}, 9, 1.5),
        ({"upcoming_shows": 2}, 12, 0.5),  # 12 h of a day
        ({}, 84, 0.5),  # half a week
        ({}, None, math.inf),  # never fetched
    ],
)
def test_overdue_is_age_over_the_tiers_target_age(
    state: dict[str, object], hours_ago: float | None, expected: float
) -> None:
    subject = artist("x", hours_ago=hours_ago, **state)
    assert overdue(subject, Kind.SHOWS, NOW, SETTINGS) == pytest.approx(expected)
    assert is_due(subject, Kind.SHOWS, NOW, SETTINGS) is (expected >= 1)


def test_setlists_are_due_once_a_show_was_played_after_the_last_fetch() -> None:
    played = NOW - timedelta(hours=6)
    never_fetched = ArtistState(uuid.uuid4(), {}, last_played_at=played)
    fetched_before = ArtistState(
        uuid.uuid4(), {Kind.SETLISTS: played - timedelta(days=3)}, last_played_at=played
    )
    fetched_after = ArtistState(
        uuid.uuid4(), {Kind.SETLISTS: played + timedelta(hours=1)}, last_played_at=played
    )
    never_played = ArtistState(uuid.uuid4(), {Kind.SETLISTS: NOW - timedelta(days=30)})
    new_artist = ArtistState(uuid.uuid4(), {})
    assert overdue(fetched_before, Kind.SETLISTS, NOW, SETTINGS) == pytest.approx(0.25)
    assert is_due(never_fetched, Kind.SETLISTS, NOW, SETTINGS)
    assert is_due(new_artist, Kind.SETLISTS, NOW, SETTINGS)  # its history, read once
    assert is_due(fetched_before, Kind.SETLISTS, NOW, SETTINGS)
    assert not is_due(fetched_after, Kind.SETLISTS, NOW, SETTINGS)
    assert not is_due(never_played, Kind.SETLISTS, NOW, SETTINGS)


def test_most_overdue_first_weighted_by_activity_and_stable() -> None:
    # overdue * (1 + ln(1 + activity)):
    late_quiet = artist("late-quiet", hours_ago=48, upcoming_shows=1)  # 2.0 * 1
    late_busy = artist("late-busy", hours_ago=48, upcoming_shows=1, activity=20.0)  # 2.0 * 4.0
    fresh_busy = artist("fresh-busy", hours_ago=1, active=True, activity=500.0)  # 0.17 * 7.2
    never = artist("never")  # inf
    slightly_late = artist("slightly", hours_ago=30, upcoming_shows=1, activity=3.0)  # 1.25 * 2.4
    everyone = [fresh_busy, late_quiet, slightly_late, never, late_busy]
    ordered = in_order(everyone, Kind.SHOWS, NOW, SETTINGS)
    assert ordered == [never, late_busy, slightly_late, late_quiet, fresh_busy]
    # A triggered run takes the head of that order, due or not; a scheduled one only the due.
    assert due_in_order(everyone, Kind.SHOWS, NOW, SETTINGS) == ordered[:4]
    assert in_order(reversed(everyone), Kind.SHOWS, NOW, SETTINGS) == ordered  # stable


def test_what_a_day_costs_each_provider() -> None:
    active = artist("a", active=True, has_attraction=True, shows_soon=3)
    touring = artist("t", upcoming_shows=2, shows_soon=2)  # no attraction: keyword search
    other = artist("o", has_attraction=True)
    per_day = requests_per_day([active, touring, other], SETTINGS)
    assert per_day["ticketmaster"] == pytest.approx(4 / ATTRACTIONS_PER_QUERY + 1 + 1 / 7 / 25)
    assert per_day["spotify"] == pytest.approx(4 + 1 + 1 / 7)
    assert per_day["setlistfm"] == pytest.approx(5 / 30)  # one a show played


def test_ten_thousand_artists_the_readmes_worked_example() -> None:
    """The README's example: 10,000 artists, 200 active, 1,800 touring or trending, 8,000 others;
    90% with a Ticketmaster attraction; 3,000 upcoming shows in the next 30 days; 100 artists
    played yesterday, everyone else's setlists were read after their last show."""
    long_ago = NOW - timedelta(days=20)
    artists = []
    for n in range(10_000):
        tier = {"active": True} if n < 200 else {"upcoming_shows": 1} if n < 2_000 else {}
        played_yesterday = n % 100 == 0
        artists.append(
            ArtistState(
                artist_id=uuid.uuid5(uuid.NAMESPACE_DNS, f"artist-{n}"),
                fetched_at={Kind.SETLISTS: None if played_yesterday else long_ago},
                has_attraction=n % 10 != 0,
                shows_soon=3 if n < 1_000 else 0,
                last_played_at=NOW - timedelta(days=1) if played_yesterday else long_ago,
                **tier,  # type: ignore[arg-type]
            )
        )
    per_day = requests_per_day(artists, SETTINGS)
    # Spotify: 200 * 4 + 1,800 + 8,000 / 7 = 3,743 a day.
    assert per_day["spotify"] == pytest.approx(200 * 4 + 1_800 + 8_000 / 7)
    # Ticketmaster: the same refreshes, 90% at 1/25 and 10% at 1 request: 509 a day.
    assert per_day["ticketmaster"] == pytest.approx(per_day["spotify"] * (0.9 / 25 + 0.1))
    assert per_day["setlistfm"] == pytest.approx(3_000 / 30)
    once = one_refresh_of_all(artists, NOW, SETTINGS)
    assert once == pytest.approx(
        {"ticketmaster": 9_000 / 25 + 1_000, "spotify": 10_000, "setlistfm": 100}
    )
    # Within the background share of the real quotas (20% reserve): well under a day each.
    assert days_to_refresh_all(once["ticketmaster"], 5_000 * 0.8) == pytest.approx(0.34)
    assert days_to_refresh_all(once["setlistfm"], 1_440 * 0.8) == pytest.approx(0.087, abs=1e-3)
    assert days_to_refresh_all(100, 0) == 0  # no share: unknown, not free


def test_a_scheduled_run_is_sized_to_its_share_of_the_day() -> None:
    # every 6 hours: a quarter of the day's share; weekly: a day's, never more
    assert run_share(4_000, timedelta(hours=6)) == 1_000
    assert run_share(4_000, timedelta(days=7)) == 4_000
    assert run_share(4_000, timedelta(0)) == 0
    grouped = [artist(f"g{n}", has_attraction=True) for n in range(60)]
    by_name = [artist(f"k{n}") for n in range(3)]
    # 1 request buys 25 artists with an attraction; a keyword search is a whole request
    assert within_budget(grouped, Kind.SHOWS, 1.0) == grouped[:25]
    assert within_budget(by_name + grouped, Kind.SHOWS, 2.0) == by_name[:2]
    assert within_budget(grouped, Kind.SHOWS, 0) == []


def test_background_share_per_day() -> None:
    assert background_share_per_day(5, 5000, 0.2) == 4000  # Ticketmaster's defaults
    assert background_share_per_day(20, 0, 0.2) == 20 * 86_400 * 0.8  # no quota: the rate's day
    assert background_share_per_day(2, 1440, 1.0) == 0
    assert background_share_per_day(2, 10, 0.8) == 2  # not 1: 10 * 0.19999999999999996


def test_shows_and_releases_are_due_from_five_sixths_of_their_target_age() -> None:
    # a run stamps its artists as it goes: the next run, one target age later, must find them due
    assert is_due(artist("a", hours_ago=5, active=True), Kind.SHOWS, NOW, SETTINGS)
    assert not is_due(artist("a", hours_ago=4.9, active=True), Kind.SHOWS, NOW, SETTINGS)
    assert is_due(artist("o", hours_ago=7 * 24 - 20), Kind.RELEASES, NOW, SETTINGS)
    assert not is_due(artist("o", hours_ago=7 * 24 - 30), Kind.RELEASES, NOW, SETTINGS)
