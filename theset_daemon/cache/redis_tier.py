"""The Redis tier: shared storage behind the memory tier, and the channel invalidations travel on.

It is optional and allowed to fail. Any call that fails on the connection marks the tier down
(one ``cache_backend_down`` line and ``theset_cache_backend_up 0``); from then on the cache skips
Redis entirely, so a dead Redis costs no request a timeout, and no read fails. One owned task, the
supervisor, holds the pub/sub subscription while Redis is up and probes it while it is down; when it
answers again the supervisor resubscribes, drops the connections pooled before the outage, drops
the memory tier (invalidations published while we were deaf are lost, so what memory holds can no
longer be trusted), replays the invalidations this instance could not deliver, and only then marks
the tier up (``cache_backend_up``).

Races with invalidation are closed by a generation counter in Redis: every invalidation increments
it before deleting anything, a miss reads it together with the key, and the store is a Lua script
that writes only if the counter has not moved. So a load that read the database before a change
can never land in Redis after the change's invalidation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import redis.asyncio as aredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from theset_daemon.cache import keys
from theset_daemon.cache.entry import Entry, from_wire, to_wire
from theset_daemon.cache.metrics import CacheMetrics
from theset_daemon.log import get_logger, redact_text

log = get_logger(__name__)

#: Per call and per connect. Loopback answers in well under a millisecond and a hosted Redis in
#: tens; past this the call counts as a failure and the tier goes down (memory serves meanwhile).
OP_TIMEOUT_S = 0.5
#: How often the supervisor wakes while subscribed, to notice that a data call marked us down.
LISTEN_POLL_S = 0.25
RECONNECT_MIN_S = 0.1
RECONNECT_MAX_S = 2.0
#: Invalidations remembered while Redis is down; past this we forget them and flush everything.
MAX_PENDING = 10_000
#: Keys deleted per UNLINK while invalidating a pattern.
_UNLINK_BATCH = 500

# Failures that mean "Redis is unreachable"; any other RedisError is a bad answer to one call.
_DOWN_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)

_STORE = """
local current = redis.call('GET', KEYS[1])
if (current or '0') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
for i = 3, #KEYS do
  redis.call('SADD', KEYS[i], KEYS[2])
  if redis.call('PTTL', KEYS[i]) < tonumber(ARGV[3]) then
    redis.call('PEXPIRE', KEYS[i], ARGV[3])
  end
end
return 1
"""

_INVALIDATE_TAGS = """
redis.call('INCR', KEYS[1])
local dropped = 0
for i = 2, #KEYS do
  local members = redis.call('SMEMBERS', KEYS[i])
  for j = 1, #members, 500 do
    dropped = dropped + redis.call('UNLINK', unpack(members, j, math.min(j + 499, #members)))
  end
  redis.call('DEL', KEYS[i])
end
return dropped
"""


class BackendUnavailable(Exception):
    """A Redis call failed or was skipped because the tier is down; the read goes on without it."""


@dataclass(frozen=True, slots=True)
class Invalidation:
    tags: frozenset[str] = frozenset()
    patterns: frozenset[str] = frozenset()

    def encode(self, origin: str) -> str:
        return json.dumps(
            {"origin": origin, "tags": sorted(self.tags), "patterns": sorted(self.patterns)}
        )


@dataclass(frozen=True, slots=True)
class Fetched:
    entry: Entry | None
    #: Milliseconds the key has left in Redis (negative when it has no TTL or is gone).
    ttl_ms: int
    #: The generation counter as read with the key; pass it back to :meth:`RedisTier.store`.
    generation: str


State = Literal["connecting", "up", "down"]


@dataclass(slots=True)
class _Pending:
    tags: set[str] = field(default_factory=set)
    patterns: set[str] = field(default_factory=set)

    def add(self, invalidation: Invalidation) -> None:
        self.tags |= invalidation.tags
        self.patterns |= invalidation.patterns
        if len(self.tags) + len(self.patterns) > MAX_PENDING:
            self.tags.clear()
            self.patterns = {keys.ALL_PATTERN}

    def take(self) -> Invalidation | None:
        if not self.tags and not self.patterns:
            return None
        taken = Invalidation(frozenset(self.tags), frozenset(self.patterns))
        self.tags.clear()
        self.patterns.clear()
        return taken


class RedisTier:
    def __init__(
        self,
        url: str,
        *,
        password: str | None,
        instance_id: str,
        metrics: CacheMetrics,
        on_remote: Callable[[Invalidation], None],
        on_reconnect: Callable[[], None],
    ) -> None:
        self._client: aredis.Redis = aredis.Redis.from_url(
            url,
            password=password or None,
            socket_timeout=OP_TIMEOUT_S,
            socket_connect_timeout=OP_TIMEOUT_S,
            # No retries inside redis-py: a failed call marks the tier down and the read goes on
            # from memory at once; reconnecting is the supervisor's job, not each request's.
            retry=Retry(NoBackoff(), 0),
        )
        self._store_script = self._client.register_script(_STORE)
        self._invalidate_script = self._client.register_script(_INVALIDATE_TAGS)
        self._instance_id = instance_id
        self._metrics = metrics
        self._on_remote = on_remote
        self._on_reconnect = on_reconnect
        self._pending = _Pending()
        self.state: State = "connecting"
        self.down_since: float | None = None
        self._down_requested = False
        self._first_attempt = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None

    @property
    def up(self) -> bool:
        return self.state == "up"

    async def start(self) -> None:
        """Start the supervisor and wait for its first connection attempt, whatever its outcome."""
        self._supervisor = asyncio.create_task(self._supervise(), name="cache-redis-supervisor")
        await self._first_attempt.wait()

    async def close(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        await self._client.aclose()

    # --- data ----------------------------------------------------------------------------------

    async def fetch(self, key: str) -> Fetched:
        """The entry under ``key`` (None on a miss), its remaining TTL and the generation."""
        if not self.up:
            raise BackendUnavailable("redis is down")
        name = keys.redis_key(key)
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.get(name)
                pipe.pttl(name)
                pipe.get(keys.GENERATION_KEY)
                raw, ttl_ms, generation = await pipe.execute()
        except _DOWN_ERRORS as exc:
            raise self._failed(exc) from exc
        except RedisError as exc:
            raise BackendUnavailable(str(exc)) from exc
        entry = from_wire(raw) if raw is not None else None
        return Fetched(entry, int(ttl_ms), (generation or b"0").decode())

    async def store(self, key: str, entry: Entry, ttl_ms: int, generation: str) -> bool:
        """Write unless an invalidation ran since ``generation`` was read; True when written."""
        if not self.up:
            raise BackendUnavailable("redis is down")
        name = keys.redis_key(key)
        try:
            written = await self._store_script(
                keys=[keys.GENERATION_KEY, name, *map(keys.tag_set_key, entry.tags)],
                args=[generation, to_wire(entry), ttl_ms],
            )
        except _DOWN_ERRORS as exc:
            raise self._failed(exc) from exc
        except RedisError as exc:
            raise BackendUnavailable(str(exc)) from exc
        return bool(written)

    async def invalidate(self, invalidation: Invalidation) -> None:
        """Delete in Redis and tell the other instances; kept for later while Redis is down."""
        if not self.up:
            self._pending.add(invalidation)
            return
        try:
            await self._apply(invalidation)
        except _DOWN_ERRORS as exc:
            self._pending.add(invalidation)
            self._failed(exc)
        except RedisError as exc:
            # Redis answered, but refused (a foreign value under one of our names, say): retrying
            # would fail the same way, so say so loudly; the TTLs bound what stays stale.
            log.error(
                "cache_invalidation_failed",
                tags=sorted(invalidation.tags),
                patterns=sorted(invalidation.patterns),
                error=redact_text(f"{type(exc).__name__}: {exc}"),
            )

    async def _apply(self, invalidation: Invalidation) -> None:
        await self._invalidate_script(
            keys=[keys.GENERATION_KEY, *map(keys.tag_set_key, sorted(invalidation.tags))]
        )
        for pattern in sorted(invalidation.patterns):
            batch: list[bytes] = []
            async for name in self._client.scan_iter(match=keys.redis_pattern(pattern), count=1000):
                batch.append(name)
                if len(batch) >= _UNLINK_BATCH:
                    await self._client.unlink(*batch)
                    batch.clear()
            if batch:
                await self._client.unlink(*batch)
        await self._client.publish(
            keys.INVALIDATION_CHANNEL, invalidation.encode(self._instance_id)
        )

    # --- connection state ----------------------------------------------------------------------

    def _failed(self, exc: BaseException) -> BackendUnavailable:
        self._mark_down(exc)
        return BackendUnavailable(f"{type(exc).__name__}: {exc}")

    def _mark_down(self, exc: BaseException) -> None:
        self._down_requested = True
        if self.state == "down":
            return
        self.state = "down"
        self.down_since = time.monotonic()
        self._metrics.backend_up.set(0)
        log.warning(
            "cache_backend_down",
            backend="redis",
            error=redact_text(f"{type(exc).__name__}: {exc}"),
            action="serving from memory alone; reconnecting in the background (REDIS_URL)",
        )

    def _mark_up(self) -> None:
        previous, self.state = self.state, "up"
        self._down_requested = False
        self._metrics.backend_up.set(1)
        if previous == "down":
            downtime = time.monotonic() - (self.down_since or time.monotonic())
            log.info("cache_backend_up", backend="redis", downtime_s=round(downtime, 3))
        else:
            log.info("cache_backend_connected", backend="redis")
        self.down_since = None

    async def _supervise(self) -> None:
        delay = RECONNECT_MIN_S
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                async with asyncio.timeout(OP_TIMEOUT_S * 2):
                    await pubsub.subscribe(keys.INVALIDATION_CHANNEL)
                    await self._client.ping()
                if self.state == "down":
                    # Connections pooled before the outage lead to the server that died (the
                    # restarted one never saw them): the first call on each would fail and take
                    # the tier down again. Only the idle ones: the subscription's is new.
                    await self._client.connection_pool.disconnect(inuse_connections=False)
                    self._on_reconnect()
                await self._replay()
                self._mark_up()
                self._first_attempt.set()
                delay = RECONNECT_MIN_S
                await self._listen(pubsub)
            except _DOWN_ERRORS as exc:
                self._mark_down(exc)
            except RedisError as exc:
                self._mark_down(exc)
            finally:
                self._first_attempt.set()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_S)

    async def _replay(self) -> None:
        """Deliver what could not be delivered while Redis was down (each call has its timeout)."""
        pending = self._pending.take()
        if pending is None:
            return
        try:
            await self._apply(pending)
        except _DOWN_ERRORS:
            self._pending.add(pending)
            raise
        except RedisError as exc:  # refused, not unreachable: retrying would loop forever
            log.error(
                "cache_invalidation_failed",
                tags=sorted(pending.tags),
                patterns=sorted(pending.patterns),
                error=redact_text(f"{type(exc).__name__}: {exc}"),
            )

    async def _listen(self, pubsub: Any) -> None:
        while not self._down_requested:
            message = await pubsub.get_message(
                ignore_subscribe_messages=True, timeout=LISTEN_POLL_S
            )
            if message is not None and message.get("type") == "message":
                self._handle(message["data"])

    def _handle(self, data: bytes) -> None:
        try:
            body = json.loads(data)
            invalidation = Invalidation(frozenset(body["tags"]), frozenset(body["patterns"]))
            origin = body["origin"]
        except (ValueError, KeyError, TypeError):
            log.warning("cache_invalidation_malformed", size=len(data))
            return
        if origin != self._instance_id:
            self._on_remote(invalidation)
