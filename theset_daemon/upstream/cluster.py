"""One provider's rate, shared by every daemon that uses its key.

Two modes:

- ``redis`` (``[redis] url`` set and Redis answering): every send takes a slot from one strict
  sliding window in Redis, a sorted set of send times read from the server's clock (``TIME``),
  so the hosts' clocks never matter. No window of ``WINDOW_SPAN_S`` holds more than
  ``max_rate_per_s`` sends from all daemons together. A person's request (interactive) that
  finds the window full leaves a mark, and background requests from any daemon wait while one is
  there. An answer sent (import phase 1, a person waiting) sets a mark for
  ``ANSWER_HEADROOM_HOLD_S``, during which the other classes on every daemon leave one place of
  the window free for the next (the gate's headroom, cluster-wide). A Retry-After pause is kept
  in Redis too, so one daemon's 429 pauses them all.
- ``split`` (no Redis, or Redis unreachable): each daemon keeps to an equal whole share of
  ``max_rate_per_s / live`` (:func:`split_share`), ``live`` being the daemons that beat in
  ``daemon_instances`` within 15 s (``presence.py``).

Why our own Lua and not a library: ``limits``' moving window answers yes or no and
``pyrate-limiter``'s Redis bucket waits by polling; neither knows two classes of caller, and a
caller needs the exact time to the next free slot to sleep once rather than poll. The script is
short, atomic, and the only code that touches the window.

Change-overs never let a window overflow:
- into ``split`` (Redis lost): nothing is sent for one window span, so the sends Redis counted
  have left every window before the shares start;
- into ``redis`` (Redis back, and at start): for ``REDIS_HOLD_S`` the daemon keeps to its split
  share while already counted in Redis, long enough for every other daemon to have probed Redis
  and for their uncounted split-mode sends to leave the window;
- a daemon that starts while others are live sends nothing in split mode until they have seen
  its first beat (``START_QUIET_S``), since until then they still take the larger share.
Only the daemons' own view of Redis can disagree for longer (one daemon cut off from Redis while
the others reach it); the split shares then cover the cut-off one alone.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
import uuid
from collections.abc import Callable
from typing import Literal

from redis import asyncio as aredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from theset_daemon.log import get_logger
from theset_daemon.presence import BEAT_INTERVAL_S
from theset_daemon.upstream.gate import (
    ANSWER_HEADROOM_HOLD_S,
    WINDOW_SPAN_S,
    headroom_places,
    window_of,
)
from theset_daemon.upstream.request_class import Priority

log = get_logger(__name__)

Mode = Literal["redis", "split"]

#: A limiter call slower than this counts as Redis being unreachable.
REDIS_TIMEOUT_S = 0.25
#: How often a daemon in split mode tries Redis again.
REDIS_PROBE_S = 1.0
#: After entering redis mode, the split share still applies for this long (see the docstring).
REDIS_HOLD_S = REDIS_PROBE_S + WINDOW_SPAN_S + 0.5
#: A daemon starting beside live ones waits this long before its first split-mode send, counted
#: from its registration (``presence.registered_at_s``), which comes before the rest of start-up.
START_QUIET_S = BEAT_INTERVAL_S + WINDOW_SPAN_S + 0.25
#: A background caller that finds a person waiting somewhere in the cluster looks again after this.
YIELD_TO_INTERACTIVE_S = 0.02

# KEYS: the window (sorted set of send times), the interactive waiters (member -> expiry), the
# pause (until, in µs), the answer mark (set while answers are sent). ARGV: limit, span µs,
# priority (request_class.Priority: 0 answering, 1 interactive, 2 background), caller id,
# background's look-again µs, how long this send keeps a place free for answers (ms, 0: none),
# the places kept free while the answer mark is set.
# Returns 0 when a slot was taken, else µs to wait before asking again.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit, span = tonumber(ARGV[1]), tonumber(ARGV[2])
local priority = tonumber(ARGV[3])
local interactive = priority < 2
local paused = tonumber(redis.call('GET', KEYS[3]) or '0')
if paused > now then return paused - now end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - span)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if not interactive and redis.call('ZCARD', KEYS[2]) > 0 then return tonumber(ARGV[5]) end
local places = limit
if priority > 0 and redis.call('EXISTS', KEYS[4]) == 1 then
  places = limit - tonumber(ARGV[7])
end
local sent = redis.call('ZCARD', KEYS[1])
if sent < places then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], math.ceil(span / 1000) + 1000)
  if interactive then redis.call('ZREM', KEYS[2], ARGV[4]) end
  if ARGV[6] ~= '0' then redis.call('SET', KEYS[4], '1', 'PX', ARGV[6]) end
  return 0
end
local leaving = redis.call('ZRANGE', KEYS[1], sent - places, sent - places, 'WITHSCORES')
local wait = math.max(1, tonumber(leaving[2]) + span - now)
if interactive then
  redis.call('ZADD', KEYS[2], now + wait + 200000, ARGV[4])
  redis.call('PEXPIRE', KEYS[2], math.ceil(wait / 1000) + 1000)
end
return wait
"""

# KEYS: the pause. ARGV: pause µs. Keeps the later of the current pause and the new one.
_PAUSE = """
local t = redis.call('TIME')
local until_us = tonumber(t[1]) * 1000000 + tonumber(t[2]) + tonumber(ARGV[1])
if until_us > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], until_us, 'PX', math.ceil(tonumber(ARGV[1]) / 1000) + 1000)
end
return 0
"""


def split_share(max_rate_per_s: float, live: int) -> float:
    """One daemon's rate of ``live`` sharing a key without Redis: whole sends per second, so
    that the daemons' evenly spaced sends, however they fall against each other, never put more
    than the rate in one second (5/s over two daemons is 2/s each, not 2.5/s, which spaces sends
    0.42 s apart and lets each put three in one second). Below one send a second per daemon
    (more daemons than the rate) no split can promise that: the README says to use Redis."""
    share = max_rate_per_s / live
    return float(math.floor(share)) if share >= 1 else share


def redis_client(url: str, password: str | None) -> aredis.Redis:
    """A client that fails fast: a limiter waiting on a dead Redis would hold every send."""
    return aredis.Redis.from_url(
        url,
        password=password or None,
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_TIMEOUT_S,
        retry=Retry(NoBackoff(), 0),
    )


class SharedLimiter:
    """The cluster side of one provider's send gate (the gate keeps the local order and spacing:
    it asks :meth:`local_rate` for its spacing and calls :meth:`take` for each send)."""

    def __init__(
        self,
        provider: str,
        max_rate_per_s: Callable[[], float],
        *,
        redis: aredis.Redis | None,
        live_daemons: Callable[[], int],
        quiet_until_s: float,
        on_mode: Callable[[Mode], None] = lambda mode: None,
    ) -> None:
        self.provider = provider
        self._max_rate_per_s = max_rate_per_s
        self._redis = redis
        self._live_daemons = live_daemons
        self._on_mode = on_mode
        now = time.monotonic()
        self.mode: Mode = "split"
        self._quiet_until = quiet_until_s
        self._hold_until = now
        self._next_probe = now  # try Redis on the first send
        keys = f"{{theset:rate:{provider}}}"  # one hash slot: the script's keys stay together
        self._keys = [f"{keys}:sends", f"{keys}:waiting", f"{keys}:paused", f"{keys}:answered"]
        caller = uuid.uuid4().hex[:12]  # unique across daemons: a member of the window per send
        self._ids = (f"{caller}:{n}" for n in itertools.count())
        self._take = redis.register_script(_TAKE) if redis is not None else None
        self._pause = redis.register_script(_PAUSE) if redis is not None else None
        on_mode(self.mode)

    def live(self) -> int:
        return max(1, self._live_daemons())

    def local_rate(self) -> float:
        """The spacing of this daemon's own sends: its share while any other daemon might be
        sending uncounted by Redis, the whole rate once all go through Redis."""
        rate = self._max_rate_per_s()
        if self.mode == "redis" and time.monotonic() >= self._hold_until:
            return rate
        return split_share(rate, self.live())

    async def take(self, *, priority: Priority, answer: bool) -> bool:
        """Wait for a cluster slot for one send. False when the mode changed meanwhile: the
        caller takes a new local slot at the new spacing first."""
        if (quiet_s := self._quiet_until - time.monotonic()) > 0:
            await asyncio.sleep(quiet_s)
            return False  # the local slot was taken before the quiet: take a fresh one after it
        if self.mode == "split":
            if self._take is None or time.monotonic() < self._next_probe:
                return True
            self._next_probe = time.monotonic() + REDIS_PROBE_S
        # One id for the whole wait: the mark a waiting person leaves is cleared by the same id
        # when its slot comes (and it names the send in the window).
        caller = next(self._ids)
        while True:
            try:
                wait_us = await self._ask(priority, answer, caller)
            except (RedisError, OSError, TimeoutError) as exc:
                if self.mode == "redis":
                    self._enter_split(type(exc).__name__)
                    return False
                return True  # the probe failed: stay split, this send keeps its local slot
            if self.mode == "split":
                self._enter_redis()  # counted in Redis from now on, at the held share
                return wait_us == 0
            if wait_us == 0:
                return True
            await asyncio.sleep(wait_us / 1_000_000)

    async def pause_for(self, seconds: float) -> None:
        """Hold every daemon's sends for ``seconds`` (a Retry-After); best effort in split mode,
        where each daemon's own gate keeps its own pause."""
        if self._pause is None or self.mode != "redis":
            return
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_S):
                await self._pause(keys=[self._keys[2]], args=[int(seconds * 1_000_000)])
        except (RedisError, OSError, TimeoutError):
            pass  # the next take() notices Redis is gone

    async def _ask(self, priority: Priority, answer: bool, caller: str) -> int:
        assert self._take is not None
        limit, span_s = window_of(self._max_rate_per_s())
        args: list[int | str] = [
            limit,
            int(span_s * 1_000_000),
            int(priority),
            caller,
            int(YIELD_TO_INTERACTIVE_S * 1_000_000),
            int(ANSWER_HEADROOM_HOLD_S * 1000) if answer else 0,
            headroom_places(limit),
        ]
        async with asyncio.timeout(REDIS_TIMEOUT_S):
            return int(await self._take(keys=self._keys, args=args))

    def _enter_split(self, why: str) -> None:
        now = time.monotonic()
        self.mode = "split"
        self._quiet_until = max(self._quiet_until, now + WINDOW_SPAN_S)
        self._next_probe = now + REDIS_PROBE_S
        log.warning("upstream_limiter_split", provider=self.provider, error=why,
                    live_daemons=self.live())  # fmt: skip
        self._on_mode("split")

    def _enter_redis(self) -> None:
        self.mode = "redis"
        self._hold_until = time.monotonic() + REDIS_HOLD_S
        log.info("upstream_limiter_shared", provider=self.provider)
        self._on_mode("redis")
