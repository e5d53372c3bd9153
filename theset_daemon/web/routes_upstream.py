"""``GET /api/monitoring/upstream`` (CONTRACT.md section 9), admin only: each provider's budget.

Per provider: its rate and daily quota as configured, today's use by class read fresh from the
shared ledger (another daemon may have counted since this one last did), what is left and when
the day resets (null without a daily quota), how the rate is shared now (``redis`` or ``split``
among the live daemons), the breaker, and the forecast (``monitoring/forecast.py``: what the
refresh plan needs per day to keep every artist at its target age, and the days one refresh of
every artist takes within the background share; cached a minute, shared with the monitor).

The status page shows the same figures: :func:`upstream_providers` feeds its snapshot too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from aiohttp import web
from pydantic import BaseModel

from theset_daemon.appkeys import MONITOR, UPSTREAMS
from theset_daemon.monitoring import forecast
from theset_daemon.timestamps import iso_utc
from theset_daemon.upstream.http import Provider
from theset_daemon.upstream.quota import next_utc_midnight
from theset_daemon.web.api import RouteTable
from theset_daemon.web.models import ErrorEnvelope

routes = RouteTable()

PROVIDERS = forecast.PROVIDERS


class UsedToday(BaseModel):
    interactive: int
    background: int


class ForecastView(BaseModel):
    """From the refresh plan. ``daysToRefreshAll`` 0 means unknown (no background share at all),
    never free; 0 requests a day means nothing to keep (no artist)."""

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


async def forecasts(app: web.Application) -> dict[str, forecast.Forecast]:
    """Every provider's forecast, from the refresh plan (cached: ``monitoring/forecast.py``)."""
    return await app[MONITOR].plan.forecasts()


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
            requestsPerDay=forecast.significant(expected.requests_per_day),
            daysToRefreshAll=forecast.significant(expected.days_to_refresh_all),
        ),
    )


def _to_the_second(moment: datetime) -> datetime:
    """A reset computed from ``Rate-Limit-Reset`` (now + seconds left) carries float noise:
    ``00:00:00.000002`` reads as a different time. The nearest second is what it means."""
    return (moment + timedelta(microseconds=500_000)).replace(microsecond=0)


async def upstream_providers(
    app: web.Application, now: datetime, expected: dict[str, forecast.Forecast] | None = None
) -> UpstreamProviders:
    """Every provider's budget; ``expected``: the forecasts when the caller has them already."""
    expected = expected if expected is not None else await forecasts(app)
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
