"""One key's rate across daemons (``upstream/cluster.py``), against a real Redis server and a real
Postgres: several daemons, modelled in one process as separate providers with their own limiters,
send to one scripted provider that records every arrival. Holds: no 1-second window of arrivals
ever holds more than the rate, with Redis, without it, and while Redis dies and comes back; a
person's request goes before background ones across daemons; a daemon that dies silently gives
its share up within 20 s."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from tests.plugins.redis_server import RedisServer
from tests.upstream.conftest import ScriptedServer
from tests.waiting import eventually
from theset_daemon.config import DatabaseSettings, SpotifySettings
from theset_daemon.db.pool import Database, open_database
from theset_daemon.presence import LIVE_WITHIN_S, Presence
from theset_daemon.upstream.cluster import (
    REDIS_HOLD_S,
    SharedLimiter,
    redis_client,
    split_share,
)
from theset_daemon.upstream.errors import UpstreamError
from theset_daemon.upstream.gate import WINDOW_SPAN_S, window_of
from theset_daemon.upstream.http import Provider
from theset_daemon.upstream.metrics import UpstreamMetrics
from theset_daemon.upstream.request_class import answering, interactive

RATE_PER_S = 10


def peak_in_any_second(times: list[float]) -> int:
    ordered, best, start = sorted(times), 0, 0
    for end, t in enumerate(ordered):
        while t - ordered[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


class Daemon:
    """One daemon's provider "test" on the shared key."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        redis_url: str | None,
        live: Callable[[], int],
        quiet_until_s: float = 0.0,
    ) -> None:
        settings = SpotifySettings(max_rate_per_s=RATE_PER_S)
        self.redis = redis_client(redis_url, None) if redis_url else None
        self.cluster = SharedLimiter(
            "test", lambda: settings.max_rate_per_s, redis=self.redis, live_daemons=live,
            quiet_until_s=quiet_until_s,
        )  # fmt: skip
        self.provider = Provider(
            "test", lambda: settings, session, UpstreamMetrics(CollectorRegistry()),
            cluster=self.cluster,
        )  # fmt: skip

    async def send(self, url: str, count: int) -> list[float]:
        """``count`` requests at once; when each was answered (monotonic)."""

        async def one() -> float:
            with contextlib.suppress(UpstreamError):
                await self.provider.request("GET", url, endpoint="/x")
            return time.monotonic()

        return list(await asyncio.gather(*(one() for _ in range(count))))

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def test_split_shares_are_whole_sends_so_evenly_spaced_daemons_never_overflow() -> None:
    assert split_share(10, 2) == 5
    assert split_share(5, 2) == 2  # 2.5/s each would put three of one daemon's in a second
    assert split_share(10, 3) == 3
    assert split_share(2, 3) == pytest.approx(2 / 3)  # fewer than one each: Redis is the answer


def test_the_window_of_a_rate() -> None:
    assert window_of(10) == (10, WINDOW_SPAN_S)
    assert window_of(2.5) == (2, WINDOW_SPAN_S)  # no second may hold a third send
    limit, span_s = window_of(0.5)
    assert limit == 1 and span_s == pytest.approx(2 * WINDOW_SPAN_S)


async def test_three_daemons_through_redis_hold_one_window_and_use_it(
    redis_url: str, server: ScriptedServer, session: aiohttp.ClientSession
) -> None:
    daemons = [Daemon(session, redis_url=redis_url, live=lambda: 3) for _ in range(3)]
    await asyncio.gather(*(d.send(server.url, 2) for d in daemons))  # into redis mode
    await asyncio.sleep(REDIS_HOLD_S)  # past the change-over's split share
    server.arrivals.clear()
    started = time.monotonic()
    await asyncio.gather(*(d.send(server.url, 20) for d in daemons))
    elapsed = time.monotonic() - started
    assert all(d.cluster.mode == "redis" for d in daemons)
    assert peak_in_any_second(server.arrivals) <= RATE_PER_S
    # 60 sends at 10 per 1.05 s: 5.3 s at the limit; a daemon-sized share alone would take 17 s.
    assert elapsed < 2 * 60 / RATE_PER_S, f"{60 / elapsed:.1f} req/s of {RATE_PER_S}"
    for d in daemons:
        await d.close()


async def test_two_daemons_without_redis_split_the_rate(
    server: ScriptedServer, session: aiohttp.ClientSession
) -> None:
    daemons = [Daemon(session, redis_url=None, live=lambda: 2) for _ in range(2)]
    await asyncio.gather(*(d.send(server.url, 15) for d in daemons))
    assert all(d.cluster.mode == "split" for d in daemons)
    assert peak_in_any_second(server.arrivals) <= RATE_PER_S


async def test_redis_lost_mid_run_falls_back_to_shares_and_returns_without_overflow(
    redis_server: RedisServer,
    redis_url: str,
    server: ScriptedServer,
    session: aiohttp.ClientSession,
) -> None:
    daemons = [Daemon(session, redis_url=redis_url, live=lambda: 2) for _ in range(2)]
    await asyncio.gather(*(d.send(server.url, 2) for d in daemons))
    await asyncio.sleep(REDIS_HOLD_S)
    sending = asyncio.gather(*(d.send(server.url, 40) for d in daemons))
    await asyncio.sleep(1.5)
    await asyncio.to_thread(redis_server.kill)  # not in the loop: arrivals would bunch up
    await eventually(lambda: all(d.cluster.mode == "split" for d in daemons), timeout_s=5,
                     what="both daemons on split shares")  # fmt: skip
    await asyncio.sleep(1.5)
    await asyncio.to_thread(redis_server.start)
    await eventually(lambda: all(d.cluster.mode == "redis" for d in daemons), timeout_s=10,
                     what="both daemons back on Redis")  # fmt: skip
    await sending
    assert peak_in_any_second(server.arrivals) <= RATE_PER_S
    for d in daemons:
        await d.close()


@contextlib.asynccontextmanager
async def busy_beside_quiet(
    redis_url: str, server: ScriptedServer, session: aiohttp.ClientSession, *, backlog: int
) -> AsyncIterator[Daemon]:
    """Two daemons on Redis: a busy one sending ``backlog`` background requests (about a tenth
    of a second each), and the quiet one, yielded. On leaving, the backlog is waited for and
    no second may have held more than the rate."""
    busy, quiet = (Daemon(session, redis_url=redis_url, live=lambda: 2) for _ in range(2))
    await asyncio.gather(busy.send(server.url, 1), quiet.send(server.url, 1))
    await asyncio.sleep(REDIS_HOLD_S)
    sending = asyncio.ensure_future(busy.send(server.url, backlog))
    try:
        yield quiet
        await sending
        assert peak_in_any_second(server.arrivals) <= RATE_PER_S
    finally:
        sending.cancel()  # done already, unless the test failed
        with contextlib.suppress(asyncio.CancelledError):
            await sending
        await busy.close()
        await quiet.close()


async def test_a_person_goes_before_another_daemons_background_work(
    redis_url: str, server: ScriptedServer, session: aiohttp.ClientSession
) -> None:
    async with busy_beside_quiet(redis_url, server, session, backlog=40) as quiet:
        await asyncio.sleep(1.0)
        started = time.monotonic()
        with interactive():
            (answered,) = await quiet.send(server.url, 1)
    # Without priority it would queue behind ~30 background sends: about 3 s.
    assert answered - started < 0.6, answered - started


async def test_an_answer_keeps_a_place_free_on_every_daemon(
    redis_url: str, server: ScriptedServer, session: aiohttp.ClientSession
) -> None:
    async with busy_beside_quiet(redis_url, server, session, backlog=50) as quiet:
        await asyncio.sleep(1.5)  # the window is full of the busy daemon's sends
        with answering():
            await quiet.send(server.url, 1)  # the first answer: the busy daemon leaves a place
        await asyncio.sleep(1.5)
        started = time.monotonic()
        with answering():
            (answered,) = await quiet.send(server.url, 1)
    # A place was kept free on the other daemon: no wait for a send to leave the window.
    assert answered - started < 0.05, answered - started


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    async with open_database(DatabaseSettings(url=SecretStr(database_url))) as opened:
        yield opened


async def test_a_daemon_that_dies_silently_gives_its_share_up_within_20_s(
    database: Database, server: ScriptedServer, session: aiohttp.ClientSession
) -> None:
    # Another host's daemon (its pid cannot be checked from here): only its beats tell.
    alive = Presence(database, "other-host:1:alive")
    doomed = Presence(database, "other-host:2:doomed")
    await alive.start()
    await doomed.start()
    await alive.beat()
    survivor = Daemon(session, redis_url=None, live=lambda: alive.live)
    assert survivor.cluster.local_rate() == RATE_PER_S / 2
    assert doomed._beating is not None
    doomed._beating.cancel()  # kill -9: no more beats, no stop recorded
    died_s = time.monotonic()
    await eventually(lambda: survivor.cluster.local_rate() == RATE_PER_S, timeout_s=25,
                     what="the survivor on the whole rate")  # fmt: skip
    assert time.monotonic() - died_s <= 20 and LIVE_WITHIN_S < 20
    await alive.close()
