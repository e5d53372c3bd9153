"""What the benchmarks share: a throwaway Postgres, a simulator in its own process, daemon
settings aimed at it, the simulator's artists seeded as imports leave them, latency percentiles,
the result row."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import statistics
import sys
import tempfile
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from theset_daemon import config
from theset_daemon.config import SettingsHolder
from theset_daemon.sim import SIM_CREDENTIALS


@dataclass(frozen=True, slots=True)
class Row:
    bench: str
    metric: str
    value: float
    unit: str
    target: str = ""
    note: str = ""  # why a target is missed or what bounds the figure; printed in BENCHMARKS.md

    def value_text(self) -> str:
        return f"{self.value:.3f}" if abs(self.value) < 10 else f"{self.value:,.0f}"


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A fresh pgserver Postgres in a temporary directory; yields its admin DSN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    with tempfile.TemporaryDirectory(prefix="theset-bench-") as tmp:
        server = pgserver.get_server(Path(tmp) / "pg", cleanup_mode="delete")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()


async def until_ready(
    base_url: str, process: asyncio.subprocess.Process, timeout_s: float = 90
) -> None:
    """Return once a daemon process answers ``/readyz`` with 200; raise if it exits first."""
    async with aiohttp.ClientSession() as session, asyncio.timeout(timeout_s):
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{base_url}/readyz") as response:
                    if response.status == 200:
                        return
            if process.returncode is not None:
                raise RuntimeError(f"the daemon exited with {process.returncode}")
            await asyncio.sleep(0.2)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def median(samples: list[float]) -> float:
    return statistics.median(samples)


@contextlib.asynccontextmanager
async def simulator_process(
    module_args: Callable[[int], list[str]], timeout_s: float = 30
) -> AsyncIterator[str]:
    """A simulator in its own process (an in-process one would spend the measured event loop
    building answers); ``module_args(port)`` is what follows ``python -m``. Yields its URL once
    it has logged ``simulator_started``."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", *module_args(port), stderr=asyncio.subprocess.PIPE
    )
    try:
        assert process.stderr is not None
        async with asyncio.timeout(timeout_s):
            while b"simulator_started" not in await process.stderr.readline():
                pass
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        await process.wait()


def cli_simulator(
    artists: int, latency_ms: float, *, daily_quota: int | None = None
) -> contextlib.AbstractAsyncContextManager[str]:
    """``theset-daemon simulate`` in its own process, at its default limits (the contract's), or
    with ``daily_quota`` for both Ticketmaster and setlist.fm."""
    quota = [] if daily_quota is None else [
        "--ticketmaster-daily-quota", str(daily_quota), "--setlistfm-daily-quota", str(daily_quota)
    ]  # fmt: skip
    return simulator_process(
        lambda port: [
            "theset_daemon.cli", "simulate", "--port", str(port), "--seed", "1",
            "--artists", str(artists), "--latency-ms", str(latency_ms), *quota,
        ]
    )  # fmt: skip


async def sim_json(session: aiohttp.ClientSession, method: str, url: str, body: Any = None) -> Any:
    """One call to a simulator route (``/_sim/...``), its JSON answer; an error status raises."""
    async with session.request(method, url, json=body) as response:
        response.raise_for_status()
        return await response.json()


async def sim_catalog(
    session: aiohttp.ClientSession, sim_url: str, count: int
) -> list[dict[str, Any]]:
    """The simulator's first ``count`` artists (``/_sim/catalog``, a thousand a page)."""
    artists: list[dict[str, Any]] = []
    while len(artists) < count:
        url = f"{sim_url}/_sim/catalog?offset={len(artists)}&limit=1000"
        page = (await sim_json(session, "GET", url))["artists"]
        if not page:
            break
        artists.extend(page)
    return artists[:count]


async def seed_artists(pool: asyncpg.Pool, catalog: list[dict[str, Any]]) -> None:
    """The simulator's artists (``/_sim/catalog`` entries) as imports leave them: ids on every
    provider and the release count, nothing synced yet (no song is stored: a sync that read
    every release of every artist would measure discographies, not what the bench is for)."""
    await pool.execute(
        """INSERT INTO artists (name, slug, spotify_id, ticketmaster_id, mbid, total_albums)
           SELECT name, 'bench-' || spotify_id, spotify_id, tm_id, mbid, albums
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[])
                AS x (name, spotify_id, tm_id, mbid, albums)""",
        [a["name"] for a in catalog],
        [a["spotifyId"] for a in catalog],
        [a["ticketmasterId"] for a in catalog],
        [a["mbid"] for a in catalog],
        [a.get("counts", {}).get("albums", 0) for a in catalog],  # 0 where a bench made its own
    )


def pointed_at_simulator(
    sim_url: str,
    rates_per_s: dict[str, float],
    *,
    spotify_mode: str = "extended",
    daily_quota: int | dict[str, int] | None = None,
    extra: str = "",
    env: dict[str, str] | None = None,
) -> SettingsHolder:
    """Daemon settings in ``live`` mode aimed at a simulator, as an operator would write them;
    ``daily_quota`` (Ticketmaster and setlist.fm, one figure for both or one each) when the
    simulator's was changed too."""
    c = SIM_CREDENTIALS
    setlistfm_rate = rates_per_s.get("setlistfm", 2.0)
    quotas = (
        daily_quota
        if isinstance(daily_quota, dict)
        else dict.fromkeys(("ticketmaster", "setlistfm"), daily_quota)
    )

    def quota_of(provider: str) -> str:
        figure = quotas.get(provider)
        return "" if figure is None else f"daily_quota = {figure}"

    text = f"""
[log]
level = "error"
[upstream]
mode = "live"
[upstream.spotify]
api_base_url = "{sim_url}/v1"
accounts_base_url = "{sim_url}"
api_mode = "{spotify_mode}"
client_id = "{c.spotify_client_id}"
client_secret = "{c.spotify_client_secret}"
max_rate_per_s = {rates_per_s["spotify"]}
[upstream.ticketmaster]
base_url = "{sim_url}/discovery/v2"
api_key = "{c.ticketmaster_api_key}"
max_rate_per_s = {rates_per_s["ticketmaster"]}
{quota_of("ticketmaster")}
[upstream.setlistfm]
base_url = "{sim_url}/rest/1.0"
api_key = "{c.setlistfm_api_key}"
max_rate_per_s = {setlistfm_rate}
{quota_of("setlistfm")}
{extra}
"""
    return SettingsHolder(config.parse(text, env or {}), Path("-"))
