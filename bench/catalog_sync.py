"""complete-catalog-sync over 10,000 artists: the daemon's memory stays flat.

The catalog is seeded straight into Postgres (one bulk INSERT of the simulator's 10,000 artists
with their Spotify, Ticketmaster and MusicBrainz ids, as imports would have left them), then one
run goes through the job runner with ``maxArtists = 10000``, ``delay_s = 0``: artist refresh,
shows and past setlists, cleanup, integrity checks. The RSS of this process is sampled every
100 ms; the figure is the peak during the run minus the RSS just before it.
Target: growth under 50 MB.

**Rates raised for the bench.** At the contract's default rates (Spotify 10/s, Ticketmaster 5/s,
setlist.fm 2/s, with daily quotas of 5,000 and 1,440 calls) the 10,000 artists' ~30,000 calls
would take hours and overrun the quotas, which measures the limiters, not the memory. So the
simulator (its own process, so its catalog is not charged to the daemon) and the daemon's
``max_rate_per_s`` are both set to :data:`RATES`, and both quotas to :data:`DAILY_QUOTA`; the
output says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import psutil
from prometheus_client import CollectorRegistry

from bench.common import (
    Row,
    pointed_at_simulator,
    seed_artists,
    sim_catalog,
    sim_json,
    simulator_process,
    throwaway_postgres,
)
from theset_daemon.cache import open_cache
from theset_daemon.config import SettingsHolder, SimulatorSettings
from theset_daemon.db.pool import Database, open_database
from theset_daemon.jobs.runner import JobRunner
from theset_daemon.sim import SimLimits
from theset_daemon.upstream.clients import Upstreams, open_clients

ARTISTS = 10_000
RATES = {"spotify": 200.0, "ticketmaster": 400.0, "setlistfm": 400.0}
DAILY_QUOTA = 10_000_000
BATCH_SIZE = 50
RSS_TARGET_BYTES = 50 * 1024 * 1024
SAMPLE_INTERVAL_S = 0.1
BENCH = "catalog_sync"


def _limits() -> SimLimits:
    return SimLimits(
        spotify_per_s=RATES["spotify"],
        ticketmaster_per_s=RATES["ticketmaster"],
        setlistfm_per_s=RATES["setlistfm"],
        ticketmaster_daily_quota=DAILY_QUOTA,
        setlistfm_daily_quota=DAILY_QUOTA,
    )


def serve_simulator(port: int, artists: int) -> int:
    """The simulator with the bench's raised limits (run in a child process)."""
    from theset_daemon import log
    from theset_daemon.config import LogSettings
    from theset_daemon.sim.serve import run_simulator

    log.configure(LogSettings(level="info"))
    return run_simulator(
        SimulatorSettings(seed=1, artists=artists, latency_ms=0), _limits(), port=port
    )


def raised_simulator(artists: int) -> contextlib.AbstractAsyncContextManager[str]:
    """The simulator with raised limits (:func:`serve_simulator`) in its own process (the shows
    bench uses it too)."""
    return simulator_process(
        lambda port: ["bench.catalog_sync", "--simulator", str(port), str(artists)], timeout_s=60
    )


def raised_settings(sim_url: str, dsn: str) -> SettingsHolder:
    extra = f"""
[database]
pool_max_size = 10
[jobs.complete-catalog-sync]
delay_s = 0
batch_size = {BATCH_SIZE}
"""
    return pointed_at_simulator(
        sim_url, RATES, daily_quota=DAILY_QUOTA, extra=extra, env={"DATABASE_URL": dsn}
    )


@dataclass(frozen=True, slots=True)
class RaisedDaemon:
    """What the benches over a large catalog work with (:func:`raised_daemon`)."""

    sim_url: str
    session: aiohttp.ClientSession
    catalog: list[dict[str, Any]]
    database: Database
    upstreams: Upstreams
    runner: JobRunner


@contextlib.asynccontextmanager
async def raised_daemon(artists: int) -> AsyncIterator[RaisedDaemon]:
    """A throwaway Postgres holding the simulator's first ``artists`` as imports leave them
    (``bench.common.seed_artists``), the simulator with raised limits in its own process, and the
    daemon's database, cache, clients and a started job runner at those limits (the catalog
    sync, show and setlist benches)."""
    with throwaway_postgres() as dsn:  # a fresh server: its own database is empty
        async with raised_simulator(artists) as sim_url, aiohttp.ClientSession() as session:
            catalog = await sim_catalog(session, sim_url, artists)
            holder = raised_settings(sim_url, dsn)
            registry = CollectorRegistry()
            async with (
                open_database(holder.current.database) as database,
                open_cache(holder, registry) as cache,
                open_clients(holder, registry) as upstreams,
            ):
                await seed_artists(database.pool, catalog)
                runner = JobRunner(database, upstreams, cache, holder)
                await runner.start()
                try:
                    yield RaisedDaemon(sim_url, session, catalog, database, upstreams, runner)
                finally:
                    await runner.close()


async def run() -> list[Row]:
    async with raised_daemon(ARTISTS) as daemon:
        daemon.catalog.clear()  # the run's RSS, not the bench's copy of the catalog
        return await _measure(daemon.runner, daemon.session, daemon.sim_url, daemon.database.pool)


async def _measure(
    runner: JobRunner, session: aiohttp.ClientSession, sim_url: str, pool: asyncpg.Pool
) -> list[Row]:
    process = psutil.Process()
    gc.collect()
    baseline = process.memory_info().rss
    peak = baseline
    stop = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, process.memory_info().rss)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SAMPLE_INTERVAL_S)

    sampler = asyncio.create_task(sample())
    started = time.perf_counter()
    try:
        result = await runner.run("complete-catalog-sync", {"maxArtists": ARTISTS})
    finally:
        stop.set()
        await sampler
    elapsed_s = time.perf_counter() - started
    peak = max(peak, process.memory_info().rss)
    stats = (await sim_json(session, "GET", f"{sim_url}/_sim/stats"))["providers"]
    synced = await pool.fetchval("SELECT count(*) FROM artists WHERE shows_synced_at IS NOT NULL")
    setlists = await pool.fetchval("SELECT count(*) FROM setlists WHERE type = 'actual'")
    growth = peak - baseline
    phases = {p["name"]: p["durationMs"] / 1000 for p in result["summary"].get("phases", [])}
    rates = ", ".join(f"{k} {v:g}/s" for k, v in RATES.items())
    print(
        f"# {BENCH}: status {result['status']}; rates raised for the bench ({rates}; "
        f"simulator and daemon alike; quotas {DAILY_QUOTA:,}/day), delay_s = 0, "
        f"batch_size = {BATCH_SIZE}",
        file=sys.stderr,
    )
    rows = [
        Row(BENCH, "RSS growth (peak during run - before)", growth / 2**20, "MB", "< 50"),
        Row(BENCH, "RSS before the run", baseline / 2**20, "MB"),
        Row(BENCH, "run time", elapsed_s, "s"),
        Row(BENCH, "artists synced (shows + setlists)", synced, "artists", f"{ARTISTS:,}"),
        Row(BENCH, "actual setlists stored", setlists, "setlists"),
        Row(BENCH, "run failed items", len(result.get("errors", [])), "items", "0"),
    ]
    rows += [Row(BENCH, f"phase {name}", seconds, "s") for name, seconds in phases.items()]
    rows += [
        Row(BENCH, f"{provider} requests", figures["requests"], "requests")
        for provider, figures in stats.items()
    ]
    if growth >= RSS_TARGET_BYTES:
        print(f"# {BENCH}: RSS growth over target", file=sys.stderr)
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--simulator":
        sys.exit(serve_simulator(int(sys.argv[2]), int(sys.argv[3])))
    from bench.report import run_alone

    run_alone(run)
