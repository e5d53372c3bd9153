"""The three clients as one resource: one aiohttp session, one :class:`Provider` per upstream.

With a :class:`Shared` (the daemon always passes one), each provider counts its day in the
database's quota ledger and takes its send slots from the key's window shared with the other
daemons: through Redis when ``[redis] url`` is set, else an equal split among the live daemons.

The clients know nothing of the simulator: in ``upstream.mode = "simulated"`` the composition root
(``app.open_upstreams``) starts it and passes a :class:`Simulated`, which points ``[upstream]`` at
it; the configured base URLs are then ignored.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from prometheus_client import CollectorRegistry
from redis import asyncio as aredis

from theset_daemon import __version__
from theset_daemon.config import (
    ProviderSettings,
    SetlistfmSettings,
    Settings,
    SettingsHolder,
    SpotifySettings,
    TicketmasterSettings,
    UpstreamSettings,
)
from theset_daemon.db.pool import Database
from theset_daemon.health import ComponentStatus
from theset_daemon.log import get_logger
from theset_daemon.presence import Presence
from theset_daemon.upstream import setlistfm, spotify, ticketmaster
from theset_daemon.upstream.breaker import BreakerState
from theset_daemon.upstream.cluster import START_QUIET_S, SharedLimiter, redis_client
from theset_daemon.upstream.http import Provider
from theset_daemon.upstream.metrics import UpstreamMetrics
from theset_daemon.upstream.quota import DailyLedger

log = get_logger(__name__)

# Enough connections for every provider's in-flight calls at their rates; the gates pace sends.
MAX_CONNECTIONS = 64

P = TypeVar("P", bound=ProviderSettings)


@dataclass(frozen=True, slots=True)
class Simulated:
    """Every provider served by one simulator (simulated mode; the composition root starts it)."""

    base_url: str
    #: ``[upstream]`` pointed at the simulator; applied again to the settings each reload brings.
    point: Callable[[UpstreamSettings], UpstreamSettings]


@dataclass(frozen=True, slots=True)
class Shared:
    """What one key's budget is shared through: the database (quota ledger, live daemons) and
    this daemon's presence on it."""

    database: Database
    presence: Presence


@dataclass(slots=True)
class Upstreams:
    spotify: spotify.SpotifyClient
    ticketmaster: ticketmaster.TicketmasterClient
    setlistfm: setlistfm.SetlistfmClient
    providers: dict[str, Provider]
    #: Where the built-in simulator listens, in simulated mode.
    simulator_url: str | None = None

    def status(self, name: str) -> ComponentStatus:
        """Readiness of one provider: an open breaker degrades, it never makes us unready. Public:
        it names the breaker, never the quota (that is for admins: ``/api/monitoring/upstream``).
        Spotify's also names the access level in force (found from its answers, else configured:
        ``spotify.py``), which is no secret and tells an operator which rules the imports follow."""
        state = self.providers[name].breaker.state
        details: dict[str, Any] = {"breaker": state.value}
        if name == spotify.PROVIDER:
            details["accessLevel"] = self.spotify.mode
        healthy = state is BreakerState.CLOSED
        return ComponentStatus(status="up" if healthy else "degraded", details=details)


class _EffectiveSettings:
    """``[upstream]`` as the clients must see it, recomputed only when a reload swaps settings."""

    def __init__(self, holder: SettingsHolder, simulated: Simulated | None) -> None:
        self._holder = holder
        self._simulated = simulated
        self._source: object | None = None
        self._effective: UpstreamSettings | None = None

    def __call__(self) -> UpstreamSettings:
        current = self._holder.current.upstream
        if current is not self._source or self._effective is None:
            self._source = current
            self._effective = current if self._simulated is None else self._simulated.point(current)
        return self._effective

    def section(self, pick: Callable[[UpstreamSettings], P]) -> Callable[[], P]:
        return lambda: pick(self())


@contextlib.asynccontextmanager
async def open_clients(
    holder: SettingsHolder,
    registry: CollectorRegistry,
    *,
    simulated: Simulated | None = None,
    shared: Shared | None = None,
) -> AsyncIterator[Upstreams]:
    """Open the session and build the three clients, on the simulator when ``simulated``, on
    the key's shared budget when ``shared``."""
    effective = _EffectiveSettings(holder, simulated)
    metrics = UpstreamMetrics(registry)
    redis = _redis_of(holder.current) if shared is not None else None
    async with (
        aiohttp.ClientSession(
            headers={"User-Agent": f"theset-daemon/{__version__}"},
            connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS),
            raise_for_status=False,
        ) as session,
        contextlib.aclosing(redis) if redis is not None else contextlib.nullcontext(),
    ):
        quiet_until_s = 0.0
        if shared is not None:
            presence = shared.presence
            metrics.live_daemons.set_function(lambda: presence.live)
            if presence.live > 1:  # the others learn of this daemon at their next beat
                quiet_until_s = presence.registered_at_s + START_QUIET_S

        def provider(
            name: str, settings: Callable[[], P], detail_of: Callable[[Any], str]
        ) -> Provider:
            ledger = cluster = None
            if shared is not None:
                ledger = DailyLedger(name, settings, shared.database)
                cluster = SharedLimiter(
                    name, lambda: settings().max_rate_per_s, redis=redis,
                    live_daemons=lambda: shared.presence.live, quiet_until_s=quiet_until_s,
                    on_mode=lambda mode: metrics.limiter_shared.labels(name).set(mode == "redis"),
                )  # fmt: skip
            return Provider(name, settings, session, metrics, detail_of=detail_of,
                            ledger=ledger, cluster=cluster)  # fmt: skip

        spotify_settings: Callable[[], SpotifySettings] = effective.section(lambda u: u.spotify)
        tm_settings: Callable[[], TicketmasterSettings] = effective.section(
            lambda u: u.ticketmaster
        )
        sf_settings: Callable[[], SetlistfmSettings] = effective.section(lambda u: u.setlistfm)
        providers = {
            "spotify": provider("spotify", spotify_settings, spotify.error_detail),
            "ticketmaster": provider("ticketmaster", tm_settings, ticketmaster.error_detail),
            "setlistfm": provider("setlistfm", sf_settings, setlistfm.error_detail),
        }
        yield Upstreams(
            spotify=spotify.SpotifyClient(providers["spotify"], spotify_settings),
            ticketmaster=ticketmaster.TicketmasterClient(providers["ticketmaster"], tm_settings),
            setlistfm=setlistfm.SetlistfmClient(providers["setlistfm"], sf_settings),
            providers=providers,
            simulator_url=None if simulated is None else simulated.base_url,
        )


def _redis_of(settings: Settings) -> aredis.Redis | None:
    """The shared limiter's own Redis client (its timeouts are not the cache's), or None."""
    url = settings.redis.url.get_secret_value()
    if not url:
        return None
    return redis_client(url, settings.redis.token.get_secret_value())
