"""A compressed day of the refresh plan: 1,000 artists at a tenth of the real daily quotas.

The catalog and the quotas are scaled down together (1,000 artists of the 10,000 the issue names,
Ticketmaster 500 and setlist.fm 144 requests a day, a 20% interactive reserve), at the real rates
for the two quota providers (Ticketmaster 5/s, setlist.fm 2/s). Spotify has no daily quota and is
not what the day measures: its rate is raised (``RATES``) so trending-artist-sync's discographies
take seconds, not minutes.

**The day.** 24 steps of one hour each. Before each step every artist's fetched-at stamps move an
hour into the past (the clock, compressed: the jobs read ages from those stamps), then the jobs
fire as their default schedules would in that hour, as scheduled runs through the job runner:
calculate-trending every hour, update-active-artists at 0, 6, 12 and 18, trending-artist-sync at
2, complete-catalog-sync at 3 (its weekly fire, the day it falls on). So every scheduled run sizes
itself by the plan and the budget, as it would in a real day.

**The catalog's state at dawn** is a steady state, not a first sync: every artist's releases and
shows were refreshed at some time in the last week (spread evenly, as the weekly cycle leaves
them), its setlist history read 4 days ago, its release count stored. 20 artists (2%) are active:
followed and viewed by fans, last refreshed 6 hours ago. In hour 1, 50 artists (5%) play a show
(``newSetlists``: a setlist on setlist.fm, a past event on Ticketmaster).

Figures: each quota provider's requests over its background share for the day (target <= 1: no
overrun) and the simulator's 429s (0); the active tier's oldest shows and releases at the end of
any hour (target <= 6 h); every new setlist stored; and, for information, the artists whose shows
were refreshed.
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

import aiohttp
import asyncpg
from prometheus_client import CollectorRegistry

from bench.common import (
    Row,
    pointed_at_simulator,
    sim_catalog,
    sim_json,
    simulator_process,
    throwaway_postgres,
)
from theset_daemon.cache import open_cache
from theset_daemon.catalog.plan import background_share_per_day
from theset_daemon.config import SimulatorSettings
from theset_daemon.db.pool import open_database
from theset_daemon.durable import new_owner_id
from theset_daemon.jobs.runner import JobRunner
from theset_daemon.lifetime import started
from theset_daemon.presence import Presence
from theset_daemon.sim import SimLimits
from theset_daemon.upstream.clients import Shared, open_clients

BENCH = "plan_day"
ARTISTS = 1_000
SCALE = 10  # of the 10,000 artists and the real quotas
QUOTAS = {"ticketmaster": 5_000 // SCALE, "setlistfm": 1_440 // SCALE}
RESERVE = 0.2
RATES = {"spotify": 100.0, "ticketmaster": 5.0, "setlistfm": 2.0}
ACTIVE = 20
PLAYED = 50
ACTIVE_TARGET_H = 6
SCHEDULE: dict[int, list[str]] = {
    0: ["update-active-artists"],
    2: ["trending-artist-sync"],
    3: ["complete-catalog-sync"],
    6: ["update-active-artists"],
    12: ["update-active-artists"],
    18: ["update-active-artists"],
}
STAMPS = (
    "last_synced_at",
    "shows_synced_at",
    "setlists_synced_at",
    "song_catalog_synced_at",
    "shows_keyword_searched_at",
)


def serve_simulator(port: int) -> int:
    """The simulator with the day's limits (run in a child process)."""
    from theset_daemon import log
    from theset_daemon.config import LogSettings
    from theset_daemon.sim.serve import run_simulator

    log.configure(LogSettings(level="info"))
    limits = SimLimits(
        spotify_per_s=RATES["spotify"],
        ticketmaster_per_s=RATES["ticketmaster"],
        setlistfm_per_s=RATES["setlistfm"],
        ticketmaster_daily_quota=QUOTAS["ticketmaster"],
        setlistfm_daily_quota=QUOTAS["setlistfm"],
    )
    return run_simulator(
        SimulatorSettings(seed=1, artists=ARTISTS, latency_ms=0), limits, port=port
    )


async def _seed(pool: asyncpg.Pool, catalog: list[dict[str, Any]]) -> list[str]:
    """The catalog at dawn (see the module's docstring); the names of those who will play."""
    await pool.execute(
        """INSERT INTO artists (name, slug, spotify_id, ticketmaster_id, mbid, total_albums,
                                last_synced_at, shows_synced_at, setlists_synced_at)
           SELECT name, 'bench-' || spotify_id, spotify_id, tm_id, mbid, albums,
                  now() - n * interval '7 days' / $6, now() - n * interval '7 days' / $6,
                  now() - interval '4 days'
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[])
                WITH ORDINALITY AS x (name, spotify_id, tm_id, mbid, albums, n)""",
        [a["name"] for a in catalog],
        [a["spotifyId"] for a in catalog],
        [a["ticketmasterId"] for a in catalog],
        [a["mbid"] for a in catalog],
        [a["counts"]["albums"] for a in catalog],
        len(catalog),
    )
    # Every 50th artist is active: followed and viewed today, refreshed 6 hours ago.
    await pool.execute(
        """WITH active AS (
               SELECT id FROM artists ORDER BY spotify_id LIMIT $1
           ), stamped AS (
               UPDATE artists a SET last_synced_at = now() - interval '6 hours',
                                    shows_synced_at = now() - interval '6 hours'
               FROM active WHERE a.id = active.id RETURNING a.id
           ), followed AS (
               INSERT INTO user_follows_artists (user_id, artist_id)
               SELECT gen_random_uuid(), id FROM stamped, generate_series(1, 30)
           )
           INSERT INTO page_views (artist_id) SELECT id FROM stamped, generate_series(1, 20)""",
        ACTIVE,
    )
    return [a["name"] for a in catalog[-PLAYED:]]


async def _active_oldest_h(pool: asyncpg.Pool) -> float:
    """The oldest shows or releases among the active artists (a follow or view today), hours."""
    value = await pool.fetchval(
        """SELECT extract(epoch FROM now() - min(least(a.last_synced_at, a.shows_synced_at)))
           FROM artists a
           WHERE a.id IN (SELECT artist_id FROM page_views
                          WHERE viewed_at > now() - interval '1 day')"""
    )
    return float(value or 0) / 3600


async def _day(
    runner: JobRunner, pool: asyncpg.Pool, session: aiohttp.ClientSession, sim_url: str,
    played: list[str], new_setlists: set[str],
) -> tuple[float, int]:  # fmt: skip
    oldest_h = 0.0
    failed = 0
    for hour in range(24):
        if hour:
            assignments = ", ".join(f"{c} = {c} - interval '1 hour'" for c in STAMPS)
            await pool.execute(f"UPDATE artists SET {assignments}")
        if hour == 1:
            for name in played:
                body = {"artistName": name, "newSetlists": 1}
                answer = await sim_json(session, "POST", f"{sim_url}/_sim/catalog", body)
                new_setlists.update(answer["changed"]["setlistIds"])
        for job in ["calculate-trending", *SCHEDULE.get(hour, [])]:
            fired = dt.datetime.now(dt.UTC)
            run = await runner.wait(
                await runner.trigger(job, None, trigger="schedule", scheduled_for=fired)  # type: ignore[arg-type]
            )
            failed += run["status"] == "failed"
            print(f"# {BENCH}: hour {hour} {job}: {run['status']} {run['summary']}",
                  file=sys.stderr)  # fmt: skip
        oldest_h = max(oldest_h, await _active_oldest_h(pool))
    return oldest_h, failed


async def run() -> list[Row]:
    with throwaway_postgres() as dsn:
        async with (
            simulator_process(lambda port: ["bench.plan_day", "--simulator", str(port)]) as sim_url,
            aiohttp.ClientSession() as session,
        ):
            catalog = await sim_catalog(session, sim_url, ARTISTS)
            holder = pointed_at_simulator(
                sim_url, RATES, daily_quota=QUOTAS, env={"DATABASE_URL": dsn},
                extra="[jobs.complete-catalog-sync]\ndelay_s = 0\n[jobs.trending-artist-sync]\n"
                "delay_s = 0\n",
            )  # fmt: skip
            registry = CollectorRegistry()
            async with (
                open_database(holder.current.database) as database,
                open_cache(holder, registry) as cache,
                # On the key's durable daily ledger, as the daemon runs them: the quotas hold.
                started(Presence(database, new_owner_id())) as presence,
                open_clients(holder, registry, shared=Shared(database, presence)) as upstreams,
            ):
                pool = database.pool
                played = await _seed(pool, catalog)
                runner = JobRunner(database, upstreams, cache, holder)
                await runner.start()
                try:
                    new_setlists: set[str] = set()
                    oldest_h, failed = await _day(
                        runner, pool, session, sim_url, played, new_setlists
                    )
                finally:
                    await runner.close()
                stats = (await sim_json(session, "GET", f"{sim_url}/_sim/stats"))["providers"]
                refreshed = await pool.fetchval(
                    "SELECT count(*) FROM artists WHERE shows_synced_at > now() - interval '1 day'"
                )
                stored = await pool.fetchval(
                    "SELECT count(*) FROM setlists WHERE setlistfm_id = ANY($1::text[])",
                    sorted(new_setlists),
                )
    rows = []
    for provider, quota in QUOTAS.items():
        share = background_share_per_day(RATES[provider], quota, RESERVE)
        used = stats[provider]["quota_used_today"]
        rows += [
            Row(BENCH, f"{provider}: requests in the day", used, "requests"),
            Row(
                BENCH,
                f"{provider}: requests / background share ({share:.0f})",
                used / share,
                "ratio",
                "<= 1",
            ),
        ]
    served_429 = sum(p["rate_limited"] for p in stats.values())
    rows += [
        Row(BENCH, "429s served (all providers)", served_429, "count", "0"),
        Row(BENCH, "runs failed", failed, "runs", "0"),
        Row(
            BENCH,
            "active tier: oldest shows or releases, any hour",
            oldest_h,
            "h",
            f"<= {ACTIVE_TARGET_H}",
        ),
        Row(BENCH, "artists whose shows were refreshed in the day", refreshed, "artists"),
        Row(
            BENCH,
            f"new setlists stored (of {len(new_setlists)}, {PLAYED} artists played)",
            stored,
            "setlists",
            str(len(new_setlists)),
        ),
    ]
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--simulator":
        sys.exit(serve_simulator(int(sys.argv[2])))
    from bench.report import run_alone

    run_alone(run)
