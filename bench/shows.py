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

import aiohttp
import asyncpg

from bench.catalog_sync import raised_daemon
from bench.common import Row, sim_json
from theset_daemon import refresh
from theset_daemon.jobs.runner import JobRunner
from theset_daemon.upstream.clients import Upstreams

ARTISTS = 2_000
PER_ARTIST_SAMPLE = 200
BENCH = "shows"
TARGET_PER_ARTIST = "<= 0.1 (1,000 for 10,000 artists)"
SHOW_SYNC = {"maxArtists": ARTISTS, "includeDataCleanup": False, "performIntegrityChecks": False}


async def _ticketmaster_requests(session: aiohttp.ClientSession, sim_url: str) -> int:
    stats = await sim_json(session, "GET", f"{sim_url}/_sim/stats")
    return int(stats["providers"]["ticketmaster"]["requests"])


async def run() -> list[Row]:
    async with raised_daemon(ARTISTS) as daemon:
        pool = daemon.database.pool
        truth = sum(a["counts"]["upcoming_shows"] for a in daemon.catalog)
        rows = []
        for label in ("first show sync", "repeat show sync"):
            rows += await _show_sync(daemon.runner, daemon.session, daemon.sim_url, pool, label)
        rows.append(
            Row(BENCH, "shows stored / simulator's upcoming shows", await _stored(pool) / truth,
                "ratio", "1.000")
        )  # fmt: skip
        rows.append(await _per_artist(daemon.upstreams, pool, daemon.session, daemon.sim_url))
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
