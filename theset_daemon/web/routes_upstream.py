"""``GET /api/monitoring/upstream`` (CONTRACT.md section 9), admin only: each provider's budget.

Per provider: its rate and daily quota as configured, today's use by class read fresh from the
shared ledger (another daemon may have counted since this one last did), what is left and when
the day resets (null without a daily quota), how the rate is shared now (``redis`` or ``split``
among the live daemons), the breaker, and the forecast (``monitoring/forecast.py``: what the
schedules will spend per day, and the days one refresh of every artist takes).

The status page shows the same figures: :func:`upstream_providers` feeds its snapshot too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from aiohttp import web
from pydantic import BaseModel

from theset_daemon.appkeys import DATABASE, SETTINGS, UPSTREAMS
from theset_daemon.db import forecast as forecast_db
from theset_daemon.jobs.context import JOB_NAMES
from theset_daemon.monitoring import forecast
from theset_daemon.timestamps import iso_utc
from theset_daemon.upstream.http import Provider
from theset_daemon.upstream.quota import next_utc_midnight
from theset_daemon.web.api import RouteTable
from theset_daemon.web.models import ErrorEnvelope

routes = RouteTable()

PROVIDERS = ("spotify", "ticketmaster", "setlistfm")


class UsedToday(BaseModel):
    interactive: int
    background: int


class ForecastView(BaseModel):
    """0 means unknown (no measured cost, no artist, or no background share), never free."""

    requestsPerDay: float
    daysToRefreshAll: float


class ProviderBudget(BaseModel):
    maxRatePerS: float
    dailyQuota: int
    interactiveReserve: float
    usedToday: UsedToday
    #: Null without a daily quota (``dailyQuota`` 0).
    remainingToday: int | None
    #: When the day's counts start again; null without a daily quota.
    resetsAt: str | None
    limiter: Literal["redis", "split"]
    liveDaemons: int
    breaker: Literal["closed", "open", "half_open"]
    forecast: ForecastView


class UpstreamProviders(BaseModel):
    spotify: ProviderBudget
    ticketmaster: ProviderBudget
    setlistfm: ProviderBudget


class UpstreamBudget(BaseModel):
    checkedAt: str
    providers: UpstreamProviders


async def forecasts(app: web.Application, now: datetime) -> dict[str, forecast.Forecast]:
    """The forecast of every provider, from the jobs as configured now and their recent runs."""
    settings = app[SETTINGS].current
    pool = app[DATABASE].pool
    plans = []
    for job in JOB_NAMES:
        section = settings.jobs.of(job)
        if section.enabled and section.artists_per_run and job in forecast.SHAPES:
            runs_per_day = forecast.runs_per_day(section.schedule, now)
            plans.append(forecast.JobPlan(job, runs_per_day, section.artists_per_run))
    runs = await forecast_db.recent_runs(pool, list(forecast.SHAPES), forecast.RECENT_RUNS)
    costs = forecast.cost_per_artist(
        forecast.RunCost(row["job_name"], row["progress_done"], row["api_calls"]) for row in runs
    )
    budgets = {
        name: forecast.Budget(p.settings.max_rate_per_s, p.settings.daily_quota,
                              p.settings.interactive_reserve)
        for name, p in app[UPSTREAMS].providers.items()
    }  # fmt: skip
    return forecast.forecast(plans, costs, await forecast_db.refreshable_artists(pool), budgets)


async def _budget(provider: Provider, expected: forecast.Forecast, now: datetime) -> ProviderBudget:
    settings, ledger = provider.settings, provider.ledger
    usage = None if ledger is None else await ledger.today()
    remaining: int | None = None
    resets_at: datetime | None = None
    if settings.daily_quota > 0:
        if ledger is None or usage is None:  # nothing counted today: all of it, till midnight
            remaining, resets_at = settings.daily_quota, next_utc_midnight(now)
        else:
            remaining, resets_at = usage.remaining(ledger.caps, now), usage.resets_at
    cluster = provider.cluster
    return ProviderBudget(
        maxRatePerS=settings.max_rate_per_s,
        dailyQuota=settings.daily_quota,
        interactiveReserve=settings.interactive_reserve,
        usedToday=UsedToday(
            interactive=0 if usage is None else usage.interactive,
            background=0 if usage is None else usage.background,
        ),
        remainingToday=remaining,
        resetsAt=iso_utc(None if resets_at is None else _to_the_second(resets_at)),
        limiter="split" if cluster is None else cluster.mode,
        liveDaemons=1 if cluster is None else cluster.live(),
        breaker=provider.breaker.state.value,
        forecast=ForecastView(
            requestsPerDay=expected.requests_per_day,
            daysToRefreshAll=expected.days_to_refresh_all,
        ),
    )


def _to_the_second(moment: datetime) -> datetime:
    """A reset computed from ``Rate-Limit-Reset`` (now + seconds left) carries float noise:
    ``00:00:00.000002`` reads as a different time. The nearest second is what it means."""
    return (moment + timedelta(microseconds=500_000)).replace(microsecond=0)


async def upstream_providers(app: web.Application, now: datetime) -> UpstreamProviders:
    expected = await forecasts(app, now)
    providers = app[UPSTREAMS].providers
    budgets = {name: await _budget(providers[name], expected[name], now) for name in PROVIDERS}
    return UpstreamProviders(**budgets)


@routes.route(
    "GET",
    "/api/monitoring/upstream",
    summary="Each upstream's budget: rate, today's quota use by class, limiter, breaker, forecast",
    responses={200: UpstreamBudget, 401: ErrorEnvelope},
    auth="admin",
    tags=("monitoring",),
)
async def get_upstream_budget(request: web.Request) -> web.Response:
    now = datetime.now(UTC)
    body = UpstreamBudget(
        checkedAt=iso_utc(now) or "", providers=await upstream_providers(request.app, now)
    )
    return web.json_response(body.model_dump(), headers={"Cache-Control": "no-store"})
