"""Foundation figures: migrations from empty, and the cost of the middleware stack.

``/healthz`` through the full application (request id, error envelope, body limit, auth lookup,
CORS hook) is measured side by side with a bare aiohttp handler returning the same JSON, in the
same run, so the ratio is the price of our plumbing.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import aiohttp
import asyncpg
from aiohttp import web

from bench.common import Row, median, percentile, throwaway_postgres
from theset_daemon import config
from theset_daemon.app import build_app
from theset_daemon.config import SettingsHolder
from theset_daemon.db.migrate import discover, migrate

MIGRATE_RUNS = 5
REQUESTS = 3000
CONCURRENCY = 16


async def _migrate_ms(admin_dsn: str) -> list[float]:
    timings = []
    for _ in range(MIGRATE_RUNS):
        name = f"bench_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(admin_dsn)
        await admin.execute(f'CREATE DATABASE "{name}"')
        conn = await asyncpg.connect(admin_dsn.replace("/postgres?", f"/{name}?"))
        started = time.perf_counter()
        await migrate(conn, discover())
        timings.append((time.perf_counter() - started) * 1000)
        await conn.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()
    return timings


async def _load(url: str) -> tuple[float, list[float]]:
    latencies: list[float] = []
    async with aiohttp.ClientSession() as session:

        async def worker(count: int) -> None:
            for _ in range(count):
                started = time.perf_counter()
                async with session.get(url) as response:
                    await response.read()
                    assert response.status == 200
                latencies.append((time.perf_counter() - started) * 1000)

        for _ in range(200):  # warm-up
            async with session.get(url) as response:
                await response.read()
        started = time.perf_counter()
        await asyncio.gather(*(worker(REQUESTS // CONCURRENCY) for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


async def run() -> list[Row]:
    with throwaway_postgres() as admin_dsn:
        migrate_ms = await _migrate_ms(admin_dsn)
        settings = config.parse('[log]\nlevel = "error"', {"DATABASE_URL": admin_dsn})
        full_runner, full_url = await _serve(build_app(SettingsHolder(settings, Path("-"))))

        async def bare_healthz(_request: web.Request) -> web.Response:
            return web.json_response({"status": "ok"})

        bare = web.Application()
        bare.router.add_get("/healthz", bare_healthz)
        bare_runner, bare_url = await _serve(bare)
        try:
            # Interleaved, so drift in machine load hits both sides alike.
            full_rps, full_lat, bare_rps, bare_lat = [], [], [], []
            for _ in range(3):
                rps, lat = await _load(full_url + "/healthz")
                full_rps.append(rps)
                full_lat += lat
                rps, lat = await _load(bare_url + "/healthz")
                bare_rps.append(rps)
                bare_lat += lat
        finally:
            await full_runner.cleanup()
            await bare_runner.cleanup()

    name = "foundation"
    return [
        Row(name, "migrate from empty (median)", median(migrate_ms), "ms"),
        Row(name, "/healthz full stack", median(full_rps), "req/s"),
        Row(name, "/healthz bare aiohttp", median(bare_rps), "req/s"),
        Row(name, "full / bare throughput", median(full_rps) / median(bare_rps), "ratio"),
        Row(name, "/healthz full stack p99", percentile(full_lat, 99), "ms"),
        Row(name, "/healthz bare p99", percentile(bare_lat, 99), "ms"),
    ]
