"""The daily quota ledger against a real Postgres and a scripted provider: the class shares, the
reserve, the provider's own count and quota answers, restarts, and concurrent reservations."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from tests.upstream.conftest import ScriptedServer, json_reply
from theset_daemon.config import (
    BreakerSettings,
    DatabaseSettings,
    RetrySettings,
    TicketmasterSettings,
)
from theset_daemon.db.pool import Database, open_database
from theset_daemon.upstream.breaker import BreakerState
from theset_daemon.upstream.errors import QuotaExhausted, UpstreamServerError, UpstreamUnavailable
from theset_daemon.upstream.http import Provider
from theset_daemon.upstream.metrics import UpstreamMetrics
from theset_daemon.upstream.quota import DailyLedger
from theset_daemon.upstream.request_class import (
    Priority,
    RequestClass,
    answering,
    current,
    interactive,
)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    async with open_database(DatabaseSettings(url=SecretStr(database_url))) as opened:
        yield opened


class Daemon:
    """One daemon's view of the provider "test": its own ledger object on the shared database."""

    def __init__(
        self,
        database: Database,
        session: aiohttp.ClientSession,
        settings: Callable[[], TicketmasterSettings],
    ) -> None:
        self.registry = CollectorRegistry()
        self.ledger = DailyLedger("test", settings, database)
        self.provider = Provider(
            "test", settings, session, UpstreamMetrics(self.registry), ledger=self.ledger
        )

    async def get(self, url: str) -> Any:
        return (await self.provider.request("GET", url, endpoint="/x")).body

    def gauge(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, {"provider": "test", **labels})


def quota_settings(
    quota: int, *, reserve: float = 0.2, most: float = 0.6, attempts: int = 3
) -> Callable[[], TicketmasterSettings]:
    settings = TicketmasterSettings(
        max_rate_per_s=1000, daily_quota=quota, interactive_reserve=reserve,
        interactive_max=most, retry=RetrySettings(max_attempts=attempts, base_delay_s=0.01),
        breaker=BreakerSettings(failure_threshold=1),
    )  # fmt: skip
    return lambda: settings


async def test_background_stops_at_its_share_and_imports_keep_the_reserve(
    database: Database, server: ScriptedServer, session: aiohttp.ClientSession
) -> None:
    daemon = Daemon(database, session, quota_settings(10, reserve=0.2, most=0.6))
    for _ in range(8):  # background: 10 x (1 - 0.2)
        await daemon.get(server.url)
    with pytest.raises(QuotaExhausted, match="background share of the daily quota"):
        await daemon.get(server.url)
    with interactive():
        await daemon.get(server.url)
        await daemon.get(server.url)
        with pytest.raises(QuotaExhausted, match="daily quota of 10 calls used up") as info:
            await daemon.get(server.url)
    assert len(server.arrivals) == 10  # a refusal sends nothing
    assert 0 < info.value.retry_after_s <= 86_400
    assert daemon.gauge("theset_upstream_quota_used_today", **{"class": "background"}) == 8
    assert daemon.gauge("theset_upstream_quota_used_today", **{"class": "interactive"}) == 2
    assert daemon.gauge("theset_upstream_quota_remaining") == 0
    assert daemon.provider.breaker.state is BreakerState.CLOSED


async def test_imports_stop_at_their_ceiling_and_the_jobs_keep_their_share(
    database: Database, server: ScriptedServer, session: aiohttp.ClientSession
) -> None:
    daemon = Daemon(database, session, quota_settings(10, reserve=0.2, most=0.6))
    with interactive():
        for _ in range(6):
            await daemon.get(server.url)
        with pytest.raises(QuotaExhausted, match="interactive share"):
            await daemon.get(server.url)
    for _ in range(4):  # the jobs still have the rest of the day
        await daemon.get(server.url)
    with pytest.raises(QuotaExhausted, match="daily quota of 10"):
        await daemon.get(server.url)


async def test_the_count_survives_a_restart_and_is_shared_by_every_daemon(
    database: Database, server: ScriptedServer, session: aiohttp.ClientSession
) -> None:
    settings = quota_settings(5, reserve=0, most=1)
    first = Daemon(database, session, settings)
    for _ in range(3):
        await first.get(server.url)
    restarted = Daemon(database, session, settings)  # a new process: nothing in memory
    await restarted.get(server.url)
    other = Daemon(database, session, settings)
    await other.get(server.url)
    with pytest.raises(QuotaExhausted):
        await restarted.get(server.url)
    usage = await other.ledger.today()
    assert usage is not None and (usage.interactive, usage.background) == (0, 5)


async def test_concurrent_reservations_never_pass_the_last_unit(
    database: Database, server: ScriptedServer, session: aiohttp.ClientSession
) -> None:
    settings = quota_settings(7, reserve=0, most=1)
    daemons = [Daemon(database, session, settings) for _ in range(3)]
    outcomes = await asyncio.gather(
        *(d.get(server.url) for d in daemons for _ in range(10)), return_exceptions=True
    )
    refused = [o for o in outcomes if isinstance(o, QuotaExhausted)]
    assert len(refused) == 30 - 7, [o for o in outcomes if isinstance(o, BaseException)]
    assert len(server.arrivals) == 7


async def test_the_providers_own_count_wins(
    database: Database, server: ScriptedServer, session: aiohttp.ClientSession
) -> None:
    server.script.append(json_reply(200, {}, {"Rate-Limit-Available": "2"}))
    daemon = Daemon(database, session, quota_settings(5000, reserve=0))
    await daemon.get(server.url)
    assert daemon.ledger.remaining() == 2
    await daemon.get(server.url)
    await daemon.get(server.url)
    with pytest.raises(QuotaExhausted, match="reports no calls left"):
        await daemon.get(server.url)
    assert len(server.arrivals) == 3


TM_QUOTA = (
    {"fault": {"faultstring": "Rate limit quota violation",
               "detail": {"errorcode": "policies.ratelimit.QuotaViolation"}}},
    {},
)  # fmt: skip
SETLISTFM_QUOTA = ({"message": "Limit Exceeded"}, {"x-amzn-ErrorType": "LimitExceededException"})
SPOTIFY_QUOTA = (
    {"error": {"status": 429, "message": "Too many requests", "reason": "QUOTA_EXCEEDED"}},
    {},
)


@pytest.mark.parametrize(
    ("body", "headers"), [TM_QUOTA, SETLISTFM_QUOTA, SPOTIFY_QUOTA],
    ids=["ticketmaster", "setlistfm", "spotify"],
)  # fmt: skip
async def test_a_providers_quota_answer_is_not_retried_and_spends_the_key_until_its_reset(
    database: Database,
    server: ScriptedServer,
    session: aiohttp.ClientSession,
    body: dict[str, Any],
    headers: dict[str, str],
) -> None:
    reset_ms = str(int((time.time() + 7200) * 1000))
    server.script.append(json_reply(429, body, {**headers, "Rate-Limit-Reset": reset_ms}))
    daemon = Daemon(database, session, quota_settings(5000, attempts=4))
    with pytest.raises(QuotaExhausted, match="provider answered") as info:
        await daemon.get(server.url)
    assert 7000 < info.value.retry_after_s <= 7200
    assert len(server.arrivals) == 1  # not retried
    assert daemon.provider.breaker.state is BreakerState.CLOSED
    other = Daemon(database, session, quota_settings(5000))  # another daemon knows it too
    with pytest.raises(QuotaExhausted, match="provider answered"):
        await other.get(server.url)
    assert len(server.arrivals) == 1


async def test_no_daily_quota_still_counts(
    database: Database, server: ScriptedServer, session: aiohttp.ClientSession
) -> None:
    daemon = Daemon(database, session, quota_settings(0))
    for _ in range(3):
        await daemon.get(server.url)
    with interactive():
        await daemon.get(server.url)
    usage = await daemon.ledger.today()
    assert usage is not None and (usage.interactive, usage.background) == (1, 3)
    assert daemon.ledger.remaining() is None
    assert daemon.gauge("theset_upstream_quota_remaining") == -1


async def test_a_unit_whose_request_never_goes_out_is_given_back(
    database: Database, server: ScriptedServer, session: aiohttp.ClientSession
) -> None:
    daemon = Daemon(database, session, quota_settings(10, reserve=0, attempts=1))
    server.script.append(json_reply(500, {}))
    with pytest.raises(UpstreamServerError):
        await daemon.get(server.url)  # sent and counted; the breaker opens at 1 failure
    with pytest.raises(UpstreamUnavailable):
        await daemon.get(server.url)  # refused by the open breaker: nothing sent
    usage = await daemon.ledger.today()
    assert usage is not None and usage.total == 1 == len(server.arrivals)


def test_priority_defaults_to_background_and_nests() -> None:
    assert current() is Priority.BACKGROUND
    with interactive():
        assert current() is Priority.INTERACTIVE
        assert current().request_class is RequestClass.INTERACTIVE
        with answering():
            assert current().request_class is RequestClass.INTERACTIVE
        assert current() is Priority.INTERACTIVE
    assert current().request_class is RequestClass.BACKGROUND
