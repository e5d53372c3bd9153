"""A run's metrics for ``cron_metrics``: active duration, peak RSS, API calls, 429s, cache use.

The process's peak RSS is sampled every :data:`MEMORY_SAMPLE_INTERVAL_S`; API calls per provider
and 429s are the providers' ``sent`` and ``rate_limited`` counters, before and after; cache hits
and misses are the cache's Prometheus counters, before and after. The counters are process-wide:
runs overlapping each other or busy read traffic share them, which is the honest price of not
threading a meter through every call.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import psutil

from theset_daemon.cache import Cache
from theset_daemon.cache.keys import KINDS
from theset_daemon.upstream.clients import Upstreams

MEMORY_SAMPLE_INTERVAL_S = 0.5


@dataclass(slots=True)
class RunMeter:
    upstreams: Upstreams
    cache: Cache
    started_s: float = field(default_factory=time.monotonic)
    peak_rss_bytes: int = 0
    sent: dict[str, int] = field(default_factory=dict)
    rate_limited: int = 0
    cache_hits: float = 0.0
    cache_misses: float = 0.0

    def __post_init__(self) -> None:
        self.sent = {name: p.sent for name, p in self.upstreams.providers.items()}
        self.rate_limited = sum(p.rate_limited for p in self.upstreams.providers.values())
        self.cache_hits, self.cache_misses = self._cache_counts()
        self.sample()

    def sample(self) -> None:
        with contextlib.suppress(psutil.Error):
            self.peak_rss_bytes = max(self.peak_rss_bytes, psutil.Process().memory_info().rss)

    async def sample_forever(self) -> None:
        while True:
            await asyncio.sleep(MEMORY_SAMPLE_INTERVAL_S)
            self.sample()

    def _cache_counts(self) -> tuple[float, float]:
        """(hits in either tier, reads that went to the loader) since the process started."""
        registry = self.cache.metrics.registry

        def value(name: str, kind: str, tier: str) -> float:
            return registry.get_sample_value(name, {"kind": kind, "tier": tier}) or 0.0

        hits = sum(value("theset_cache_hits_total", k, t) for k in KINDS for t in self.cache.tiers)
        memory_misses = sum(value("theset_cache_misses_total", k, "memory") for k in KINDS)
        redis_hits = sum(value("theset_cache_hits_total", k, "redis") for k in KINDS)
        return hits, memory_misses - redis_hits

    def figures(self) -> dict[str, Any]:
        self.sample()
        hits, misses = self._cache_counts()
        providers = self.upstreams.providers
        return {
            "duration_ms": int((time.monotonic() - self.started_s) * 1000),
            "peak_memory_bytes": self.peak_rss_bytes,
            "api_calls": {name: p.sent - self.sent.get(name, 0) for name, p in providers.items()},
            "rate_limited": sum(p.rate_limited for p in providers.values()) - self.rate_limited,
            "cache_hits": max(0, int(hits - self.cache_hits)),
            "cache_misses": max(0, int(misses - self.cache_misses)),
        }
