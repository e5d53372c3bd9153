"""The three clients as one resource: one aiohttp session, one :class:`Provider` per upstream.

In ``upstream.mode = "simulated"`` the built-in simulator is started first, in this loop on a
loopback port, and every client is pointed at it (with the simulator's credentials where none are
configured). The base URLs of ``[upstream.*]`` are then ignored.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

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
from theset_daemon.sim import SIM_CREDENTIALS, SimCredentials, SimLimits, running_simulator
from theset_daemon.upstream import setlistfm, spotify, ticketmaster
from theset_daemon.upstream.breaker import BreakerState
from theset_daemon.upstream.http import Provider
from theset_daemon.upstream.metrics import UpstreamMetrics

log = get_logger(__name__)

# Enough connections for every provider's in-flight calls at their rates; the gates pace sends.
MAX_CONNECTIONS = 64

P = TypeVar("P", bound=ProviderSettings)


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


def _simulated(
    upstream: UpstreamSettings, base_url: str, credentials: SimCredentials
) -> UpstreamSettings:
    """The same settings with every URL on the simulator and its credentials where none are set."""

    def secret(configured: SecretStr, fallback: str) -> SecretStr:
        return configured if configured.get_secret_value() else SecretStr(fallback)

    sp, tm, sf = upstream.spotify, upstream.ticketmaster, upstream.setlistfm
    return upstream.model_copy(
        update={
            "spotify": sp.model_copy(
                update={
                    "api_base_url": f"{base_url}/v1",
                    "accounts_base_url": base_url,
                    "client_id": secret(sp.client_id, credentials.spotify_client_id),
                    "client_secret": secret(sp.client_secret, credentials.spotify_client_secret),
                }
            ),
            "ticketmaster": tm.model_copy(
                update={
                    "base_url": f"{base_url}/discovery/v2",
                    "api_key": secret(tm.api_key, credentials.ticketmaster_api_key),
                }
            ),
            "setlistfm": sf.model_copy(
                update={
                    "base_url": f"{base_url}/rest/1.0",
                    "api_key": secret(sf.api_key, credentials.setlistfm_api_key),
                }
            ),
        }
    )


class _EffectiveSettings:
    """``[upstream]`` as the clients must see it, recomputed only when a reload swaps settings."""

    def __init__(
        self, holder: SettingsHolder, simulator_url: str | None, credentials: SimCredentials
    ) -> None:
        self._holder = holder
        self._simulator_url = simulator_url
        self._credentials = credentials
        self._source: object | None = None
        self._effective: UpstreamSettings | None = None

    def __call__(self) -> UpstreamSettings:
        current = self._holder.current.upstream
        if current is not self._source or self._effective is None:
            self._source = current
            self._effective = (
                current
                if self._simulator_url is None
                else _simulated(current, self._simulator_url, self._credentials)
            )
        return self._effective

    def section(self, pick: Callable[[UpstreamSettings], P]) -> Callable[[], P]:
        return lambda: pick(self())


@contextlib.asynccontextmanager
async def open_upstreams(
    holder: SettingsHolder, registry: CollectorRegistry
) -> AsyncIterator[Upstreams]:
    """Start the simulator when configured, open the session, build the three clients."""
    async with contextlib.AsyncExitStack() as stack:
        upstream = holder.current.upstream
        simulator_url: str | None = None
        if upstream.mode == "simulated":
            limits = SimLimits(spotify_mode=upstream.spotify.api_mode)
            simulator_url = await stack.enter_async_context(
                running_simulator(upstream.simulator, limits)
            )
            log.info("simulator_started", base_url=simulator_url, mode=upstream.spotify.api_mode)
        effective = _EffectiveSettings(holder, simulator_url, SIM_CREDENTIALS)

        session = await stack.enter_async_context(
            aiohttp.ClientSession(
                headers={"User-Agent": f"theset-daemon/{__version__}"},
                connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS),
                raise_for_status=False,
            )
        )
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
            simulator_url=simulator_url,
        )
