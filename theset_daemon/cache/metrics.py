"""Prometheus metrics of the cache, on the daemon's own registry.

The hit path touches only pre-bound label children (one ``inc`` each) and two integers, so
counting costs well under a microsecond a read. The hit ratio is computed at scrape time from
those integers (hits in either tier over lookups, since start), so it needs no write per read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from theset_daemon.cache.keys import KINDS, Kind

TIERS = ("memory", "redis")


class CacheMetrics:
    def __init__(
        self,
        registry: CollectorRegistry,
        memory_entries: Callable[[], int],
        *,
        with_redis: bool,
    ) -> None:
        self.registry = registry
        self.hits = Counter(
            "theset_cache_hits",
            "Reads answered by a tier, by kind and tier (memory, redis).",
            ["kind", "tier"],
            registry=registry,
        )
        self.misses = Counter(
            "theset_cache_misses",
            "Reads a tier could not answer, by kind and tier.",
            ["kind", "tier"],
            registry=registry,
        )
        self.errors = Counter(
            "theset_cache_errors",
            "Failures by kind and tier: 'redis' (the call failed, the read went on without it) "
            "or 'loader' (the load raised; nothing was cached).",
            ["kind", "tier"],
            registry=registry,
        )
        self.coalesced = Counter(
            "theset_cache_coalesced",
            "Misses that waited for a load already in flight instead of starting one (single "
            "flight).",
            ["kind"],
            registry=registry,
        )
        self.load_seconds = Histogram(
            "theset_cache_load_seconds",
            "Time the loader took on a miss in both tiers.",
            ["kind"],
            registry=registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
        )
        self.invalidations = Counter(
            "theset_cache_invalidations",
            "Invalidations applied, by how (tag, pattern) and origin (local, remote).",
            ["how", "origin"],
            registry=registry,
        )
        self.evictions = Counter(
            "theset_cache_evictions",
            "Entries the memory tier dropped to stay within cache.memory_max_entries.",
            registry=registry,
        )
        # Exported only when Redis is configured: a memory-only daemon has no backend to be down.
        self.backend_up = Gauge(
            "theset_cache_backend_up",
            "1 while the Redis tier answers, 0 while the cache serves from memory alone.",
            registry=registry if with_redis else None,
        )
        memory = Gauge(
            "theset_cache_memory_entries", "Entries in the memory tier.", registry=registry
        )
        memory.set_function(lambda: float(memory_entries()))

        self._lookups = dict.fromkeys(KINDS, 0)
        self._tier_hits = dict.fromkeys(KINDS, 0)
        self.hit_by_tier = {
            (kind, tier): self.hits.labels(kind, tier) for kind in KINDS for tier in TIERS
        }
        self.miss_by_tier = {
            (kind, tier): self.misses.labels(kind, tier) for kind in KINDS for tier in TIERS
        }
        registry.register(_HitRatio(self._lookups, self._tier_hits))

    # Counted per read: a read that joined a load in flight counts where that load found its
    # answer (a Redis hit, or a miss in Redis too), so the ratio is "reads the loader did not run
    # for", whether or not the reads came together.

    def memory_hit(self, kind: Kind) -> None:
        self.hit_by_tier[kind, "memory"].inc()
        self._lookups[kind] += 1
        self._tier_hits[kind] += 1

    def memory_miss(self, kind: Kind) -> None:
        self.miss_by_tier[kind, "memory"].inc()
        self._lookups[kind] += 1

    def redis_hit(self, kind: Kind) -> None:
        self.hit_by_tier[kind, "redis"].inc()
        self._tier_hits[kind] += 1

    def redis_miss(self, kind: Kind) -> None:
        self.miss_by_tier[kind, "redis"].inc()

    def ratio(self, kind: Kind | None = None) -> float:
        """Hits in either tier over lookups, for one kind or all; 0 before the first lookup."""
        kinds = KINDS if kind is None else (kind,)
        lookups = sum(self._lookups[k] for k in kinds)
        return sum(self._tier_hits[k] for k in kinds) / lookups if lookups else 0.0


class _HitRatio(Collector):
    def __init__(self, lookups: dict[Kind, int], hits: dict[Kind, int]) -> None:
        self._lookups = lookups
        self._hits = hits

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "theset_cache_hit_ratio",
            "Reads answered by either tier over all reads since start, by kind.",
            labels=["kind"],
        )
        for kind, lookups in self._lookups.items():
            family.add_metric([kind], self._hits[kind] / lookups if lookups else 0.0)
        yield family
