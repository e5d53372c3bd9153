"""The three clients as one resource: one aiohttp session, one :class:`Provider` per upstream.

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

from theset_daemon import __version__
from theset_daemon.config import (
    ProviderSettings,
    SetlistfmSettings,
    SettingsHolder,
    SpotifySettings,
    TicketmasterSettings,
    UpstreamSettings,
)
from theset_daemon.health import ComponentStatus
from theset_daemon.log import get_logger
from theset_daemon.upstream import setlistfm, spotify, ticketmaster
from theset_daemon.upstream.breaker import BreakerState
from theset_daemon.upstream.http import Provider
from theset_daemon.upstream.metrics import UpstreamMetrics

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


@dataclass(slots=True)
class Upstreams:
    spotify: spotify.SpotifyClient
    ticketmaster: ticketmaster.TicketmasterClient
    setlistfm: setlistfm.SetlistfmClient
    providers: dict[str, Provider]
    #: Where the built-in simulator listens, in simulated mode.
    simulator_url: str | None = None

    def status(self, name: str) -> ComponentStatus:
        """Readiness of one provider: an open breaker degrades, it never makes us unready."""
        provider = self.providers[name]
        state = provider.breaker.state
        details: dict[str, Any] = {"breaker": state.value}
        if provider.ledger is not None:
            details["quotaRemaining"] = provider.ledger.remaining
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
    holder: SettingsHolder, registry: CollectorRegistry, *, simulated: Simulated | None = None
) -> AsyncIterator[Upstreams]:
    """Open the session and build the three clients, on the simulator when ``simulated``."""
    effective = _EffectiveSettings(holder, simulated)
    async with aiohttp.ClientSession(
        headers={"User-Agent": f"theset-daemon/{__version__}"},
        connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS),
        raise_for_status=False,
    ) as session:
        metrics = UpstreamMetrics(registry)
        spotify_settings: Callable[[], SpotifySettings] = effective.section(lambda u: u.spotify)
        tm_settings: Callable[[], TicketmasterSettings] = effective.section(
            lambda u: u.ticketmaster
        )
        sf_settings: Callable[[], SetlistfmSettings] = effective.section(lambda u: u.setlistfm)
        providers = {
            "spotify": Provider(
                "spotify", spotify_settings, session, metrics, detail_of=spotify.error_detail
            ),
            "ticketmaster": Provider(
                "ticketmaster", tm_settings, session, metrics, detail_of=ticketmaster.error_detail
            ),
            "setlistfm": Provider(
                "setlistfm", sf_settings, session, metrics, detail_of=setlistfm.error_detail
            ),
        }
        yield Upstreams(
            spotify=spotify.SpotifyClient(providers["spotify"], spotify_settings),
            ticketmaster=ticketmaster.TicketmasterClient(providers["ticketmaster"], tm_settings),
            setlistfm=setlistfm.SetlistfmClient(providers["setlistfm"], sf_settings),
            providers=providers,
            simulator_url=None if simulated is None else simulated.base_url,
        )
