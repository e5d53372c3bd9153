"""The upstream forecast, from the refresh plan: the ``forecast`` of
``GET /api/monitoring/upstream`` (CONTRACT.md section 9), the status page's plan against budget,
and what the ``quota_insufficient`` alert judges (``monitoring/rules.py``). All three read one
:class:`PlanForecast` (the monitor's), so they agree and the catalog is read once.

The source is the plan (``catalog/plan.py``) over every artist's state (``db/plan.py``), not the
jobs' past runs: what the day *needs*, whatever the schedules happened to spend.

- **Tiers and target ages** (``[plan]``): an *active* artist's shows and releases may get 6 hours
  old, a *touring* or *trending* one's a day, everyone else's a week; setlists are read once a
  show was played after the last setlist fetch, within a day.
- **Cost per kind**, in requests: shows ``1/25`` for an artist with a Ticketmaster attraction
  (grouped ``attractionId`` queries) and 1 without (a keyword search), releases 1 (Spotify),
  setlists 1 (setlist.fm).

Per provider:

- **Requests per day** (``requestsPerDay``): what keeping every artist at its target age costs,
  :func:`~theset_daemon.catalog.plan.requests_per_day`: each kind's cost times the refreshes a
  day its tier asks for; setlists one a show played, predicted from the next 30 days' shows.
- **Share per day**: the background share, ``daily_quota * (1 - interactive_reserve)``, or,
  without a daily quota, the same share of what ``max_rate_per_s`` allows in a day
  (:func:`~theset_daemon.catalog.plan.background_share_per_day`). Read from the settings in force
  on every call, so a SIGHUP that raises a quota shows (and resolves the alert) at once.
- **Days to refresh all** (``daysToRefreshAll``): one refresh of every artist's shows and
  releases, and of the setlists of those who played since their last setlist fetch
  (:func:`~theset_daemon.catalog.plan.one_refresh_of_all`), over the share per day.

Both are always numbers. 0 requests a day, or 0 days within a share, is a true 0 (nothing to keep
or to refresh: no artist). **0 days means unknown** only where there is no background share at all
(``interactive_reserve = 1``): the jobs may send nothing, so no refresh ever ends; it never means
"free".

**Cached for** :data:`CACHE_TTL_S`. Reading 10,000 artists' states takes a tenth of a second or
more on 2 cores, and summing the plan over them about 50 ms of Python, done in a thread so the
event loop keeps serving (``python -m bench forecast``); the status page asks every second per
open page, the route on every call, the monitor every 30 s. The figures change with the
catalog's activity over hours, so a minute old is as good as fresh. A change of ``[plan]``
recomputes at once (the figures were computed with the old target ages); the shares are never
cached.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from theset_daemon.catalog.plan import (
    ArtistState,
    background_share_per_day,
    days_to_refresh_all,
    one_refresh_of_all,
    requests_per_day,
)
from theset_daemon.config import PlanSettings, ProviderSettings, SettingsHolder
from theset_daemon.db.plan import artist_states
from theset_daemon.db.pool import Database

PROVIDERS = ("spotify", "ticketmaster", "setlistfm")
#: How long the plan's figures are reused before the catalog is read again.
CACHE_TTL_S = 60.0


@dataclass(frozen=True, slots=True)
class PlanFigures:
    """What the plan needs of each provider, for the catalog as read at ``computed_at``."""

    artists: int
    requests_per_day: Mapping[str, float]
    one_refresh_of_all: Mapping[str, float]
    computed_at: datetime


@dataclass(frozen=True, slots=True)
class Forecast:
    """One provider's plan against its budget."""

    requests_per_day: float
    share_per_day: float
    days_to_refresh_all: float

    @property
    def fits(self) -> bool:
        """The plan's day fits the jobs' share of the provider's day."""
        return self.requests_per_day <= self.share_per_day


def plan_figures(
    states: Iterable[ArtistState], now: datetime, settings: PlanSettings
) -> PlanFigures:
    states = list(states)
    return PlanFigures(
        artists=len(states),
        requests_per_day=requests_per_day(states, settings),
        one_refresh_of_all=one_refresh_of_all(states, now, settings),
        computed_at=now,
    )


def share_per_day(provider: ProviderSettings) -> float:
    return background_share_per_day(
        provider.max_rate_per_s, provider.daily_quota, provider.interactive_reserve
    )


def forecast(
    figures: PlanFigures, providers: Mapping[str, ProviderSettings]
) -> dict[str, Forecast]:
    """Each provider's forecast (see the module's docstring)."""
    found = {}
    for name, settings in providers.items():
        share = share_per_day(settings)
        found[name] = Forecast(
            requests_per_day=figures.requests_per_day.get(name, 0.0),
            share_per_day=share,
            days_to_refresh_all=days_to_refresh_all(
                figures.one_refresh_of_all.get(name, 0.0), share
            ),
        )
    return found


def significant(figure: float, digits: int = 4) -> float:
    """``figure`` to ``digits`` significant digits: a forecast is no more precise than that,
    and a small figure must not round to 0, which means unknown."""
    return float(f"{figure:.{digits}g}")


class PlanForecast:
    """The plan's figures, computed at most once per :data:`CACHE_TTL_S` (one read at a time:
    callers that come while it runs wait for it), and each provider's forecast from them."""

    def __init__(
        self,
        database: Database,
        holder: SettingsHolder,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        ttl_s: float = CACHE_TTL_S,
        monotonic_s: Callable[[], float] = time.monotonic,
    ) -> None:
        self._database = database
        self._holder = holder
        self._clock = clock
        self._ttl_s = ttl_s
        self._monotonic_s = monotonic_s
        self._lock = asyncio.Lock()
        self._cached: tuple[float, PlanSettings, PlanFigures] | None = None

    async def figures(self) -> PlanFigures:
        async with self._lock:
            settings = self._holder.current.plan
            if self._cached is not None:
                computed_s, computed_with, figures = self._cached
                fresh = self._monotonic_s() - computed_s < self._ttl_s
                if fresh and computed_with == settings:
                    return figures
            states = await artist_states(self._database.pool)
            figures = await asyncio.to_thread(plan_figures, states, self._clock(), settings)
            self._cached = (self._monotonic_s(), settings, figures)
            return figures

    def forget(self) -> None:
        """The next call reads the catalog again (tests, and a caller that just changed it)."""
        self._cached = None

    async def forecasts(self) -> dict[str, Forecast]:
        figures = await self.figures()
        upstream = self._holder.current.upstream
        return forecast(figures, {name: getattr(upstream, name) for name in PROVIDERS})
