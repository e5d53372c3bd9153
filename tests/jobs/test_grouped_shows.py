"""The jobs' show refresh (``refresh/grouped_shows.py``) against the simulator and a real Postgres:
grouped attraction queries store exactly what per-artist queries store (statuses included, a
cancellation applied), a group past deep paging's 1,000 events is halved, N linked artists cost
about N/25 requests, and keyword searches are kept to unlinked artists, once per cycle.

Requests are read from the simulator's ``/_sim/stats``.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any
from uuid import UUID

import asyncpg

from tests.jobs.sync_support import SyncEnv, requests_of, sync_env
from theset_daemon import refresh
from theset_daemon.refresh import grouped_shows

SIM_ARTISTS = 100
WEEK = dt.timedelta(days=7)
SHOW_SYNC = {"maxArtists": 1000, "includeDataCleanup": False, "performIntegrityChecks": False}


async def seed(
    env: SyncEnv, catalog: list[dict[str, Any]], *, linked: bool = True
) -> dict[str, UUID]:
    """The artists as imports leave them (with their attraction ids unless not ``linked``),
    nothing synced; spotify id -> artist id."""
    rows = await env.database.pool.fetch(
        """INSERT INTO artists (name, slug, spotify_id, ticketmaster_id, mbid)
           SELECT name, 'seeded-' || spotify_id, spotify_id, CASE WHEN $5 THEN tm_id END, mbid
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
                AS x (name, spotify_id, tm_id, mbid)
           RETURNING spotify_id, id""",
        [a["name"] for a in catalog],
        [a["spotifyId"] for a in catalog],
        [a["ticketmasterId"] for a in catalog],
        [a["mbid"] for a in catalog],
        linked,
    )
    return {r["spotify_id"]: r["id"] for r in rows}


async def stored_shows(pool: asyncpg.Pool) -> set[tuple[Any, ...]]:
    """Every show Ticketmaster gave us, with its venue and its whole bill."""
    shows = await pool.fetch(
        """SELECT s.ticketmaster_id, s.headliner_artist_id, v.ticketmaster_id AS venue, s.name,
                  s.date, s.start_time, s.status, s.ticket_url, s.min_price, s.max_price,
                  s.currency,
                  array_agg(ARRAY[coalesce(a.ticketmaster_id, a.id::text),
                                  sa.order_index::text, sa.is_headliner::text]
                            ORDER BY sa.order_index, a.id) AS bill
           FROM shows s
           LEFT JOIN venues v ON v.id = s.venue_id
           JOIN show_artists sa ON sa.show_id = s.id
           JOIN artists a ON a.id = sa.artist_id
           WHERE s.ticketmaster_id IS NOT NULL
           GROUP BY s.id, v.ticketmaster_id"""
    )
    return {tuple(tuple(map(tuple, v)) if k == "bill" else v for k, v in r.items()) for r in shows}


async def shows_by_artist(pool: asyncpg.Pool) -> dict[UUID, int]:
    rows = await pool.fetch(
        """SELECT headliner_artist_id AS id, count(*) AS n FROM shows
           WHERE ticketmaster_id IS NOT NULL GROUP BY 1"""
    )
    return {r["id"]: r["n"] for r in rows}


async def forget_shows(pool: asyncpg.Pool) -> None:
    """Back to a catalog with no show stored and none synced."""
    await pool.execute("TRUNCATE shows, venues CASCADE")
    await pool.execute("UPDATE artists SET shows_synced_at = NULL")


def page_shows(env: SyncEnv, ids: list[UUID]) -> refresh.PageShows:
    return refresh.PageShows(env.upstreams, env.database.pool, ids, keyword_every=WEEK)


async def refresh_page(env: SyncEnv, ids: list[UUID]) -> dict[UUID, refresh.FoundEvents]:
    """One page's shows looked up and stored the way the jobs do it."""
    lookups = page_shows(env, ids)
    found = {}
    try:
        for artist_id in ids:
            found[artist_id] = await lookups.events(artist_id)
            name = await env.database.pool.fetchval(
                "SELECT name FROM artists WHERE id = $1", artist_id
            )
            await refresh.store_found(env.database.pool, artist_id, name, found[artist_id])
    finally:
        await lookups.close()
    return found


async def test_grouped_queries_store_what_per_artist_queries_store(env: SyncEnv) -> None:
    env.set_job("complete-catalog-sync", delay_s=0, batch_size=25)  # not the seed's 5 s pauses
    catalog = await env.sim_catalog()
    ids = await seed(env, catalog)
    pool = env.database.pool
    # Per artist, as complete-catalog-sync did: a keyword and an attraction query each.
    for artist in catalog:
        await refresh.refresh_shows(env.upstreams, pool, ids[artist["spotifyId"]], artist["name"])
    per_artist = await stored_shows(pool)
    statuses = {show[6] for show in per_artist}
    assert {"upcoming", "cancelled", "postponed"} <= statuses, statuses
    await forget_shows(pool)
    await env.reset_stats()

    run = await env.run_job("complete-catalog-sync", SHOW_SYNC)

    assert run["status"] == "succeeded", run
    assert await stored_shows(pool) == per_artist
    truth = {ids[a["spotifyId"]]: a["counts"]["upcoming_shows"] for a in catalog}
    assert await shows_by_artist(pool) == {k: n for k, n in truth.items() if n}
    # One query per group of 25 (a page of 100 artists is four groups), plus a page of 200
    # events more where a group has more; asked by attraction and keyword, it was 200.
    events = sum(truth.values())
    sent = requests_of(await env.stats(), "ticketmaster")
    assert math.ceil(len(catalog) / 25) <= sent <= len(catalog) / 25 + events / 200, sent

    # Shows we stored as upcoming that Ticketmaster now reports cancelled: the next grouped
    # refresh marks them so, as the per-artist one did.
    marked = await pool.execute("UPDATE shows SET status = 'upcoming' WHERE status = 'cancelled'")
    assert marked != "UPDATE 0"
    await pool.execute("UPDATE artists SET shows_synced_at = NULL")
    again = await env.run_job("complete-catalog-sync", SHOW_SYNC)
    assert again["status"] == "succeeded", again
    assert await stored_shows(pool) == per_artist


async def test_a_group_past_1000_events_is_halved_until_it_can_be_read(
    database_url: str,
) -> None:
    async with sync_env(database_url, artists=30) as env:
        catalog = (await env.sim_catalog())[:25]
        ids = await seed(env, catalog)
        crowded = next(a for a in catalog if a["counts"]["upcoming_shows"] > 0)
        for _ in range(11):  # 1,100 more: past what deep paging reads, even alone
            await env.sim_post("/_sim/catalog", {"artistName": crowded["name"], "newShows": 100})
        truth = {a["spotifyId"]: a["counts"] for a in await env.sim_catalog()}
        order = [ids[crowded["spotifyId"]]] + [
            i for s, i in ids.items() if s != crowded["spotifyId"]
        ]
        await env.reset_stats()

        found = await refresh_page(env, order)

        stored = await shows_by_artist(env.database.pool)
        crowded_id = ids[crowded["spotifyId"]]
        assert truth[crowded["spotifyId"]]["upcoming_shows"] > 1000
        assert stored[crowded_id] == 1000  # the soonest 1,000, and a warning says so
        assert found[crowded_id].warnings and "1,000" in found[crowded_id].warnings[0]
        for spotify_id, artist_id in ids.items():
            if artist_id != crowded_id:
                assert stored.get(artist_id, 0) == truth[spotify_id]["upcoming_shows"]
                assert found[artist_id].warnings == []
        # One request a level for each of the two halves (the crowded one splits again), then
        # the crowded artist's five pages; one query per artist instead would cost 1 + 5 + 24.
        sent = requests_of(await env.stats(), "ticketmaster")
        levels = math.ceil(math.log2(len(order)))
        assert sent <= 1 + 2 * levels + 5 < 1 + 5 + (len(order) - 1), sent


async def test_keyword_searches_only_for_unlinked_artists_once_a_cycle(database_url: str) -> None:
    async with sync_env(database_url, artists=12) as env:
        catalog = [a for a in await env.sim_catalog() if a["counts"]["upcoming_shows"] > 0][:3]
        ids = await seed(env, catalog[:1])
        ids |= await seed(env, catalog[1:], linked=False)
        linked, first, second = (ids[a["spotifyId"]] for a in catalog)
        pool = env.database.pool
        await env.reset_stats()

        found = await refresh_page(env, [linked, first, second])

        # The linked artist's grouped query, and one keyword search for each of the others,
        # whose events name their attraction: now linked too.
        assert requests_of(await env.stats(), "ticketmaster") == 3
        assert not found[linked].by_keyword and found[first].by_keyword
        stored = await shows_by_artist(pool)
        assert [stored[i] for i in (linked, first, second)] == [
            a["counts"]["upcoming_shows"] for a in catalog
        ]
        tm_ids = await pool.fetch(
            "SELECT spotify_id, ticketmaster_id FROM artists WHERE spotify_id IS NOT NULL"
        )
        assert {r["spotify_id"]: r["ticketmaster_id"] for r in tm_ids} == {
            a["spotifyId"]: a["ticketmasterId"] for a in catalog
        }

        # Unlinked again (say the id was held by another row): searched this week, not due.
        await pool.execute("UPDATE artists SET ticketmaster_id = NULL WHERE id = $1", second)
        await env.reset_stats()
        found = await refresh_page(env, [linked, first, second])
        assert requests_of(await env.stats(), "ticketmaster") == 1  # the two linked, grouped
        assert found[second].events == [] and not found[second].by_keyword
        assert (await shows_by_artist(pool))[second] == catalog[2]["counts"]["upcoming_shows"]

        # A cycle later it is due again.
        await pool.execute(
            """UPDATE artists SET shows_keyword_searched_at = now() - interval '8 days'
               WHERE id = $1""",
            second,
        )
        await env.reset_stats()
        found = await refresh_page(env, [linked, first, second])
        assert requests_of(await env.stats(), "ticketmaster") == 2
        assert found[second].by_keyword


def test_groups_hold_25_attractions_and_600_expected_events_at_most() -> None:
    def artist(shows_ahead: int) -> grouped_shows.ShowArtist:
        return grouped_shows.ShowArtist(UUID(int=shows_ahead), "A", "K", shows_ahead, None)

    sizes = [len(g) for g in grouped_shows.event_groups([artist(0)] * 60)]
    assert sizes == [25, 25, 10]
    weights = [300, 299, 2, 600, 601, 0]
    groups = grouped_shows.event_groups([artist(w) for w in weights])
    assert [[a.shows_ahead for a in g] for g in groups] == [[300, 299], [2], [600], [601], [0]]
