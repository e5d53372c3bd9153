"""The two-tier cache: memory (always) in front of Redis (when ``redis.url`` is set).

A read looks in memory, then in Redis, then calls the loader, and keeps what it got in both tiers
for the TTL of its kind (``[cache.ttl_s]``, read on every store, so a reload applies at once).
Concurrent misses on one key share one load (single flight). Loader errors are never cached, and an
answer the caller marks negative (empty, not found, throttled upstream) is kept for
:data:`NEGATIVE_TTL_S` at most.

Invalidation is by tag (every key about one artist) or by pattern (``trending:*``); it reaches
this instance's memory at once, Redis, and, through Redis pub/sub, the memory tier of every other
instance. A load that overlaps an invalidation answers its callers but keeps nothing, so a document
read before a change is never cached after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import Any, Literal

from prometheus_client import CollectorRegistry

from theset_daemon.cache.entry import Entry, make_entry
from theset_daemon.cache.keys import Kind
from theset_daemon.cache.memory import MemoryTier, Slot
from theset_daemon.cache.metrics import CacheMetrics
from theset_daemon.cache.redis_tier import BackendUnavailable, Invalidation, RedisTier
from theset_daemon.config import SettingsHolder
from theset_daemon.health import ComponentStatus
from theset_daemon.lifetime import started
from theset_daemon.log import get_logger

log = get_logger(__name__)

#: Longest life of a negative answer (empty, not found, throttled), whatever its kind's TTL.
NEGATIVE_TTL_S = 10.0

Loader = Callable[[], Awaitable[Any]]
TagsOf = Callable[[Any], Iterable[str]]
IsNegative = Callable[[Any], bool]
# Where a flight found its answer: Redis, or the loader (after asking Redis, or without it).
_Source = Literal["redis", "loaded", "loaded_alone"]


def is_empty(value: Any) -> bool:
    """The default negative test: None, or an empty list, dict or string."""
    return value is None or (isinstance(value, list | dict | str | tuple) and not value)


class Cache:
    """Use :func:`open_cache`; the read routes reach the instance through ``app[CACHE]``."""

    def __init__(
        self,
        holder: SettingsHolder,
        *,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        settings = holder.current
        self._holder = holder
        self._clock = clock
        self.instance_id = uuid.uuid4().hex
        redis_url = settings.redis.url.get_secret_value()
        self.metrics = CacheMetrics(
            registry or CollectorRegistry(), lambda: len(self._memory), with_redis=bool(redis_url)
        )
        self._memory = MemoryTier(
            settings.cache.memory_max_entries, on_evict=self.metrics.evictions.inc
        )
        self._flights: dict[str, asyncio.Task[tuple[Entry, _Source]]] = {}
        # Bumped by every invalidation seen here (local or remote): a load that started under an
        # older epoch keeps nothing.
        self._epoch = 0
        self._redis: RedisTier | None = None
        if redis_url:
            self._redis = RedisTier(
                redis_url,
                password=settings.redis.token.get_secret_value() or None,
                instance_id=self.instance_id,
                metrics=self.metrics,
                on_remote=self._apply_remote,
                on_reconnect=self._drop_memory_after_outage,
            )

    @property
    def cache(self) -> Cache:
        """Itself, so a ``Cache`` can stand wherever :func:`with_cache` wants a cache holder."""
        return self

    @property
    def tiers(self) -> tuple[str, ...]:
        return ("memory", "redis") if self._redis is not None else ("memory",)

    @property
    def redis_up(self) -> bool:
        return self._redis is not None and self._redis.up

    async def start(self) -> None:
        if self._redis is not None:
            await self._redis.start()
        log.info(
            "cache_opened",
            tiers=list(self.tiers),
            memory_max_entries=self._memory.max_entries,
            redis=None if self._redis is None else self._redis.state,
        )

    async def close(self) -> None:
        flights = list(self._flights.values())
        for flight in flights:
            flight.cancel()
        await asyncio.gather(*flights, return_exceptions=True)
        if self._redis is not None:
            await self._redis.close()

    # --- reads ---------------------------------------------------------------------------------

    def ttl_s(self, kind: Kind, *, negative: bool = False) -> float:
        """The TTL a document of ``kind`` gets when stored now (the settings in force)."""
        ttl = float(getattr(self._holder.current.cache.ttl_s, kind))
        return min(ttl, NEGATIVE_TTL_S) if negative else ttl

    async def get_entry(
        self,
        key: str,
        kind: Kind,
        load: Loader,
        *,
        tags: TagsOf | None = None,
        negative: IsNegative = is_empty,
    ) -> Entry:
        """The entry under ``key``: from memory, else Redis, else ``load()``, one load per key.

        ``tags(value)`` names the tags the stored key carries; ``negative(value)`` true means a
        short TTL (:data:`NEGATIVE_TTL_S`). ``load`` raising is passed to every waiting caller and
        nothing is cached.
        """
        now = self._clock()
        slot = self._memory.get(key, now)
        if slot is not None:
            if now - slot.stored_at < self.ttl_s(slot.kind, negative=slot.entry.negative):
                self.metrics.memory_hit(kind)
                return slot.entry
            self._memory.delete(key)  # outlived a TTL lowered by a reload
        self.metrics.memory_miss(kind)
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.create_task(
                self._fill(key, kind, load, tags, negative), name=f"cache-fill {key}"
            )
            self._flights[key] = flight
            flight.add_done_callback(partial(self._landed, key))
        else:
            self.metrics.coalesced.labels(kind).inc()
        # Shielded: a caller that goes away (client disconnect) must not cancel the others' load.
        entry, source = await asyncio.shield(flight)
        if source == "redis":
            self.metrics.redis_hit(kind)
        elif source == "loaded":
            self.metrics.redis_miss(kind)
        return entry

    def peek(self, key: str) -> Entry | None:
        """The live entry in the memory tier, if any; no load, no metrics, no LRU touch."""
        slot = self._memory.peek(key, self._clock())
        return slot.entry if slot is not None else None

    def _landed(self, key: str, flight: asyncio.Task[tuple[Entry, _Source]]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.cancelled():
            flight.exception()  # retrieved here: the callers got it; the loop must not complain

    async def _fill(
        self, key: str, kind: Kind, load: Loader, tags: TagsOf | None, negative: IsNegative
    ) -> tuple[Entry, _Source]:
        epoch = self._epoch
        redis = self._redis
        generation: str | None = None
        if redis is not None and redis.up:
            try:
                fetched = await redis.fetch(key)
            except BackendUnavailable:
                self.metrics.errors.labels(kind, "redis").inc()
            else:
                generation = fetched.generation
                found = fetched.entry
                if found is not None and fetched.ttl_ms != -2:
                    if self._epoch == epoch:
                        full = self.ttl_s(kind, negative=found.negative)
                        left = fetched.ttl_ms / 1000 if fetched.ttl_ms > 0 else full
                        self._keep(key, kind, found, min(left, full))
                    return found, "redis"

        started = time.perf_counter()
        try:
            value = await load()
        except Exception:
            self.metrics.errors.labels(kind, "loader").inc()
            raise
        finally:
            self.metrics.load_seconds.labels(kind).observe(time.perf_counter() - started)
        is_negative = negative(value)
        entry_tags = tuple(tags(value)) if tags is not None and not is_negative else ()
        entry = make_entry(value, entry_tags, negative=is_negative)
        source: _Source = "loaded_alone" if generation is None else "loaded"
        if self._epoch != epoch:
            return entry, source  # an invalidation ran while we loaded: answer, keep nothing
        ttl_s = self.ttl_s(kind, negative=is_negative)
        self._keep(key, kind, entry, ttl_s)
        if redis is not None and redis.up and generation is not None:
            try:
                await redis.store(key, entry, max(1, int(ttl_s * 1000)), generation)
            except BackendUnavailable:
                self.metrics.errors.labels(kind, "redis").inc()
        return entry, source

    def _keep(self, key: str, kind: Kind, entry: Entry, ttl_s: float) -> None:
        now = self._clock()
        self._memory.put(key, Slot(entry, kind, now, now + ttl_s))

    # --- invalidation --------------------------------------------------------------------------

    async def invalidate(self, *, tags: Iterable[str] = (), patterns: Iterable[str] = ()) -> int:
        """Drop every key carrying one of ``tags`` or matching one of ``patterns``, everywhere.

        Call it after the change is committed. Returns how many entries this instance's memory
        tier dropped; Redis and the other instances follow (later, if Redis is down now: the
        invalidation is replayed when it is back).
        """
        invalidation = Invalidation(frozenset(tags), frozenset(patterns))
        dropped = self._apply_local(invalidation, origin="local")
        if self._redis is not None:
            await self._redis.invalidate(invalidation)
        return dropped

    async def invalidate_tags(self, *tags: str) -> int:
        return await self.invalidate(tags=tags)

    async def invalidate_pattern(self, pattern: str) -> int:
        return await self.invalidate(patterns=(pattern,))

    def _apply_local(self, invalidation: Invalidation, *, origin: str) -> int:
        self._epoch += 1
        dropped = self._memory.drop_tags(invalidation.tags)
        dropped += self._memory.drop_patterns(invalidation.patterns)
        if invalidation.tags:
            self.metrics.invalidations.labels("tag", origin).inc(len(invalidation.tags))
        if invalidation.patterns:
            self.metrics.invalidations.labels("pattern", origin).inc(len(invalidation.patterns))
        return dropped

    def _apply_remote(self, invalidation: Invalidation) -> None:
        self._apply_local(invalidation, origin="remote")

    def _drop_memory_after_outage(self) -> None:
        # Invalidations published while our subscription was down never reached us: nothing in
        # memory can be trusted any more.
        self._epoch += 1
        dropped = self._memory.clear()
        log.info("cache_memory_dropped", reason="redis reconnected", entries=dropped)

    # --- health --------------------------------------------------------------------------------

    def status(self) -> ComponentStatus:
        """Readiness: up, or degraded while Redis is configured but down (memory still serves)."""
        details: dict[str, Any] = {"tiers": list(self.tiers), "memoryEntries": len(self._memory)}
        redis = self._redis
        if redis is None or redis.up:
            return ComponentStatus(status="up", details=details)
        if redis.down_since is not None:
            details["redisDownForS"] = round(time.monotonic() - redis.down_since, 1)
        return ComponentStatus(
            status="degraded", message="Redis is unreachable; serving from memory", details=details
        )


def open_cache(
    holder: SettingsHolder, registry: CollectorRegistry | None = None
) -> contextlib.AbstractAsyncContextManager[Cache]:
    """The cache for the daemon's lifetime: Redis is connected (or found down) before it serves."""
    return started(Cache(holder, registry=registry))
