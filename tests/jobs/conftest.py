"""Shared fixtures of the job tests: real Postgres, cache and (simulated) upstreams, a runner
factory, and test job functions that do real work against the real database.

The test jobs take the four contract names (``cron_logs`` only accepts those) with functions of
their own, passed to the runner as its job table; nothing of the database layer is faked.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from tests.jobs.sync_support import SyncEnv, sync_env
from tests.plugins.simulator import UNTHROTTLED_CONFIG
from theset_daemon import config
from theset_daemon.app import open_upstreams
from theset_daemon.cache import Cache, open_cache
from theset_daemon.config import SettingsHolder
from theset_daemon.db.pool import Database, open_database
from theset_daemon.durable import new_owner_id
from theset_daemon.jobs.context import (
    CalculateTrendingParams,
    CompleteCatalogSyncParams,
    JobContext,
    JobFunction,
    JobName,
    JobResult,
    TrendingArtistSyncParams,
    UpdateActiveArtistsParams,
)
from theset_daemon.jobs.registry import JobSpec
from theset_daemon.jobs.runner import JobRunner
from theset_daemon.jobs.summaries import Summary
from theset_daemon.lifetime import started
from theset_daemon.presence import Presence
from theset_daemon.upstream.clients import Shared, Upstreams


class ProbeSummary(Summary):
    written: int = 0


CONFIG = f"""
[log]
level = "warning"
[shutdown]
grace_seconds = 4
[upstream.simulator]
artists = 5
latency_ms = 0
{UNTHROTTLED_CONFIG}"""

PROBE_TABLE = """CREATE TABLE IF NOT EXISTS job_probe (
    run_id uuid NOT NULL, item integer NOT NULL, PRIMARY KEY (run_id, item))"""


@pytest.fixture(autouse=True)
def _unthrottled(unthrottled_simulator: None) -> None:
    """No job test measures rates: every simulator here admits any rate."""


@pytest.fixture
async def env(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[SyncEnv]:
    """The sync jobs' environment (``sync_support``) over this test's database, with the test
    module's ``SIM_ARTISTS`` artists in the simulator (12 unless it says)."""
    artists = getattr(request.module, "SIM_ARTISTS", 12)
    async with sync_env(database_url, artists=artists) as environment:
        yield environment


def settings_for(database_url: str, extra: str = "") -> config.Settings:
    return config.parse(CONFIG + extra, {"DATABASE_URL": database_url})


@dataclass(slots=True)
class Resources:
    holder: SettingsHolder
    database: Database
    cache: Cache
    upstreams: Upstreams


@pytest.fixture
async def resources(database_url: str) -> AsyncIterator[Resources]:
    holder = SettingsHolder(settings_for(database_url), Path("unused.toml"))
    registry = CollectorRegistry()
    async with (
        open_database(holder.current.database) as database,
        open_cache(holder, registry) as cache,
        # On the key's shared budget, as the daemon runs them (``app.upstreams_ctx``): every
        # request reserves its unit in the durable daily ledger.
        started(Presence(database, new_owner_id())) as presence,
        open_upstreams(holder, registry, shared=Shared(database, presence)) as upstreams,
    ):
        await database.pool.execute(PROBE_TABLE)
        yield Resources(holder, database, cache, upstreams)


# --- test jobs -------------------------------------------------------------------------------


@dataclass(slots=True)
class Knobs:
    """Steers the probe job from a test: how many items, how slow, which fail, a gate."""

    items: int = 5
    item_delay_s: float = 0.0
    fail_items: frozenset[int] = frozenset()
    raise_error: str = ""
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    started: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.gate.set()


def probe_job(knobs: Knobs) -> JobFunction:
    """A job that writes one ``job_probe`` row per item and checkpoints after each; it stops
    between items once ``ctx.stopping`` is set, and resumes from its checkpoint."""

    async def run(ctx: JobContext) -> JobResult:
        knobs.started.set()
        start = int(ctx.checkpoint.get("next", 0))
        failed = int(ctx.checkpoint.get("failed", 0))
        for item in range(start, knobs.items):
            if ctx.stopping.is_set():
                break
            await knobs.gate.wait()
            await ctx.database.pool.execute(
                "INSERT INTO job_probe (run_id, item) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                ctx.run_id,
                item,
            )
            if item in knobs.fail_items:
                failed += 1
                ctx.reporter.item_failed(f"artist-{item}", f"item {item} failed on purpose")
            await ctx.reporter.progress(item + 1, knobs.items, {"written": item + 1})
            await ctx.reporter.checkpoint({"next": item + 1, "failed": failed})
            if knobs.item_delay_s:
                await asyncio.sleep(knobs.item_delay_s)
        if knobs.raise_error:
            raise RuntimeError(knobs.raise_error)
        written = await ctx.database.pool.fetchval(
            "SELECT count(*) FROM job_probe WHERE run_id = $1", ctx.run_id
        )
        summary = ProbeSummary(written=written)
        return JobResult(summary=summary, items_total=knobs.items, items_failed=failed)

    return run


@pytest.fixture
def knobs() -> Knobs:
    return Knobs()


def job_table(run: JobFunction) -> dict[JobName, JobSpec]:
    return {
        "update-active-artists": JobSpec("update-active-artists", UpdateActiveArtistsParams, run),
        "trending-artist-sync": JobSpec("trending-artist-sync", TrendingArtistSyncParams, run),
        "complete-catalog-sync": JobSpec("complete-catalog-sync", CompleteCatalogSyncParams, run),
        "calculate-trending": JobSpec("calculate-trending", CalculateTrendingParams, run),
    }


RunnerFactory = Callable[..., Awaitable[JobRunner]]


@pytest.fixture
async def make_runner(resources: Resources, knobs: Knobs) -> AsyncIterator[RunnerFactory]:
    """Started runners over the shared resources (each its own holder id); closed afterwards."""
    started: list[JobRunner] = []

    async def make(**kwargs: Any) -> JobRunner:
        kwargs.setdefault("jobs", job_table(probe_job(knobs)))
        runner = JobRunner(
            resources.database, resources.upstreams, resources.cache, resources.holder, **kwargs
        )
        await runner.start()
        started.append(runner)
        return runner

    yield make
    for runner in started:
        with contextlib.suppress(Exception):
            await runner.close()


async def fetch_run(pool: asyncpg.Pool, run_id: Any) -> asyncpg.Record:
    row = await pool.fetchrow("SELECT * FROM cron_logs WHERE id = $1", run_id)
    assert row is not None
    return row
