"""The two-tier cache against a real Redis server: TTLs, LRU bound, single flight, negative
answers, tag and pattern invalidation across two instances, and Redis lost and found again."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from tests.cache.support import FakeClock, Loader, holder, settings, value_of
from tests.plugins.redis_server import RedisServer
from tests.waiting import eventually
from theset_daemon.cache import Cache, keys, with_cache
from theset_daemon.cache.core import NEGATIVE_TTL_S
from theset_daemon.config import SettingsHolder

OpenCache = Callable[..., "contextlib.AbstractAsyncContextManager[Cache]"]


@pytest.fixture
async def caches() -> AsyncIterator[Callable[..., Any]]:
    """``await make(holder)`` -> a started Cache, closed at the end of the test."""
    stack = contextlib.AsyncExitStack()

    async def make(h: SettingsHolder, **kwargs: Any) -> Cache:
        cache = Cache(h, registry=CollectorRegistry(), **kwargs)
        await cache.start()
        stack.push_async_callback(cache.close)
        return cache

    async with stack:
        yield make


def sample(cache: Cache, name: str, **labels: str) -> float:
    value = cache.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else float(value)


def redis_keys(url: str) -> set[str]:
    client = redis.Redis.from_url(url)
    try:
        return {k.decode().removeprefix(keys.NAMESPACE) for k in client.keys(keys.NAMESPACE + "*")}
    finally:
        client.close()


def redis_pttl(url: str, key: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return int(client.pttl(keys.redis_key(key)))
    finally:
        client.close()


# --- memory only -------------------------------------------------------------------------------


async def test_memory_only_hit_miss_and_metrics(caches: Any) -> None:
    cache = await caches(holder())
    load = Loader({"name": "Low"})
    assert await value_of(cache, "artist:id:1", "artist", load) == {"name": "Low"}
    assert await value_of(cache, "artist:id:1", "artist", load) == {"name": "Low"}
    assert load.calls == 1
    assert cache.tiers == ("memory",) and cache.status().status == "up"
    assert sample(cache, "theset_cache_hits_total", kind="artist", tier="memory") == 1
    assert sample(cache, "theset_cache_misses_total", kind="artist", tier="memory") == 1
    assert sample(cache, "theset_cache_hit_ratio", kind="artist") == 0.5
    assert sample(cache, "theset_cache_load_seconds_count", kind="artist") == 1
    assert sample(cache, "theset_cache_memory_entries") == 1
    assert cache.metrics.registry.get_sample_value("theset_cache_backend_up") is None


async def test_ttl_per_kind_from_the_holder_and_live_on_reload(caches: Any) -> None:
    clock = FakeClock()
    h = holder(artist=100, trending=10)
    cache = await caches(h, clock=clock)
    artist, trending = Loader("a"), Loader("t")
    await value_of(cache, "artist:id:1", "artist", artist)
    await value_of(cache, "trending:artists:week", "trending", trending)
    clock.advance(10)
    await value_of(cache, "artist:id:1", "artist", artist)
    await value_of(cache, "trending:artists:week", "trending", trending)
    assert (artist.calls, trending.calls) == (1, 2)  # trending expired at 10 s, artist did not
    # A reload that lowers the TTL applies to entries already cached.
    h.current = settings(artist=5, trending=10)
    await value_of(cache, "artist:id:1", "artist", artist)
    assert artist.calls == 2


async def test_lru_bound(caches: Any) -> None:
    cache = await caches(holder(max_entries=3))
    for n in range(5):
        await value_of(cache, f"artist:id:{n}", "artist", Loader(n))
    assert sample(cache, "theset_cache_memory_entries") == 3
    assert sample(cache, "theset_cache_evictions_total") == 2
    assert cache.peek("artist:id:0") is None and cache.peek("artist:id:4") is not None


async def test_single_flight_one_load_for_a_hundred_misses(caches: Any, redis_url: str) -> None:
    for cache in (await caches(holder()), await caches(holder(redis_url))):
        load = Loader({"n": 1}, delay_s=0.05)
        results = await asyncio.gather(*(value_of(cache, "k:1", "show", load) for _ in range(100)))
        assert load.calls == 1
        assert all(result == {"n": 1} for result in results)
        assert sample(cache, "theset_cache_coalesced_total", kind="show") == 99


async def test_a_waiter_that_leaves_does_not_cancel_the_load(caches: Any) -> None:
    cache = await caches(holder())
    load = Loader("v", delay_s=0.05)
    first = asyncio.create_task(value_of(cache, "k", "show", load))
    second = asyncio.create_task(value_of(cache, "k", "show", load))
    await eventually(lambda: load.calls == 1, what="the load under way")
    first.cancel()
    assert await second == "v"
    with pytest.raises(asyncio.CancelledError):
        await first
    assert load.calls == 1 and cache.peek("k") is not None


async def test_errors_reach_every_waiter_and_are_not_cached(caches: Any, redis_url: str) -> None:
    cache = await caches(holder(redis_url))
    calls = 0

    async def failing() -> Any:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.02)
        raise RuntimeError("upstream 503")

    results = await asyncio.gather(
        *(value_of(cache, "k", "songs", failing) for _ in range(10)), return_exceptions=True
    )
    assert calls == 1 and all(isinstance(r, RuntimeError) for r in results)
    assert cache.peek("k") is None and "k" not in redis_keys(redis_url)
    assert sample(cache, "theset_cache_errors_total", kind="songs", tier="loader") == 1
    assert await value_of(cache, "k", "songs", Loader("ok")) == "ok"


async def test_negative_answers_live_briefly(caches: Any, redis_url: str) -> None:
    clock = FakeClock()
    cache = await caches(holder(redis_url), clock=clock)
    empty = Loader([])
    entry = await cache.get_entry("k", "songs", empty)
    assert entry.negative and entry.value == []
    assert 0 < redis_pttl(redis_url, "k") <= NEGATIVE_TTL_S * 1000
    await value_of(cache, "k", "songs", empty)
    assert empty.calls == 1
    clock.advance(NEGATIVE_TTL_S)
    await value_of(cache, "k", "songs", Loader(["song"]))  # memory expired; Redis still has it
    assert cache.peek("k") is not None
    # A custom test: a throttled (partial) answer counts as negative.
    partial = await cache.get_entry(
        "p", "songs", Loader({"partial": True}), negative=lambda v: v["partial"]
    )
    assert partial.negative and 0 < redis_pttl(redis_url, "p") <= NEGATIVE_TTL_S * 1000


async def test_with_cache_decorator(caches: Any) -> None:
    cache = await caches(holder())
    calls: list[int] = []

    @with_cache(lambda n: f"artist:id:{n}", "artist", tags=lambda v: [keys.artist_tag(v["id"])])
    async def page(c: Cache, n: int) -> dict[str, Any]:
        calls.append(n)
        return {"id": n}

    assert await page(cache, 7) == {"id": 7}
    entry = await page.entry(cache, 7)
    assert entry.data == b'{"id":7}' and entry.etag.startswith('"') and entry.tags == ("artist:7",)
    assert calls == [7] and page.key(7) == "artist:id:7"
    assert await page.uncached(cache, 7) == {"id": 7} and calls == [7, 7]
    await cache.invalidate_tags(keys.artist_tag(7))
    await page(cache, 7)
    assert calls == [7, 7, 7]


# --- with Redis --------------------------------------------------------------------------------


async def test_ttl_expiry_in_both_tiers(caches: Any, redis_url: str) -> None:
    cache = await caches(holder(redis_url, show=1))
    load = Loader("v")
    await value_of(cache, "show:1", "show", load)
    assert 0 < redis_pttl(redis_url, "show:1") <= 1000
    await asyncio.sleep(1.05)
    assert redis_pttl(redis_url, "show:1") == -2
    await value_of(cache, "show:1", "show", load)
    assert load.calls == 2


async def test_a_second_instance_reads_from_redis(caches: Any, redis_url: str) -> None:
    a, b = await caches(holder(redis_url)), await caches(holder(redis_url))
    await value_of(a, "artist:id:1", "artist", Loader({"v": 1}), tags=lambda v: ["artist:1"])
    load_b = Loader({"v": "other"})
    entry = await b.get_entry("artist:id:1", "artist", load_b)
    assert entry.value == {"v": 1} and entry.tags == ("artist:1",) and load_b.calls == 0
    assert sample(b, "theset_cache_hits_total", kind="artist", tier="redis") == 1


async def test_tag_invalidation_reaches_both_instances(caches: Any, redis_url: str) -> None:
    a, b = await caches(holder(redis_url)), await caches(holder(redis_url))
    tags = lambda v: [keys.artist_tag(1)]  # noqa: E731
    for cache in (a, b):
        await value_of(cache, "artist:id:1", "artist", Loader({"name": "old"}), tags=tags)
        await value_of(cache, "artist:slug:one", "artist", Loader({"name": "old"}), tags=tags)
        await value_of(cache, "artist:id:2", "artist", Loader({"name": "two"}))
    assert b.peek("artist:id:1") is not None and b.peek("artist:slug:one") is not None

    assert await a.invalidate_tags(keys.artist_tag(1)) == 2
    assert a.peek("artist:id:1") is None
    await eventually(lambda: b.peek("artist:id:1") is None and b.peek("artist:slug:one") is None)
    assert b.peek("artist:id:2") is not None
    assert redis_keys(redis_url) >= {"artist:id:2"}
    assert not redis_keys(redis_url) & {"artist:id:1", "artist:slug:one"}
    new = Loader({"name": "new"})
    assert await value_of(b, "artist:slug:one", "artist", new, tags=tags) == {"name": "new"}
    assert sample(b, "theset_cache_invalidations_total", how="tag", origin="remote") == 1


async def test_pattern_invalidation_reaches_both_instances(caches: Any, redis_url: str) -> None:
    a, b = await caches(holder(redis_url)), await caches(holder(redis_url))
    for cache in (a, b):
        for period in keys.PERIODS:
            await value_of(cache, keys.trending_ranking(period), "trending", Loader([1]))
            await value_of(cache, keys.trending_artists(period, 20), "trending", Loader([1]))
        await value_of(cache, "artist:id:1", "artist", Loader({"n": 1}))
    await a.invalidate_pattern(keys.TRENDING_PATTERN)
    await eventually(lambda: b.peek(keys.trending_ranking("week")) is None)
    for cache in (a, b):
        assert all(cache.peek(keys.trending_artists(p, 20)) is None for p in keys.PERIODS)
        assert cache.peek("artist:id:1") is not None
    assert redis_keys(redis_url) & {keys.trending_ranking(p) for p in keys.PERIODS} == set()
    assert "artist:id:1" in redis_keys(redis_url)


async def test_a_load_overlapping_an_invalidation_keeps_nothing(
    caches: Any, redis_url: str
) -> None:
    a, b = await caches(holder(redis_url)), await caches(holder(redis_url))
    release, read = asyncio.Event(), asyncio.Event()

    async def slow_old_read() -> Any:
        read.set()
        await release.wait()  # read the row before the change was committed
        return {"name": "old"}

    reading = asyncio.create_task(value_of(b, "artist:id:1", "artist", slow_old_read))
    await asyncio.wait_for(read.wait(), 5)
    await a.invalidate_tags(keys.artist_tag(1))  # the change commits and invalidates
    await eventually(
        lambda: sample(b, "theset_cache_invalidations_total", how="tag", origin="remote") == 1
    )
    release.set()
    assert await reading == {"name": "old"}  # the caller gets its answer ...
    assert b.peek("artist:id:1") is None  # ... but neither tier keeps it
    assert "artist:id:1" not in redis_keys(redis_url)


async def test_redis_store_refuses_a_load_older_than_an_invalidation(
    caches: Any, redis_url: str
) -> None:
    a, b = await caches(holder(redis_url)), await caches(holder(redis_url))
    assert b._redis is not None
    fetched = await b._redis.fetch("artist:id:1")
    await a.invalidate_tags(keys.artist_tag(1))
    from theset_daemon.cache.entry import make_entry

    stale = make_entry({"name": "old"}, (keys.artist_tag(1),))
    assert not await b._redis.store("artist:id:1", stale, 60_000, fetched.generation)
    fresh = await b._redis.fetch("artist:id:1")
    assert await b._redis.store("artist:id:1", stale, 60_000, fresh.generation)


async def test_redis_killed_and_restarted(
    caches: Any, redis_url: str, redis_server: RedisServer
) -> None:
    cache = await caches(holder(redis_url))
    assert cache.redis_up and sample(cache, "theset_cache_backend_up") == 1
    for n in range(20):
        await value_of(cache, f"artist:id:{n}", "artist", Loader({"n": n}))

    failures: list[BaseException] = []
    served = 0
    stop = asyncio.Event()

    async def reader() -> None:
        nonlocal served
        rng = random.Random(1)
        while not stop.is_set():
            n = rng.randrange(40)
            try:
                value = await value_of(cache, f"artist:id:{n}", "artist", Loader({"n": n}))
                assert value == {"n": n}
                served += 1
            except BaseException as exc:  # any failure at all is what this test is about
                failures.append(exc)
            await asyncio.sleep(0)

    with capture_logs() as logs:
        readers = [asyncio.create_task(reader()) for _ in range(8)]
        await eventually(lambda: served >= 50, what="the readers at work")
        redis_server.kill()
        await eventually(lambda: not cache.redis_up)
        await asyncio.sleep(0.3)  # reading on while Redis is gone: no failure, no flapping
        assert sample(cache, "theset_cache_backend_up") == 0
        assert cache.status().status == "degraded"
        down_served = served
        await eventually(lambda: served > down_served, what="answers while Redis is gone")
        redis_server.start()
        await eventually(lambda: cache.redis_up, timeout_s=10)
        await asyncio.sleep(0.2)  # reading on with Redis back
        stop.set()
        await asyncio.gather(*readers)

    assert failures == [] and served > 100
    events = [entry["event"] for entry in logs]
    assert events.count("cache_backend_down") == 1
    assert events.count("cache_backend_up") == 1
    assert "cache_memory_dropped" in events
    assert sample(cache, "theset_cache_backend_up") == 1 and cache.status().status == "up"
    # Back to two tiers: a new key lands in Redis again.
    await value_of(cache, "artist:id:999", "artist", Loader({"n": 999}))
    assert "artist:id:999" in redis_keys(redis_url)


async def test_connections_pooled_before_an_outage_do_not_take_the_tier_down_again(
    caches: Any, redis_url: str, redis_server: RedisServer
) -> None:
    """Connections left idle in the pool when Redis died point at a server that is gone; the
    restarted one never saw them. Reads after the reconnect must not trip over them (a second
    ``cache_backend_down`` right after ``cache_backend_up``, memory dropped twice)."""
    cache = await caches(holder(redis_url, max_entries=1))

    async def read_many() -> None:
        # At once, so each read holds its own pooled connection: several end up idle in the pool.
        values = await asyncio.gather(
            *(value_of(cache, f"artist:id:{n}", "artist", Loader({"n": n})) for n in range(6))
        )
        assert values == [{"n": n} for n in range(6)]

    await read_many()
    with capture_logs() as logs:
        redis_server.kill()  # while nothing reads: only the supervisor notices
        await eventually(lambda: not cache.redis_up)
        redis_server.start()
        await eventually(lambda: cache.redis_up, timeout_s=10)
        for _ in range(3):
            await read_many()
            await asyncio.sleep(0.05)
    events = [entry["event"] for entry in logs]
    assert events.count("cache_backend_down") == 1, logs
    assert events.count("cache_backend_up") == 1, logs
    assert events.count("cache_memory_dropped") == 1, logs
    assert cache.redis_up and sample(cache, "theset_cache_backend_up") == 1


async def test_invalidations_made_while_redis_hangs_are_replayed(
    caches: Any, redis_url: str, redis_server: RedisServer
) -> None:
    a, b = await caches(holder(redis_url)), await caches(holder(redis_url))
    tags = lambda v: [keys.artist_tag(1)]  # noqa: E731
    await value_of(a, "artist:id:1", "artist", Loader({"name": "old"}), tags=tags)
    await value_of(b, "artist:id:1", "artist", Loader({"name": "never"}), tags=tags)  # a Redis hit
    with capture_logs() as logs:
        redis_server.pause()
        try:
            await a.invalidate_tags(keys.artist_tag(1))  # times out: remembered for later
            assert not a.redis_up and a.peek("artist:id:1") is None
            # Reads on the first instance go on from memory and the loader, without Redis.
            assert await value_of(a, "artist:id:2", "artist", Loader({"n": 2})) == {"n": 2}
        finally:
            redis_server.resume()
        await eventually(lambda: a.redis_up, timeout_s=10)
        await eventually(lambda: b.peek("artist:id:1") is None)
    assert "artist:id:1" not in redis_keys(redis_url)
    assert [e["event"] for e in logs].count("cache_backend_down") == 1
    assert await value_of(b, "artist:id:1", "artist", Loader({"name": "new"}), tags=tags) == {
        "name": "new"
    }


async def test_redis_down_at_start_up(caches: Any, redis_server: RedisServer) -> None:
    redis_server.kill()
    with capture_logs() as logs:
        cache = await caches(holder(redis_server.url))
    assert not cache.redis_up and cache.status().status == "degraded"
    assert [e["event"] for e in logs].count("cache_backend_down") == 1
    assert await value_of(cache, "k", "artist", Loader(1)) == 1
    redis_server.start()
    await eventually(lambda: cache.redis_up, timeout_s=10)
