"""The simulator's state: one object per application, made by ``build_sim_app``.

Handlers reach it through ``request.app[SIM_STATE]``; nothing lives at module level, so every test
that builds an app gets a fresh world with fresh counters.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from theset_daemon.config import SimulatorSettings
from theset_daemon.sim.auth import TokenStore
from theset_daemon.sim.catalog import Catalog
from theset_daemon.sim.limits import (
    PROVIDERS,
    DailyQuota,
    FaultBook,
    Provider,
    ProviderStats,
    RateWindow,
    SimLimits,
    SpotifyMode,
    rate_windows_enforced,
)
from theset_daemon.sim.setlist_search import SetlistFinder


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class SimState:
    settings: SimulatorSettings
    limits: SimLimits
    catalog: Catalog
    spotify_mode: SpotifyMode
    windows: dict[Provider, RateWindow]
    quotas: dict[Provider, DailyQuota]
    stats: dict[Provider, ProviderStats] = field(
        default_factory=lambda: {p: ProviderStats() for p in PROVIDERS}
    )
    faults: FaultBook = field(default_factory=FaultBook)
    tokens: TokenStore = field(default_factory=TokenStore)
    setlist_finder: SetlistFinder = field(default_factory=SetlistFinder)
    monotonic: Callable[[], float] = time.monotonic
    utc_now: Callable[[], dt.datetime] = _utc_now

    @classmethod
    def create(cls, settings: SimulatorSettings, limits: SimLimits) -> SimState:
        quotas = {}
        for provider in PROVIDERS:
            if (quota := limits.daily_quota(provider)) is not None:
                quotas[provider] = DailyQuota(quota)
        enforced = rate_windows_enforced()
        return cls(
            settings=settings,
            limits=limits,
            catalog=Catalog(settings.seed, settings.artists),
            spotify_mode=limits.spotify_mode,
            windows={
                p: RateWindow(limits.per_second(p) if enforced else math.inf) for p in PROVIDERS
            },
            quotas=quotas,
        )


SIM_STATE = web.AppKey("sim_state", SimState)
