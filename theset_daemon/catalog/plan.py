"""The refresh plan: how old each kind of an artist's data may get, what is due, in which order,
and what keeping every artist at its target age costs each provider per day.

Pure: the clock, the settings (``[plan]``) and each artist's state come in (``db/plan.py`` reads
the state). The jobs ask it what to refresh; the forecast and the ``quota_insufficient`` alert
ask it what the day needs.

**Kinds**, each from one provider and with its own "fetched at": shows (Ticketmaster),
releases (Spotify), setlists (setlist.fm).

**Tiers**, the first that holds:

- *active*: fans voted, followed or viewed the artist in the last 24 hours;
- *touring* (upcoming shows) or *trending* (in the trending top 100);
- *other*: everyone else.

**Target ages**: shows and releases ``active_target_age_h`` (6 h), ``touring_target_age_h``
(1 day), ``other_target_age_h`` (7 days). Setlists have no age: they are due once a show was
played after the last setlist fetch, and should be read within ``setlist_after_show_h``; never
read, they are due (the first read brings the newest page of the artist's history).

**Overdue** is age over target age (1.0: at its target age; a kind never fetched is infinitely
overdue); shows and releases are due from :data:`DUE_AT_OVERDUE` (5/6).
Work goes most overdue first, weighted by activity: ``overdue * (1 + ln(1 + activity))``, so of
two artists equally late the one fans are busier with goes first, and activity counts by its
order of magnitude (20 makes an artist count four times as late, 500 seven times). Only due
artists are refreshed by a scheduled run, so the weight orders the due, it never makes an artist
due. Ties go to the artist id, so the order is stable across runs.

**Cost** of one refresh, in requests: shows ``1 / ATTRACTIONS_PER_QUERY`` for an artist with a
Ticketmaster attraction (grouped ``attractionId`` queries) and 1 without (a keyword search);
releases 1 (the newest page of the artist's releases: new ones cost more, rarely); setlists 1.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from theset_daemon.config import PlanSettings

#: Artists that share one grouped Ticketmaster ``attractionId`` query (``refresh/grouped_shows.py``
#: makes the groups; 25 keeps the URL short), which sets what one artist's shows cost.
ATTRACTIONS_PER_QUERY = 25
#: The horizon over which upcoming shows predict the shows played per day.
SHOWS_HORIZON_DAYS = 30
DAY = timedelta(days=1)
#: Shows and releases are due from five sixths of their target age. A run stamps its artists as
#: it goes, minutes to an hour after it started; when the target age is the job's period (6 h,
#: a day, a week), the next run would find what the last one stamped a little short of it and
#: skip it, refreshing it a period late. A sixth (1 h of 6, 4 h of a day, 28 h of a week) is
#: room for a run's length; ``catalog/activity.py`` draws the same line for
#: update-active-artists (due from 5 h of its 6).
DUE_AT_OVERDUE = 5 / 6
SECONDS_PER_DAY = 86_400


class Kind(StrEnum):
    SHOWS = "shows"
    RELEASES = "releases"
    SETLISTS = "setlists"


PROVIDER_OF: dict[Kind, str] = {
    Kind.SHOWS: "ticketmaster",
    Kind.RELEASES: "spotify",
    Kind.SETLISTS: "setlistfm",
}


class Tier(StrEnum):
    ACTIVE = "active"
    TOURING = "touring"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class ArtistState:
    """What the plan needs of one artist."""

    artist_id: UUID
    fetched_at: Mapping[Kind, datetime | None]
    #: The activity score (``catalog/activity.py``); 0 when nobody looked.
    activity: float = 0.0
    #: Fans voted, followed or viewed it in the last 24 hours.
    active: bool = False
    trending: bool = False
    upcoming_shows: int = 0
    #: Upcoming shows within :data:`SHOWS_HORIZON_DAYS`: the shows it will play soon.
    shows_soon: int = 0
    has_attraction: bool = False
    #: The newest of its shows dated in the past.
    last_played_at: datetime | None = None


def tier_of(artist: ArtistState) -> Tier:
    if artist.active:
        return Tier.ACTIVE
    if artist.upcoming_shows > 0 or artist.trending:
        return Tier.TOURING
    return Tier.OTHER


def target_age(tier: Tier, settings: PlanSettings) -> timedelta:
    """How old shows and releases may get in ``tier``."""
    hours = {
        Tier.ACTIVE: settings.active_target_age_h,
        Tier.TOURING: settings.touring_target_age_h,
        Tier.OTHER: settings.other_target_age_h,
    }[tier]
    return timedelta(hours=hours)


def overdue(artist: ArtistState, kind: Kind, now: datetime, settings: PlanSettings) -> float:
    """Age over target age; ``inf`` when never fetched (setlists too: the first read brings
    the artist's history), 0 for setlists with no show played since they were read."""
    fetched = artist.fetched_at.get(kind)
    if fetched is None:
        return math.inf
    if kind is Kind.SETLISTS:
        played = artist.last_played_at
        if played is None or played > now or fetched >= played:
            return 0.0
        return (now - played) / timedelta(hours=settings.setlist_after_show_h)
    return max(timedelta(0), now - fetched) / target_age(tier_of(artist), settings)


def is_due(artist: ArtistState, kind: Kind, now: datetime, settings: PlanSettings) -> bool:
    """Setlists once a show was played since they were read; shows and releases from
    :data:`DUE_AT_OVERDUE` of their target age."""
    played_since_fetch = kind is Kind.SETLISTS and overdue(artist, kind, now, settings) > 0
    return played_since_fetch or overdue(artist, kind, now, settings) >= DUE_AT_OVERDUE


def priority(artist: ArtistState, kind: Kind, now: datetime, settings: PlanSettings) -> float:
    return overdue(artist, kind, now, settings) * (1 + math.log1p(max(0.0, artist.activity)))


def in_order(
    artists: Iterable[ArtistState], kind: Kind, now: datetime, settings: PlanSettings
) -> list[ArtistState]:
    """Every artist, most overdue (weighted by activity) first, due or not: what a triggered
    run takes the head of (CONTRACT.md section 9)."""
    return sorted(artists, key=lambda a: (-priority(a, kind, now, settings), str(a.artist_id)))


def due_in_order(
    artists: Iterable[ArtistState], kind: Kind, now: datetime, settings: PlanSettings
) -> list[ArtistState]:
    """The due artists, most overdue first: what a scheduled run takes, as many as its budget
    pays for (:func:`artists_per_run`)."""
    return [a for a in in_order(artists, kind, now, settings) if is_due(a, kind, now, settings)]


def cost(artist: ArtistState, kind: Kind) -> float:
    """Requests to refresh ``kind`` of ``artist`` once."""
    if kind is Kind.SHOWS and artist.has_attraction:
        return 1 / ATTRACTIONS_PER_QUERY
    return 1.0


def requests_per_day(artists: Iterable[ArtistState], settings: PlanSettings) -> dict[str, float]:
    """What keeping every artist at its target age costs each provider per day: each kind's cost
    times the refreshes a day its tier asks for; setlists one a show played, predicted from
    the shows of the next :data:`SHOWS_HORIZON_DAYS`."""
    per_day = dict.fromkeys(PROVIDER_OF.values(), 0.0)
    for artist in artists:
        refreshes_per_day = DAY / target_age(tier_of(artist), settings)
        for kind in (Kind.SHOWS, Kind.RELEASES):
            per_day[PROVIDER_OF[kind]] += cost(artist, kind) * refreshes_per_day
        shows_per_day = artist.shows_soon / SHOWS_HORIZON_DAYS
        per_day[PROVIDER_OF[Kind.SETLISTS]] += cost(artist, Kind.SETLISTS) * shows_per_day
    return per_day


def one_refresh_of_all(
    artists: Iterable[ArtistState], now: datetime, settings: PlanSettings
) -> dict[str, float]:
    """Requests for one refresh of every artist's shows and releases, and of the setlists of
    those who played a show since their last setlist fetch (the only setlists to read)."""
    total = dict.fromkeys(PROVIDER_OF.values(), 0.0)
    for artist in artists:
        for kind in (Kind.SHOWS, Kind.RELEASES):
            total[PROVIDER_OF[kind]] += cost(artist, kind)
        if is_due(artist, Kind.SETLISTS, now, settings):
            total[PROVIDER_OF[Kind.SETLISTS]] += cost(artist, Kind.SETLISTS)
    return total


def background_share_per_day(
    max_rate_per_s: float, daily_quota: int, interactive_reserve: float
) -> float:
    """The requests a day the jobs may send a provider (CONTRACT.md section 9): the day's quota
    less the interactive reserve, or, without a daily quota, the same share of what the rate
    allows in a day (interactive requests go first, so the jobs cannot count on the rest).

    A daily quota's share is whole requests, the cap the ledger enforces (``upstream/quota.py``
    takes it from here); the nudge keeps 10 * (1 - 0.8), a hair under 2 in floating point, at 2."""
    if daily_quota > 0:
        return float(math.floor(daily_quota * (1 - interactive_reserve) + 1e-9))
    return max_rate_per_s * SECONDS_PER_DAY * (1 - interactive_reserve)


def days_to_refresh_all(requests: float, share_per_day: float) -> float:
    """Days that ``requests`` take within a provider's background share; 0 when unknown (no
    share at all), never "free"."""
    return requests / share_per_day if share_per_day > 0 else 0.0


def within_budget(ordered: Iterable[ArtistState], kind: Kind, requests: float) -> list[ArtistState]:
    """The head of ``ordered`` whose refreshes of ``kind`` cost at most ``requests`` in all:
    what a scheduled run takes of :func:`due_in_order` with its share of the budget."""
    taken: list[ArtistState] = []
    spent = 0.0
    for artist in ordered:
        spent += cost(artist, kind)
        if spent > requests + 1e-9:  # 25 times 1/25 is a hair over 1 in floating point
            break
        taken.append(artist)
    return taken


def run_share(share_per_day: float, until_next_run: timedelta) -> float:
    """The requests a scheduled run may spend of a provider's background share: the share of the
    time until the job's next run, at most a day's (the day's quota stops a run there anyway).
    So a job that runs every 6 hours spends a quarter of the day's share each time and the
    day's work is spread over its runs, while a weekly run may use one day's share."""
    return share_per_day * min(1.0, max(0.0, until_next_run / DAY))
