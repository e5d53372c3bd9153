"""Forecast: the refresh plan over 10,000 artists at the real quotas, against the jobs' share.

Days to refresh every artist, and each provider's requests a day against its background share:
what ``GET /api/monitoring/upstream``'s ``forecast`` says (``monitoring/forecast.py``), computed
from a throwaway Postgres the way the daemon computes it: no upstream call is needed, the plan
reads only the database. The settings are the repository's ``config.toml``: Ticketmaster 5,000
requests a day, setlist.fm 1,440, Spotify no daily quota at 10/s, a 20% interactive reserve, and
the ``[plan]`` target ages (6 h active, 1 day touring or trending, 7 days others; setlists within
a day of a show).

The catalog is the simulator's first 10,000 artists (seed 1, built in this process: the same
generator the simulator serves), seeded as imports leave them (``bench.common.seed_artists``:
Spotify, Ticketmaster attraction and MusicBrainz ids), with:

- their upcoming shows: the simulator's events, dated (a postponed or cancelled one is left out);
- the shows they played: the simulator lists no event in the past, so the cadence of the next 30
  days is taken a month earlier (each show of the next 30 days also played 30 days before it),
  which puts some shows in the last days, at the rate the plan predicts setlists from;
- 2% active (a page view today), the trending top 100 (a trending score);
- the steady state the jobs keep: each artist's shows and releases fetched at an age uniform
  within its tier's target age, its setlists read at a time uniform within the last
  ``setlist_after_show_h`` (so those who played since are due), from a fixed random seed.

Target (issue 16): at most 1 day to refresh every artist's shows and setlists. Beside it, each
provider's requests a day against the share (at most 1: the plan fits), the tiers, the time the
first read and computation of the plan takes (a tenth of a second or more on 2 cores: why it is
cached a minute, ``monitoring/forecast.py``), and, without a target, the same figures for a fresh
catalog (nothing fetched yet: every artist's setlists are due, the first read brings its history),
the first days after a bulk import: 10,000 setlist.fm requests, over 8 days of the share.

The steady-state setlist.fm figure depends a little on the hour it runs (yesterday's shows are
over at midnight UTC; setlists read since then are not due): about 0.1 day just after midnight,
less later in the day.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg

from bench.common import Row, seed_artists, throwaway_postgres
from theset_daemon.catalog.plan import Tier, target_age, tier_of
from theset_daemon.config import PlanSettings, SettingsHolder, load
from theset_daemon.db.plan import artist_states
from theset_daemon.db.pool import open_database
from theset_daemon.monitoring.forecast import CACHE_TTL_S, PROVIDERS, PlanForecast
from theset_daemon.sim.catalog import Catalog
from theset_daemon.sim.shows import Event

ARTISTS = 10_000
ACTIVE_SHARE = 0.02
TRENDING = 100
SOON_DAYS = 30
SEED = 1
BENCH = "forecast"
CONFIG = Path(__file__).resolve().parent.parent / "config.toml"
TARGET_DAYS = "<= 1"
KIND_OF = {"ticketmaster": "shows", "setlistfm": "setlists", "spotify": "releases"}


def _catalog() -> tuple[list[dict[str, Any]], list[list[Event]], dt.date]:
    catalog = Catalog(SEED, ARTISTS)
    entries, events = [], []
    for index in range(ARTISTS):
        profile = catalog.profile(index)
        entries.append(
            {
                "name": profile.name,
                "spotifyId": profile.spotify_id,
                "ticketmasterId": profile.ticketmaster_id,
                "mbid": profile.mbid,
            }
        )
        events.append(catalog.events(index))
    return entries, events, catalog.today


async def _seed_shows(
    pool: asyncpg.Pool, catalog: list[dict[str, Any]], events: list[list[Event]], today: dt.date
) -> None:
    ids = {
        row["spotify_id"]: row["id"]
        for row in await pool.fetch("SELECT id, spotify_id FROM artists")
    }
    artist_ids, slugs, dates, statuses = [], [], [], []
    for entry, listed in zip(catalog, events, strict=True):
        for event in listed:
            if event.start is None or event.status == "canceled":
                continue
            day = event.start.date()
            shows = [(day, "upcoming", "")]
            if (day - today).days < SOON_DAYS:  # the same cadence, a month earlier: played
                shows.append((day - dt.timedelta(days=SOON_DAYS), "completed", "-played"))
            for date, status, suffix in shows:
                artist_ids.append(ids[entry["spotifyId"]])
                slugs.append(f"bench-{event.ticketmaster_id}{suffix}")
                dates.append(date)
                statuses.append(status)
    await pool.execute(
        """INSERT INTO shows (headliner_artist_id, slug, name, date, status)
           SELECT a, s, 'Show', d, st
           FROM unnest($1::uuid[], $2::text[], $3::date[], $4::text[]) AS x (a, s, d, st)""",
        artist_ids,
        slugs,
        dates,
        statuses,
    )


async def _seed_activity(pool: asyncpg.Pool, rng: random.Random) -> None:
    ids = [row["id"] for row in await pool.fetch("SELECT id FROM artists ORDER BY spotify_id")]
    active = rng.sample(ids, round(ARTISTS * ACTIVE_SHARE))
    await pool.execute("INSERT INTO page_views (artist_id) SELECT unnest($1::uuid[])", active)
    trending = rng.sample(ids, TRENDING)
    scores = [float(TRENDING - n) for n in range(TRENDING)]
    await pool.execute(
        """UPDATE artists a SET trending_score = x.score
           FROM unnest($1::uuid[], $2::float8[]) AS x (id, score) WHERE a.id = x.id""",
        trending,
        scores,
    )


async def _seed_steady_state(
    pool: asyncpg.Pool, settings: PlanSettings, now: dt.datetime, rng: random.Random
) -> Counter[Tier]:
    """Fetched-at times as the jobs keep them: within each tier's target age, setlists within
    the last ``setlist_after_show_h``."""
    ids, shows_at, releases_at, setlists_at = [], [], [], []
    tiers: Counter[Tier] = Counter()
    for state in await artist_states(pool):
        tier = tier_of(state)
        tiers[tier] += 1
        age = target_age(tier, settings)
        ids.append(state.artist_id)
        shows_at.append(now - age * rng.random())
        releases_at.append(now - age * rng.random())
        setlists_at.append(now - dt.timedelta(hours=settings.setlist_after_show_h) * rng.random())
    await pool.execute(
        """UPDATE artists a SET shows_synced_at = x.shows, last_synced_at = x.releases,
                                setlists_synced_at = x.setlists
           FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[], $4::timestamptz[])
                AS x (id, shows, releases, setlists)
           WHERE a.id = x.id""",
        ids,
        shows_at,
        releases_at,
        setlists_at,
    )
    return tiers


async def run() -> list[Row]:
    rng = random.Random(SEED)
    catalog, events, today = _catalog()
    with throwaway_postgres() as dsn:
        holder = SettingsHolder(load(CONFIG, {"DATABASE_URL": dsn}), CONFIG)
        settings = holder.current
        async with open_database(settings.database) as database:
            pool = database.pool
            await seed_artists(pool, catalog)
            await _seed_shows(pool, catalog, events, today)
            await _seed_activity(pool, rng)
            now = dt.datetime.now(dt.UTC)
            tiers = await _seed_steady_state(pool, settings.plan, now, rng)
            await pool.execute("ANALYZE")

            plan = PlanForecast(database, holder)
            started = time.perf_counter()
            steady = await plan.forecasts()
            computed_ms = (time.perf_counter() - started) * 1000

            await pool.execute(
                """UPDATE artists
                   SET shows_synced_at = NULL, last_synced_at = NULL, setlists_synced_at = NULL"""
            )
            plan.forget()
            fresh = await plan.forecasts()

    upstream = settings.upstream
    providers = {name: getattr(upstream, name) for name in PROVIDERS}
    rows = [
        Row(BENCH, f"artists: {tier.value}", tiers[tier], "artists")
        for tier in (Tier.ACTIVE, Tier.TOURING, Tier.OTHER)
    ]
    for name in ("ticketmaster", "setlistfm", "spotify"):
        expected, first = steady[name], fresh[name]
        quota = providers[name].daily_quota
        budget = f"{quota:,}/day" if quota else f"{providers[name].max_rate_per_s:g}/s"
        rows += [
            Row(BENCH, f"{name}: days to refresh every artist's {KIND_OF[name]}",
                expected.days_to_refresh_all, "days",
                TARGET_DAYS if name != "spotify" else ""),
            Row(BENCH, f"{name}: requests a day the plan needs", expected.requests_per_day,
                "requests"),
            Row(BENCH, f"{name}: the jobs' share a day ({budget}, reserve "
                f"{providers[name].interactive_reserve:.0%})", expected.share_per_day,
                "requests"),
            Row(BENCH, f"{name}: plan / share", expected.requests_per_day / expected.share_per_day,
                "ratio", "<= 1"),
            Row(BENCH, f"{name}: days to refresh all, fresh catalog (nothing fetched yet)",
                first.days_to_refresh_all, "days"),
        ]  # fmt: skip
    rows.append(
        Row(BENCH, f"plan read and computed, {ARTISTS:,} artists (cached {CACHE_TTL_S:.0f} s)",
            computed_ms, "ms")
    )  # fmt: skip
    return rows


if __name__ == "__main__":
    from bench.report import run_alone

    run_alone(run)
