"""complete-catalog-sync's setlist step (``refresh/played_setlists.py``) against the simulator and
a real Postgres: only the artists who played are asked, the ``lastUpdated`` feed and the
one-by-one path store the same setlists, the feed is declined when its probe says it takes more
requests, and a failure at setlist.fm or at Ticketmaster keeps what the other provider returned
(each kind stamped by its own provider's answer).

The steady state each test starts from: the shows stored by a show sync, every artist's newest
setlists read (never read, they are due) and stamped five days ago, before the shows the test
then adds were played (the simulator's ``newSetlists``: one to three days before now, each a
setlist.fm setlist and a past Ticketmaster event). setlist.fm requests are read from
``/_sim/stats``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any
from uuid import UUID

import asyncpg

from tests.jobs.sync_support import SyncEnv, sync_env
from tests.jobs.test_grouped_shows import refresh_page, seed
from theset_daemon import refresh
from theset_daemon.db import setlists as setlists_db

SIM_ARTISTS = 40
SHOW_SYNC = {"maxArtists": 1000, "includeDataCleanup": False, "performIntegrityChecks": False}
# One attempt at setlist.fm, so its faults cost no retry pauses (Ticketmaster's are short), and
# no circuit breaker left open by one run's faults for the next.
FAULTS_CONFIG = """
[upstream.setlistfm.retry]
max_attempts = 1
[upstream.setlistfm.breaker]
failure_threshold = 1000
[upstream.ticketmaster.breaker]
failure_threshold = 1000
"""
ARTIST_SETLISTS = "/artist/{mbid}/setlists"
FEED = "/search/setlists"
NAME_SEARCH = "/search/artists"


def setlistfm_requests(stats: dict[str, Any], path: str) -> int:
    by_endpoint: dict[str, int] = stats["setlistfm"]["by_endpoint"]
    return sum(n for key, n in by_endpoint.items() if key.endswith(path))


async def steady_state(
    env: SyncEnv, catalog: list[dict[str, Any]], *, without_mbid: Iterable[str] = ()
) -> dict[str, UUID]:
    """The catalog after earlier runs (see the module docstring); spotify id -> artist id. The
    artists ``without_mbid`` (spotify ids) have none (setlist.fm never searched by their name)."""
    env.set_job("complete-catalog-sync", delay_s=0)
    ids = await seed(env, catalog)
    pool = env.database.pool
    # Setlists never read are due: the first run reads every artist's newest page, one by one.
    await env.reset_stats()
    run = await env.run_job("complete-catalog-sync", SHOW_SYNC)
    assert run["status"] == "succeeded", run
    assert setlistfm_requests(await env.stats(), ARTIST_SETLISTS) == len(catalog)
    assert await due_now(pool) == set()
    await pool.execute(
        """UPDATE artists
           SET setlists_synced_at = now() - interval '5 days',
               shows_synced_at = now() - interval '5 days',
               mbid = CASE WHEN spotify_id = ANY($1::text[]) THEN NULL ELSE mbid END""",
        list(without_mbid),
    )
    await env.reset_stats()
    return ids


async def play(env: SyncEnv, artists: Iterable[dict[str, Any]]) -> set[str]:
    """A show played by each artist; the new setlists' ids."""
    new: set[str] = set()
    for artist in artists:
        answer = await env.sim_post(
            "/_sim/catalog", {"artistName": artist["name"], "newSetlists": 1}
        )
        new.update(answer["changed"]["setlistIds"])
    return new


async def stored_setlists(pool: asyncpg.Pool) -> set[tuple[Any, ...]]:
    """Every actual setlist: its artist, show (Ticketmaster's or made for it), date, songs."""
    rows = await pool.fetch(
        """SELECT l.setlistfm_id, l.artist_id, s.ticketmaster_id, s.date, s.status, l.name,
                  array(SELECT ss.song_id::text || '@' || ss.position FROM setlist_songs ss
                        WHERE ss.setlist_id = l.id ORDER BY ss.position) AS songs
           FROM setlists l JOIN shows s ON s.id = l.show_id WHERE l.type = 'actual'"""
    )
    return {tuple(tuple(v) if k == "songs" else v for k, v in r.items()) for r in rows}


async def stamps(pool: asyncpg.Pool, column: str) -> dict[UUID, dt.datetime]:
    rows = await pool.fetch(f"SELECT id, {column} AS at FROM artists WHERE spotify_id IS NOT NULL")
    return {r["id"]: r["at"] for r in rows}


async def due_now(pool: asyncpg.Pool) -> set[UUID]:
    async with pool.acquire() as conn:
        return {a.id for a in await setlists_db.due_setlist_artists(conn)}


async def forget(pool: asyncpg.Pool, setlist_ids: set[str]) -> None:
    """Back to before the new setlists were read: them gone, the stamps five days old."""
    await pool.execute("DELETE FROM setlists WHERE setlistfm_id = ANY($1::text[])", setlist_ids)
    await pool.execute(
        "DELETE FROM shows WHERE ticketmaster_id IS NULL AND setlistfm_id = ANY($1::text[])",
        setlist_ids,
    )
    await pool.execute(
        """UPDATE shows SET setlistfm_id = NULL, status = 'completed'
           WHERE setlistfm_id = ANY($1::text[])""",
        setlist_ids,
    )
    await pool.execute("UPDATE artists SET setlists_synced_at = now() - interval '5 days'")


async def test_the_feed_and_one_by_one_store_the_same_setlists(env: SyncEnv) -> None:
    catalog = await env.sim_catalog()
    ids = await steady_state(env, catalog)
    pool = env.database.pool
    players = catalog[:5]
    new = await play(env, players)
    await refresh_page(env, list(ids.values()))  # the show sync: the played shows stored
    played = {ids[a["spotifyId"]] for a in players}
    assert await due_now(pool) == played
    before = await stored_setlists(pool)
    await env.reset_stats()

    started = dt.datetime.now(dt.UTC)
    feed = await refresh.refresh_played_setlists(env.upstreams, pool, refresh.PlayedSetlists())

    # The way chosen: five days of 40 artists' setlist updates fill fewer pages than 5 artists.
    stats = await env.stats()
    assert (feed.way, feed.due, feed.asked, feed.failed) == ("feed", 5, 0, [])
    assert feed.feed_pages < 5
    assert setlistfm_requests(stats, FEED) == feed.feed_pages == stats["setlistfm"]["requests"]
    by_feed = await stored_setlists(pool)
    assert new <= {row[0] for row in by_feed} and len(new) == 5
    assert {row[0] for row in by_feed - before} == new
    # Every new setlist is on the played show Ticketmaster listed.
    assert all(row[2] is not None for row in by_feed if row[0] in new)
    # Every artist with a MusicBrainz id is current as of the walk's start; nobody is due.
    assert all(at >= started for at in (await stamps(pool, "setlists_synced_at")).values())
    assert await due_now(pool) == set()

    await forget(pool, new)
    assert await stored_setlists(pool) == before
    assert await due_now(pool) == played
    await env.reset_stats()

    alone = await refresh.refresh_played_setlists(
        env.upstreams, pool, refresh.PlayedSetlists(), way="one-by-one"
    )

    stats = await env.stats()
    assert (alone.way, alone.due, alone.asked, alone.feed_pages) == ("one-by-one", 5, 5, 0)
    assert setlistfm_requests(stats, ARTIST_SETLISTS) == 5 == stats["setlistfm"]["requests"]
    assert await stored_setlists(pool) == by_feed
    assert await due_now(pool) == set()


async def test_the_feed_is_probed_and_declined_when_it_takes_more_pages(env: SyncEnv) -> None:
    catalog = await env.sim_catalog()
    ids = await steady_state(env, catalog)
    pool = env.database.pool
    players = catalog[:3]
    await play(env, players)
    await refresh_page(env, list(ids.values()))
    # One of them last read two months ago: the feed since then holds every artist's setlists
    # of those months, more pages than the three artists it would save a request each.
    await pool.execute(
        "UPDATE artists SET setlists_synced_at = now() - interval '60 days' WHERE id = $1",
        ids[players[0]["spotifyId"]],
    )
    await env.reset_stats()

    outcome = await refresh.refresh_played_setlists(env.upstreams, pool, refresh.PlayedSetlists())

    stats = await env.stats()
    assert (outcome.way, outcome.due, outcome.asked, outcome.feed_pages) == ("one-by-one", 3, 3, 1)
    assert setlistfm_requests(stats, FEED) == 1  # the probe
    assert setlistfm_requests(stats, ARTIST_SETLISTS) == 3
    assert await due_now(pool) == set()


async def test_only_the_artists_who_played_are_asked(env: SyncEnv) -> None:
    catalog = await env.sim_catalog()
    nameless = catalog[2]["spotifyId"]
    ids = await steady_state(env, catalog, without_mbid=[nameless])
    pool = env.database.pool
    players = catalog[:3]  # two with a MusicBrainz id (too few for the feed), one without
    new = await play(env, players)
    shows_before = await stamps(pool, "shows_synced_at")
    setlists_before = await stamps(pool, "setlists_synced_at")

    run = await env.run_job("complete-catalog-sync", SHOW_SYNC)

    assert run["status"] == "succeeded", run
    stats = await env.stats()
    assert setlistfm_requests(stats, ARTIST_SETLISTS) == 3
    assert setlistfm_requests(stats, NAME_SEARCH) == 1  # the one without: then kept
    assert stats["setlistfm"]["requests"] == 4
    assert new <= {row[0] for row in await stored_setlists(pool)}
    played = {ids[a["spotifyId"]] for a in players}
    shows_after = await stamps(pool, "shows_synced_at")
    setlists_after = await stamps(pool, "setlists_synced_at")
    assert all(shows_after[i] > shows_before[i] for i in ids.values())
    assert {i for i in ids.values() if setlists_after[i] != setlists_before[i]} == played
    assert (
        await pool.fetchval("SELECT mbid FROM artists WHERE spotify_id = $1", nameless)
        == (catalog[2]["mbid"])
    )
    assert await due_now(pool) == set()

    # Nobody played since: the next run asks setlist.fm nothing.
    await env.reset_stats()
    again = await env.run_job("complete-catalog-sync", SHOW_SYNC)
    assert again["status"] == "succeeded", again
    assert (await env.stats())["setlistfm"]["requests"] == 0


async def test_a_failure_at_one_provider_keeps_the_others_work(database_url: str) -> None:
    # 12 artists: a failing Ticketmaster is asked again for each, with its retries.
    async with sync_env(database_url, artists=12, extra=FAULTS_CONFIG) as env:
        catalog = await env.sim_catalog()
        ids = await steady_state(env, catalog)
        pool = env.database.pool
        players = catalog[:4]
        new = await play(env, players)
        played = {ids[a["spotifyId"]] for a in players}
        setlists_before = await stamps(pool, "setlists_synced_at")

        # setlist.fm fails: the shows are stored and stamped, the setlists are not.
        await env.sim_post("/_sim/faults", {"provider": "setlistfm", "status": 500, "count": 1000})
        started = dt.datetime.now(dt.UTC)
        first = await env.run_job("complete-catalog-sync", SHOW_SYNC)
        async with env.control.delete(env.sim_url + "/_sim/faults") as response:
            assert response.status == 200

        assert first["status"] == "partial", first
        assert first["errors"] and all("setlists" in e["message"] for e in first["errors"])
        shows_after_first = await stamps(pool, "shows_synced_at")
        assert all(at >= started for at in shows_after_first.values())
        assert await stamps(pool, "setlists_synced_at") == setlists_before
        assert not new & {row[0] for row in await stored_setlists(pool)}
        assert await due_now(pool) == played  # the played shows are stored: still due

        # Ticketmaster fails: the setlists are read and stamped, the shows keep their stamp.
        await env.sim_post(
            "/_sim/faults", {"provider": "ticketmaster", "status": 500, "count": 1000}
        )
        started = dt.datetime.now(dt.UTC)
        second = await env.run_job("complete-catalog-sync", SHOW_SYNC)
        async with env.control.delete(env.sim_url + "/_sim/faults") as response:
            assert response.status == 200

        assert second["status"] == "partial", second
        assert all("setlists" not in e["message"] for e in second["errors"])
        assert await stamps(pool, "shows_synced_at") == shows_after_first
        setlists_after = await stamps(pool, "setlists_synced_at")
        assert all(setlists_after[i] >= started for i in played)
        assert new <= {row[0] for row in await stored_setlists(pool)}
        assert await due_now(pool) == set()
