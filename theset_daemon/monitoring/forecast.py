"""The upstream forecast of ``GET /api/monitoring/upstream`` (CONTRACT.md section 9), pure: what
the current schedules and parameters will spend per day, and how many days one refresh of every
artist takes within the background share. ``db/forecast.py`` reads what it is measured from.

**Requests per day**, per provider: for each enabled job, runs per day (from its cron schedule:
:func:`runs_per_day`) * artists per run (its ``limit`` / ``max_artists``, at most the artists
the jobs refresh: those with a Spotify id) * the measured requests per artist of that job for
that provider. Only the jobs' (background) requests: imports depend on people, not schedules.

**Requests per artist** are measured from each job's recent ended runs: the requests the run sent
to the provider (``cron_metrics.api_calls``) over the artists it went through (``progress_done``,
less the items that are not artists, over the passes the job makes over each artist:
:data:`SHAPES`). A ratio of sums over the runs, so a large run weighs more than a small one.
Limits of the measure, known and accepted for a first version:

- the per-run counts are the process's counters before and after (``jobs/meter.py``): requests
  an import or an overlapping run sent meanwhile on the same daemon are counted in too, so the
  figure errs high;
- "artists per run" is the parameter, not what a run would find to do: update-active-artists
  only walks the recently active artists, complete-catalog-sync only the stale ones, so the
  figure is what the parameters *allow* (an upper bound), not a prediction of a quiet day;
- a job that sent no request yet, or never ran, counts 0 (unknown, not free).

**Days to refresh all**, per provider: the artists the jobs refresh * the costliest measured
requests per artist among the jobs for that provider (the most complete refresh of what the provider
holds: complete-catalog-sync for shows and setlists, trending-artist-sync for discographies),
over the background share of a day: ``daily_quota * (1 - interactive_reserve)``, or, without a
daily quota, ``max_rate_per_s * 86400 * (1 - interactive_reserve)`` (the same share of what the
rate allows in a day: interactive requests go first, so the jobs cannot count on the rest).

Both figures are always numbers: **0 means unknown** (no measured cost, no artist, or no
background share at all, ``interactive_reserve = 1``), never "free" or "done".
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from theset_daemon.cron import cron_trigger

#: The newest ended runs of each job the cost per artist is measured over.
RECENT_RUNS = 10
SECONDS_PER_DAY = 86_400
#: How far ahead fires are counted to find a schedule's runs per day (a monthly job is seen).
LOOKAHEAD = timedelta(days=365)
#: Past this many fires the rate is measured over the span they take (an every-minute job is
#: 10,080 fires a week: counting them all each second of the status page would cost).
MAX_FIRES_COUNTED = 100


@dataclass(frozen=True, slots=True)
class JobShape:
    """How a job's ``progress_done`` counts artists: ``passes`` items per artist (one per phase
    that walks the artists), plus ``fixed_items`` that are not artists."""

    passes: int = 1
    fixed_items: int = 0


#: The jobs that call upstreams. complete-catalog-sync walks the stale artists twice (artist-sync
#: on Spotify, show-sync on Ticketmaster and setlist.fm) and counts data-cleanup and
#: integrity-checks as one item each. calculate-trending sends nothing.
SHAPES: dict[str, JobShape] = {
    "update-active-artists": JobShape(),
    "trending-artist-sync": JobShape(),
    "complete-catalog-sync": JobShape(passes=2, fixed_items=2),
}


@dataclass(frozen=True, slots=True)
class RunCost:
    """One ended run: the items it did and the requests it sent per provider."""

    job: str
    items_done: int
    api_calls: Mapping[str, int]

    @property
    def artists(self) -> float:
        shape = SHAPES.get(self.job, JobShape())
        return max(0, self.items_done - shape.fixed_items) / shape.passes


@dataclass(frozen=True, slots=True)
class JobPlan:
    """One enabled job as configured now."""

    job: str
    runs_per_day: float
    #: The artists one run may refresh (its ``limit`` or ``max_artists``).
    artists_per_run: int


@dataclass(frozen=True, slots=True)
class Budget:
    """One provider's parameters that bound the background share."""

    max_rate_per_s: float
    daily_quota: int
    interactive_reserve: float

    @property
    def background_per_day(self) -> float:
        day = self.daily_quota if self.daily_quota > 0 else self.max_rate_per_s * SECONDS_PER_DAY
        return day * (1 - self.interactive_reserve)


@dataclass(frozen=True, slots=True)
class Forecast:
    requests_per_day: float
    days_to_refresh_all: float


def runs_per_day(schedule: str, now: datetime) -> float:
    """How many times a day the 5-field cron ``schedule`` fires: averaged over its next
    :data:`MAX_FIRES_COUNTED` fires, or over the year ahead when it fires less often. Remembered
    for the minute (cron's own resolution): the status stream asks every second."""
    return _runs_per_day(schedule, now.replace(second=0, microsecond=0))


@functools.lru_cache(maxsize=64)
def _runs_per_day(schedule: str, now: datetime) -> float:
    trigger = cron_trigger(schedule)
    end = now + LOOKAHEAD
    fires: list[datetime] = []
    fire = trigger.get_next_fire_time(None, now)
    while fire is not None and fire <= end and len(fires) < MAX_FIRES_COUNTED:
        fires.append(fire)
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    if len(fires) < 2:  # once a year at most (29 February): the year is the measure
        return len(fires) / (LOOKAHEAD.total_seconds() / SECONDS_PER_DAY)
    # n fires span n - 1 intervals
    return (len(fires) - 1) * SECONDS_PER_DAY / (fires[-1] - fires[0]).total_seconds()


def cost_per_artist(runs: Iterable[RunCost]) -> dict[str, dict[str, float]]:
    """Measured requests per artist, by job and provider: a ratio of sums over ``runs``.
    A job whose runs went through no artist is absent (unknown)."""
    artists: dict[str, float] = {}
    calls: dict[str, dict[str, int]] = {}
    for run in runs:
        artists[run.job] = artists.get(run.job, 0.0) + run.artists
        sent = calls.setdefault(run.job, {})
        for provider, count in run.api_calls.items():
            sent[provider] = sent.get(provider, 0) + int(count)
    return {
        job: {provider: count / artists[job] for provider, count in calls[job].items()}
        for job in calls
        if artists[job] > 0
    }


def forecast(
    plans: Iterable[JobPlan],
    costs: Mapping[str, Mapping[str, float]],
    artists: int,
    budgets: Mapping[str, Budget],
) -> dict[str, Forecast]:
    """Each provider's forecast (see the module's docstring)."""
    plans = list(plans)
    found: dict[str, Forecast] = {}
    for provider, budget in budgets.items():
        per_day = sum(
            plan.runs_per_day
            * min(plan.artists_per_run, artists)
            * costs.get(plan.job, {}).get(provider, 0.0)
            for plan in plans
        )
        per_artist = max((cost.get(provider, 0.0) for cost in costs.values()), default=0.0)
        share = budget.background_per_day
        days = artists * per_artist / share if share > 0 else 0.0
        found[provider] = Forecast(
            requests_per_day=_significant(per_day), days_to_refresh_all=_significant(days)
        )
    return found


def _significant(figure: float, digits: int = 4) -> float:
    """``figure`` to ``digits`` significant digits: a forecast is no more precise than that,
    and a small figure must not round to 0, which means unknown."""
    return float(f"{figure:.{digits}g}")
