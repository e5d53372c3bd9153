"""Show refresh: Ticketmaster requests for complete-catalog-sync's show sync of 2,000 artists.

The simulator's first 2,000 artists are seeded straight into Postgres with their Spotify,
Ticketmaster and MusicBrainz ids, as imports leave them (``bench.common.seed_artists``); then
complete-catalog-sync runs through the job runner (``delay_s = 0``, no cleanup, no integrity
checks) twice: a first show sync with no show stored (every artist counts one expected event
when the groups are made), and a repeat with the shows stored (groups sized by them), the
steady state of the weekly run. The Ticketmaster requests of each run are read from the
simulator's ``/_sim/stats``; the stored shows are checked against its ground truth.

Target: at most 0.1 requests an artist, i.e. 1,000 for 10,000 artists (on main the show sync
asked by keyword and by attraction for each artist: 20,029 requests for 10,000). 2,000 artists
rather than 10,000 keep the run within the bench budget: the requests per artist do not depend
on the catalog's size (the groups are made per page of 100 artists). Beside them, the import's
way (``refresh.refresh_shows``: a keyword and an attraction query) over 200 of the artists.

Rates are raised as in ``bench.catalog_sync`` (its simulator, its rates and quotas), so the run
measures requests, not the limiters.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import aiohttp
import asyncpg
from prometheus_client import CollectorRegistry

from bench.catalog_sync import raised_settings, raised_simulator
from bench.common import (
    Row,
    seed_artists,
    throwaway_postgres,
)
from theset_daemon import refresh
from theset_daemon.cache import open_cache
from theset_daemon.db.pool import open_database
from theset_daemon.jobs.runner import JobRunner
from theset_daemon.upstream.clients import Upstreams, open_clients

ARTISTS = 2_000
PER_ARTIST_SAMPLE = 200
BENCH = "shows"
TARGET_PER_ARTIST = "<= 0.1 (1,000 for 10,000 artists)"
SHOW_SYNC = {"maxArtists": ARTISTS, "includeDataCleanup": False, "performIntegrityChecks": False}


async def _sim_get(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as response:
        response.raise_for_status()
        return await response.json()


async def _sim_catalog(session: aiohttp.ClientSession, sim_url: str) -> list[dict[str, Any]]:
    artists: list[dict[str, Any]] = []
    while len(artists) < ARTISTS:
        url = f"{sim_url}/_sim/catalog?offset={len(artists)}&limit=1000"
        page = (await _sim_get(session, url))["artists"]
        if not page:
            break
        artists.extend(page)
    return artists[:ARTISTS]


async def _ticketmaster_requests(session: aiohttp.ClientSession, sim_url: str) -> int:
    stats = await _sim_get(session, f"{sim_url}/_sim/stats")
    return int(stats["providers"]["ticketmaster"]["requests"])


async def run() -> list[Row]:
    with throwaway_postgres() as dsn:
        async with raised_simulator(ARTISTS) as sim_url, aiohttp.ClientSession() as session:
            catalog = await _sim_catalog(session, sim_url)
            holder = raised_settings(sim_url, dsn)
            registry = CollectorRegistry()
            async with (
                open_database(holder.current.database) as database,
                open_cache(holder, registry) as cache,
                open_clients(holder, registry) as upstreams,
            ):
                await seed_artists(database.pool, catalog)
                truth = sum(a["counts"]["upcoming_shows"] for a in catalog)
                runner = JobRunner(database, upstreams, cache, holder)
                await runner.start()
                try:
                    rows = []
                    for label in ("first show sync", "repeat show sync"):
                        rows += await _show_sync(runner, session, sim_url, database.pool, label)
                    rows.append(
                        Row(BENCH, "shows stored / simulator's upcoming shows",
                            await _stored(database.pool) / truth, "ratio", "1.000")
                    )  # fmt: skip
                finally:
                    await runner.close()
                rows.append(await _per_artist(upstreams, database.pool, session, sim_url))
                return rows


async def _stored(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM shows WHERE ticketmaster_id IS NOT NULL"))


async def _show_sync(
    runner: JobRunner,
    session: aiohttp.ClientSession,
    sim_url: str,
    pool: asyncpg.Pool,
    label: str,
) -> list[Row]:
    before = await _ticketmaster_requests(session, sim_url)
    started = time.perf_counter()
    result = await runner.run("complete-catalog-sync", SHOW_SYNC)
    elapsed_s = time.perf_counter() - started
    sent = await _ticketmaster_requests(session, sim_url) - before
    synced = await pool.fetchval("SELECT count(*) FROM artists WHERE shows_synced_at IS NOT NULL")
    phases = {p["name"]: p["durationMs"] / 1000 for p in result["summary"].get("phases", [])}
    print(f"# {BENCH}: {label}: status {result['status']}, {elapsed_s:.1f} s", file=sys.stderr)
    return [
        Row(BENCH, f"{label}: ticketmaster requests, {ARTISTS:,} artists", sent, "requests"),
        Row(BENCH, f"{label}: ticketmaster requests per artist", sent / ARTISTS, "requests",
            TARGET_PER_ARTIST),
        Row(BENCH, f"{label}: artists show-synced", synced, "artists", f"{ARTISTS:,}"),
        Row(BENCH, f"{label}: show-sync phase", phases.get("show-sync", 0.0), "s"),
        Row(BENCH, f"{label}: run failed items", len(result.get("errors", [])), "items", "0"),
    ]  # fmt: skip


async def _per_artist(
    up: Upstreams, pool: asyncpg.Pool, session: aiohttp.ClientSession, sim_url: str
) -> Row:
    """The import's way (a keyword and an attraction query an artist) over a sample."""
    artists = await pool.fetch(
        "SELECT id, name FROM artists WHERE spotify_id IS NOT NULL ORDER BY id LIMIT $1",
        PER_ARTIST_SAMPLE,
    )
    before = await _ticketmaster_requests(session, sim_url)
    for artist in artists:
        await refresh.refresh_shows(up, pool, artist["id"], artist["name"])
    sent = await _ticketmaster_requests(session, sim_url) - before
    return Row(
        BENCH,
        f"per-artist refresh (keyword + attraction), {len(artists)} artists: requests per artist",
        sent / len(artists),
        "requests",
    )


if __name__ == "__main__":
    from bench.report import run_alone

    run_alone(run)
