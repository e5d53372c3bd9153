"""Sync-job figures: update-active-artists against the seed's strategy, and bulk song upserts.

1. **update-active-artists over 50 artists**, side by side in one run, on one simulator (its own
   process, 50 ms per answer, Spotify 20 requests/s, Ticketmaster 5/s) with the daemon's clients
   at the same rates. 50 imported artists, all active and due, 5 of them with a new album:
   - *seed*: the original job's strategy: batches of 5 artists, 1 s between batches, each
     artist refreshed whole (artist lookup, every album page, every album, track popularity, its
     events) and written a row at a time;
   - *job*: ``update-active-artists`` through the job runner (``forceSync``).
   The 5 new albums are added again before the second strategy runs, so both find the same news.
   The floor is each provider's requests divided by its rate, the largest of them. Targets: the
   job at least 5 x faster than the seed, and within 1.1 x its floor. Then four **scheduled**
   runs in a row, 6 hours apart on the database's clock, over the same 50 (a stable top 50):
   each must sync all 50 (a stale window equal to the period once made it 50, 0, 50, 0).
2. **Bulk song upsert**: 100 artists x 500 songs through ``upsert_songs`` (one call per artist,
   as a sync writes), new rows then an unchanged re-sync (with the table's update counter checked:
   nothing rewritten), against per-row upserts (one INSERT ... ON CONFLICT statement a row, the
   seed's way) on 2,000 rows in the same database. Targets: >= 40,000 new rows/s, >= 100,000
   unchanged rows/s, both >= 20 x per-row. (A song's primary credit is its ``artist_id``, so
   a song is one row; 0006_implied_primary_credit.sql.) Beside them, the floor: the same new
   rows by a plain COPY and INSERT (nothing compared, no conflict handling), which is what this
   machine can do at best.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg
from prometheus_client import CollectorRegistry

from bench.common import (
    Row,
    cli_simulator,
    pointed_at_simulator,
    sim_catalog,
    sim_json,
    throwaway_postgres,
)
from theset_daemon import refresh
from theset_daemon.cache import open_cache
from theset_daemon.db import catalog as store
from theset_daemon.db.migrate import discover, migrate
from theset_daemon.db.pool import Database, open_database
from theset_daemon.importer import phases
from theset_daemon.jobs.runner import JobRunner
from theset_daemon.upstream.clients import Upstreams, open_clients

ARTISTS = 50
SCHEDULED_RUNS = 4
CHANGED = 5
RATES = {"spotify": 20.0, "ticketmaster": 5.0}
SEED_BATCH = 5
SEED_PAUSE_S = 1.0
SIM_ARTISTS = 60
SIM_LATENCY_MS = 50  # the import bench's: a round trip as slow as a provider's


# --- 1. update-active-artists ------------------------------------------------------------------


async def _import_all(up: Upstreams, database: Database, catalog: list[dict[str, Any]]) -> None:
    """The artists imported the way the importer does it, a few at a time."""
    gate = asyncio.Semaphore(4)

    async def one(spotify_id: str) -> None:
        async with gate:
            artist, tm_id = await phases.resolve_artist(
                up, phases.ImportRequest(spotify_id=spotify_id)
            )
            async with database.pool.acquire() as conn:
                artist_id, _ = await store.upsert_artist(conn, phases.artist_row(artist, tm_id))
            await phases.import_shows(up, database.pool, artist_id, artist.name)
            await phases.import_songs(up, database.pool, artist_id, artist.id)

    await asyncio.gather(*(one(a["spotifyId"]) for a in catalog))


_PER_ROW_SONG = """
    INSERT INTO songs (spotify_id, artist_id, name, normalized_title, album_name, album_id,
                       album_type, album_image_url, release_date, track_number, disc_number,
                       duration_ms, popularity, preview_url, spotify_uri, is_explicit, is_live,
                       is_remix)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
    ON CONFLICT (spotify_id) DO UPDATE SET
        name = EXCLUDED.name, normalized_title = EXCLUDED.normalized_title,
        album_name = EXCLUDED.album_name, album_id = EXCLUDED.album_id,
        album_type = EXCLUDED.album_type, album_image_url = EXCLUDED.album_image_url,
        release_date = EXCLUDED.release_date, track_number = EXCLUDED.track_number,
        disc_number = EXCLUDED.disc_number, duration_ms = EXCLUDED.duration_ms,
        popularity = coalesce(EXCLUDED.popularity, songs.popularity),
        preview_url = EXCLUDED.preview_url, spotify_uri = EXCLUDED.spotify_uri,
        is_explicit = EXCLUDED.is_explicit, is_live = EXCLUDED.is_live,
        is_remix = EXCLUDED.is_remix"""

_PER_ROW_SHOW = """
    INSERT INTO shows (headliner_artist_id, venue_id, ticketmaster_id, slug, name, date,
                       start_time, status, ticket_url, min_price, max_price, currency)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
    ON CONFLICT (ticketmaster_id) DO UPDATE SET
        venue_id = EXCLUDED.venue_id, name = EXCLUDED.name, date = EXCLUDED.date,
        start_time = EXCLUDED.start_time, status = EXCLUDED.status,
        ticket_url = EXCLUDED.ticket_url, min_price = EXCLUDED.min_price,
        max_price = EXCLUDED.max_price, currency = EXCLUDED.currency"""


async def _seed_strategy(up: Upstreams, pool: asyncpg.Pool) -> None:
    """The original update-active-artists: batches of 5, a pause of 1 s, a whole refresh per
    artist, every row its own statement."""
    artists = await pool.fetch(
        "SELECT id, name, spotify_id, ticketmaster_id FROM artists WHERE spotify_id IS NOT NULL"
        " ORDER BY id"
    )

    async def one(artist: asyncpg.Record) -> None:
        profile = await up.spotify.artist(artist["spotify_id"])
        warnings: list[str] = []
        listed = await up.spotify.artist_albums(artist["spotify_id"])
        albums = await refresh.fetch_releases(up, listed, warnings)
        popularity = await refresh.track_popularity(up, albums, warnings)
        songs = refresh.choose_songs(albums, popularity)
        events = await up.ticketmaster.events_for_attraction(artist["ticketmaster_id"])
        venues, shows = refresh.show_rows(artist["name"], events)
        async with pool.acquire() as conn:
            for song in songs:
                await conn.execute(_PER_ROW_SONG, *store.song_record(artist["id"], song))
            venue_ids = await store.upsert_venues(conn, venues)
            for show in shows:
                await conn.execute(
                    _PER_ROW_SHOW,
                    artist["id"], venue_ids.get(show.venue_ticketmaster_id or ""),
                    show.ticketmaster_id, show.slug, show.name, show.date, show.start_time,
                    show.status, show.ticket_url, show.min_price, show.max_price, show.currency,
                )  # fmt: skip
            await conn.execute(
                """UPDATE artists SET popularity = $2, followers = $3, last_synced_at = now()
                   WHERE id = $1""",
                artist["id"],
                profile.popularity,
                profile.followers.total if profile.followers else None,
            )

    for start in range(0, len(artists), SEED_BATCH):
        if start:
            await asyncio.sleep(SEED_PAUSE_S)
        await asyncio.gather(*(one(a) for a in artists[start : start + SEED_BATCH]))


def _floor_s(stats: dict[str, Any]) -> float:
    return max(float(stats[p]["requests"]) / RATES[p] for p in RATES)


async def _update_active(rows: list[Row]) -> None:
    with throwaway_postgres() as dsn:
        async with (
            cli_simulator(SIM_ARTISTS, SIM_LATENCY_MS) as sim_url,
            aiohttp.ClientSession() as http,
        ):
            catalog = await sim_catalog(http, sim_url, ARTISTS)
            holder = pointed_at_simulator(sim_url, RATES, env={"DATABASE_URL": dsn})
            registry = CollectorRegistry()
            async with (
                open_database(holder.current.database) as database,
                open_cache(holder, registry) as cache,
                open_clients(holder, registry) as up,
            ):
                await _import_all(up, database, catalog)
                await database.pool.execute(
                    """INSERT INTO page_views (artist_id)
                       SELECT id FROM artists WHERE spotify_id IS NOT NULL"""
                )
                changed = [a["name"] for a in catalog[:CHANGED]]
                figures: dict[str, tuple[float, dict[str, Any]]] = {}
                for strategy in ("job", "seed"):
                    for name in changed:
                        await sim_json(
                            http,
                            "POST",
                            f"{sim_url}/_sim/catalog",
                            {"artistName": name, "newAlbums": 1},
                        )
                    await database.pool.execute(
                        "UPDATE artists SET last_synced_at = now() - interval '7 hours'"
                    )
                    await sim_json(http, "DELETE", f"{sim_url}/_sim/stats")
                    await asyncio.sleep(1.1)  # an empty rate window for each strategy
                    started = time.perf_counter()
                    if strategy == "job":
                        runner = JobRunner(database, up, cache, holder)
                        await runner.start()
                        try:
                            run = await runner.run(
                                "update-active-artists", {"forceSync": True, "limit": ARTISTS}
                            )
                        finally:
                            await runner.close()
                        assert run["status"] == "succeeded", run
                        assert run["summary"]["synced"] == ARTISTS, run["summary"]
                        assert run["summary"]["newReleases"] == CHANGED, run["summary"]
                    else:
                        await _seed_strategy(up, database.pool)
                    elapsed_s = time.perf_counter() - started
                    stats = (await sim_json(http, "GET", f"{sim_url}/_sim/stats"))["providers"]
                    figures[strategy] = (elapsed_s, stats)
                synced_by_run = await _scheduled_runs(database, up, cache, holder)
    name = f"update-active-artists ({ARTISTS} artists)"
    for strategy, label in (("seed", "seed strategy"), ("job", "job")):
        elapsed_s, stats = figures[strategy]
        requests = " + ".join(f"{stats[p]['requests']} {p}" for p in RATES)
        rows.append(Row(name, f"{label}: requests ({requests})", _total(stats), "requests"))
        rows.append(Row(name, f"{label}: elapsed", elapsed_s, "s"))
    job_s, job_stats = figures["job"]
    rows.append(
        Row(name, "job: floor (requests / rate, slowest provider)", _floor_s(job_stats), "s")
    )
    rows.append(Row(name, "job: elapsed / floor", job_s / _floor_s(job_stats), "ratio", "<= 1.10"))
    rows.append(Row(name, "seed elapsed / job elapsed", figures["seed"][0] / job_s, "x", ">= 5"))
    for fire, synced in enumerate(synced_by_run, start=1):
        rows.append(
            Row(name, f"scheduled run {fire} of {SCHEDULED_RUNS}: a stable top {ARTISTS} synced",
                synced, "artists", str(ARTISTS))
        )  # fmt: skip


async def _scheduled_runs(database: Database, up: Upstreams, cache: Any, holder: Any) -> list[int]:
    """:data:`SCHEDULED_RUNS` scheduled runs in a row, 6 hours apart on the database's clock
    (every stamp moved back by the period less the time since the run started, as the next fire
    would find them), over the same top ``ARTISTS`` (all active, every one due by the time the
    previous run stamped it); the artists each run synced. The stale window equals the period,
    so without the due rule's tolerance every other run would find them fresh (50, 0, 50, 0)."""
    pool = database.pool
    await pool.execute("UPDATE artists SET last_synced_at = now() - interval '7 hours'")
    synced: list[int] = []
    runner = JobRunner(database, up, cache, holder)
    await runner.start()
    try:
        for _ in range(SCHEDULED_RUNS):
            fired = dt.datetime.now(dt.UTC)
            run = await runner.wait(
                await runner.trigger(
                    "update-active-artists", None, trigger="schedule", scheduled_for=fired
                )
            )
            synced.append(int(run["summary"]["synced"]))
            await pool.execute(
                """WITH shift AS (SELECT interval '6 hours' - (now() - started_at) AS back
                                  FROM cron_logs WHERE id = $1)
                   UPDATE artists SET last_synced_at = last_synced_at - shift.back,
                                      shows_synced_at = shows_synced_at - shift.back
                   FROM shift""",
                UUID(run["runId"]),
            )
    finally:
        await runner.close()
    return synced


def _total(stats: dict[str, Any]) -> int:
    return sum(int(stats[p]["requests"]) for p in RATES)


# --- 2. bulk song upsert -----------------------------------------------------------------------

BULK_ARTISTS = 100
SONGS_PER_ARTIST = 500
PER_ROW_SONGS = 2_000


def _songs(artist_n: int, count: int) -> list[store.SongRow]:
    return [
        store.SongRow(
            spotify_id=f"a{artist_n:05d}t{n:05d}".ljust(22, "x"),
            name=f"Song {n} of artist {artist_n}",
            normalized_title=f"song {n} of artist {artist_n}",
            album_name=f"Album {n // 12}",
            album_id=f"a{artist_n:05d}album{n // 12:04d}".ljust(22, "x"),
            album_type="album",
            album_image_url=f"https://i.scdn.co/image/{artist_n}-{n // 12}",
            release_date=dt.date(2000 + n % 25, 1 + n % 12, 1),
            track_number=1 + n % 12,
            disc_number=1,
            duration_ms=180_000 + n,
            popularity=n % 100,
            preview_url=None,
            spotify_uri=f"spotify:track:{artist_n}-{n}",
            is_explicit=n % 7 == 0,
            is_live=False,
            is_remix=False,
        )
        for n in range(count)
    ]


async def _artists(conn: asyncpg.Connection, prefix: str, count: int) -> list[UUID]:
    rows = await conn.fetch(
        """INSERT INTO artists (name, slug, spotify_id)
           SELECT $1 || n, $1 || n, lpad($1 || n, 22, '0') FROM generate_series(1, $2) n
           RETURNING id""",
        prefix,
        count,
    )
    return [r["id"] for r in rows]


async def _updates(conn: asyncpg.Connection) -> int:
    await conn.execute("SELECT pg_stat_force_next_flush()")
    value = await conn.fetchval("SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'songs'")
    return int(value)


async def _bulk_rounds(
    conn: asyncpg.Connection, batches: Sequence[tuple[UUID, list[store.SongRow]]]
) -> tuple[float, int]:
    started = time.perf_counter()
    written = 0
    for artist_id, songs in batches:
        written += await store.upsert_songs(conn, artist_id, songs)
    return time.perf_counter() - started, written


async def _per_row(
    conn: asyncpg.Connection, batches: Sequence[tuple[UUID, list[store.SongRow]]]
) -> float:
    """The same work a row at a time."""
    started = time.perf_counter()
    for artist_id, songs in batches:
        for song in songs:
            await conn.execute(_PER_ROW_SONG, *store.song_record(artist_id, song))
    return time.perf_counter() - started


async def _plain_insert(
    conn: asyncpg.Connection, batches: Sequence[tuple[UUID, list[store.SongRow]]]
) -> float:
    """The same new rows by the cheapest way there is: COPY (the same rows, ids made the same
    way), then a plain INSERT, nothing compared, no conflict handled, no order, in as few round
    trips as ``upsert_songs`` (what this machine can do at best)."""
    spec = store.SONGS
    cols = ", ".join(spec.columns)
    plain = f"INSERT INTO songs ({cols}) SELECT {cols} FROM {spec.temp}"
    started = time.perf_counter()
    for artist_id, songs in batches:
        await conn.execute(f"BEGIN; {spec.create_sql()}; SET LOCAL synchronous_commit = off")
        await conn.copy_records_to_table(
            spec.temp,
            records=store.song_rows([(artist_id, s) for s in songs]),
            columns=list(spec.columns),
        )
        await conn.execute(plain)
        await conn.execute("COMMIT")
    return time.perf_counter() - started


async def _bulk(rows: list[Row]) -> None:
    with throwaway_postgres() as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            await migrate(conn, discover())
            bulk_ids = await _artists(conn, "bulk", BULK_ARTISTS)
            bulk = [(a, _songs(n, SONGS_PER_ARTIST)) for n, a in enumerate(bulk_ids)]
            per_row_ids = await _artists(conn, "row", PER_ROW_SONGS // SONGS_PER_ARTIST)
            per_row = [(a, _songs(10_000 + n, SONGS_PER_ARTIST)) for n, a in enumerate(per_row_ids)]
            bulk_rows = BULK_ARTISTS * SONGS_PER_ARTIST
            new_s, new_written = await _bulk_rounds(conn, bulk)
            assert new_written == bulk_rows, new_written
            before = await _updates(conn)
            same_s, same_written = await _bulk_rounds(conn, bulk)
            rewritten = await _updates(conn) - before
            assert same_written == 0, same_written
            row_new_s = await _per_row(conn, per_row)
            row_same_s = await _per_row(conn, per_row)
            await conn.execute("TRUNCATE songs CASCADE")
            floor_s = await _plain_insert(conn, bulk)
        finally:
            await conn.close()
    name = f"bulk song upsert ({bulk_rows:,} rows, {SONGS_PER_ARTIST} per call)"
    new_rate = bulk_rows / new_s
    same_rate = bulk_rows / same_s
    row_new_rate = PER_ROW_SONGS / row_new_s
    row_same_rate = PER_ROW_SONGS / row_same_s
    rows.append(Row(name, "new rows", new_rate, "rows/s", ">= 40,000"))
    rows.append(
        Row(name, "floor: plain COPY + INSERT, no conflict test", bulk_rows / floor_s, "rows/s")
    )
    rows.append(Row(name, "unchanged re-sync", same_rate, "rows/s", ">= 100,000"))
    rows.append(Row(name, "rows rewritten by the unchanged re-sync", rewritten, "rows", "0"))
    rows.append(Row(name, f"per-row upsert, new ({PER_ROW_SONGS:,} rows)", row_new_rate, "rows/s"))
    rows.append(Row(name, "per-row upsert, unchanged", row_same_rate, "rows/s"))
    rows.append(
        Row(
            name,
            "new: bulk / per-row",
            new_rate / row_new_rate,
            "x",
            ">= 20",
            note="A per-row upsert is one statement and one commit a song, bounded by the WAL "
            "flush of each commit; since a song's primary credit is its artist_id (0006) it no "
            "longer writes a credit row either, so it runs about twice as fast as it did "
            "(about 1,500 rows/s before). The floor row's ratio is the bound: a plain COPY + "
            "INSERT, nothing compared, no conflict handled.",
        )
    )
    rows.append(Row(name, "new: floor / per-row", bulk_rows / floor_s / row_new_rate, "x"))
    rows.append(Row(name, "unchanged: bulk / per-row", same_rate / row_same_rate, "x", ">= 20"))


async def run() -> list[Row]:
    rows: list[Row] = []
    await _bulk(rows)
    await _update_active(rows)
    return rows
