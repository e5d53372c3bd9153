"""Setlist refresh: setlist.fm requests of complete-catalog-sync's setlist step after 5% played.

The simulator's first 2,000 artists are seeded straight into Postgres with their Spotify,
Ticketmaster and MusicBrainz ids (``bench.common.seed_artists``), their setlists read five days
ago (stamped, not read: reading every artist's history once, which never-read setlists are due
for, is not what is measured, and would take the bench's budget several times over) and their
release counts as the simulator reports them (an unchanged discography, one page an artist).
complete-catalog-sync runs through the job runner (``delay_s = 0``, no cleanup, no integrity
checks) once, to store the shows (nobody has played since: no setlist is due). The shows are then
dated back five days too: the steady state, every artist's shows and setlists fetched before the
shows about to be played, which the simulator places one to three days before now. Then 5% of
the artists play a show each (``POST /_sim/catalog`` ``newSetlists``: a setlist.fm setlist and a
past Ticketmaster event), and the job runs again: the show sync stores the played shows, and the
setlist step reads the setlists of those who played, by setlist.fm's ``lastUpdated`` feed or one
artist at a time, whichever its probe says is fewer requests (``refresh/played_setlists.py``).
Its setlist.fm requests are read from the simulator's ``/_sim/stats``.

Targets: at most 1.2 setlist.fm requests an artist who played (one by one is 1.0; the feed's
pages fewer), and every new setlist stored. 2,000 artists (as in ``bench.shows``) rather than the
issue's 10,000 keep the run within the bench budget (two show syncs of the whole catalog): the
ratio does not depend on the catalog's size, since both the artists who played and the feed's
pages (every artist's setlist updates of those five days) grow with it. Rates are raised as in
``bench.catalog_sync``.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import aiohttp
import asyncpg

from bench.catalog_sync import raised_daemon
from bench.common import Row, sim_json
from theset_daemon.db.setlists import due_setlist_artists

ARTISTS = 2_000
PLAYED_EVERY = 20  # one artist in 20 plays a show: 5%
BENCH = "setlists"
SYNC = {"maxArtists": ARTISTS, "includeDataCleanup": False, "performIntegrityChecks": False}
FEED = "/search/setlists"
ONE_BY_ONE = ("/artist/{mbid}/setlists", "/search/artists")


async def _play(
    session: aiohttp.ClientSession, sim_url: str, catalog: list[dict[str, Any]]
) -> set[str]:
    """A show played by every PLAYED_EVERY-th artist; the new setlists' ids."""
    new: set[str] = set()
    for artist in catalog[::PLAYED_EVERY]:
        body = {"artistName": artist["name"], "newSetlists": 1}
        answer = await sim_json(session, "POST", f"{sim_url}/_sim/catalog", body)
        new.update(answer["changed"]["setlistIds"])
    return new


async def run() -> list[Row]:
    async with raised_daemon(ARTISTS) as daemon:
        pool, session, sim_url = daemon.database.pool, daemon.session, daemon.sim_url
        await _steady(pool, daemon.catalog)
        first = await daemon.runner.run("complete-catalog-sync", SYNC)
        print(f"# {BENCH}: first sync: {first['status']}, {_phases(first)}", file=sys.stderr)
        await pool.execute("UPDATE artists SET shows_synced_at = now() - interval '5 days'")
        new = await _play(session, sim_url, daemon.catalog)
        await sim_json(session, "DELETE", f"{sim_url}/_sim/stats")
        started = time.perf_counter()
        second = await daemon.runner.run("complete-catalog-sync", SYNC)
        elapsed_s = time.perf_counter() - started
        stats = (await sim_json(session, "GET", f"{sim_url}/_sim/stats"))["providers"]
        return await _rows(pool, stats["setlistfm"], second, new, elapsed_s)


async def _steady(pool: asyncpg.Pool, catalog: list[dict[str, Any]]) -> None:
    """Setlists read five days ago, and the release counts the simulator reports (an unchanged
    discography: the artist sync reads one page an artist, as in the steady state)."""
    await pool.execute(
        """UPDATE artists AS a
           SET setlists_synced_at = now() - interval '5 days', total_albums = x.albums
           FROM unnest($1::text[], $2::int[]) AS x (spotify_id, albums)
           WHERE a.spotify_id = x.spotify_id""",
        [a["spotifyId"] for a in catalog],
        [a["counts"]["albums"] for a in catalog],
    )


def _phases(result: dict[str, Any]) -> str:
    phases = result["summary"].get("phases", [])
    return ", ".join(f"{p['name']} {p['durationMs'] / 1000:.1f} s" for p in phases)


async def _rows(
    pool: asyncpg.Pool,
    setlistfm: dict[str, Any],
    result: dict[str, Any],
    new: set[str],
    elapsed_s: float,
) -> list[Row]:
    played = len(range(0, ARTISTS, PLAYED_EVERY))
    by_endpoint: dict[str, int] = setlistfm["by_endpoint"]
    feed = sum(n for key, n in by_endpoint.items() if key.endswith(FEED))
    alone = sum(n for key, n in by_endpoint.items() if key.endswith(ONE_BY_ONE))
    requests = int(setlistfm["requests"])
    stored = await pool.fetchval(
        "SELECT count(*) FROM setlists WHERE type = 'actual' AND setlistfm_id = ANY($1::text[])",
        list(new),
    )
    async with pool.acquire() as conn:
        still_due = len(await due_setlist_artists(conn))
    way = "the feed" if feed > 1 or (feed and not alone) else "one by one"
    print(
        f"# {BENCH}: second sync {result['status']} in {elapsed_s:.1f} s ({_phases(result)}); "
        f"the setlist step went "
        f"{way}: {feed} feed page(s), {alone} one-by-one request(s), {played} artists played",
        file=sys.stderr,
    )
    return [
        Row(BENCH, f"artists who played ({ARTISTS:,} artists, 5%)", played, "artists"),
        Row(BENCH, "setlist.fm requests", requests, "requests"),
        Row(BENCH, "setlist.fm feed pages (lastUpdated)", feed, "requests"),
        Row(BENCH, "setlist.fm requests one artist at a time", alone, "requests"),
        Row(BENCH, "setlist.fm requests / artists who played", requests / played, "ratio",
            "<= 1.2"),
        Row(BENCH, "new setlists stored / new setlists", stored / len(new), "ratio", "1.000"),
        Row(BENCH, "artists still due after the run", still_due, "artists", "0"),
        Row(BENCH, "run failed items", len(result.get("errors", [])), "items", "0"),
    ]  # fmt: skip


if __name__ == "__main__":
    from bench.report import run_alone

    run_alone(run)
