"""update-active-artists end to end: the simulator, a real Postgres, imported artists with fan
activity; new releases found and stored as the simulator's ground truth says, the stale window,
and the request bound for an unchanged artist (/_sim/stats)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from uuid import UUID

import pytest

from tests.importer.support import stored_songs
from tests.jobs.sync_support import SyncEnv, requests_of, sync_env
from theset_daemon.catalog.activity import activity_score
from theset_daemon.db import sync as sync_db

JOB = "update-active-artists"
SUMMARY_KEYS = {
    "selected",
    "synced",
    "skipped",
    "failed",
    "newReleases",
    "showsUpserted",
    "songsUpserted",
    "apiCalls",
}


async def imported(env: SyncEnv, count: int) -> list[tuple[dict[str, Any], UUID]]:
    """The first ``count`` simulator artists with shows, imported, synced 7 hours ago."""
    chosen = [a for a in await env.sim_catalog() if a["counts"]["upcoming_shows"] > 0][:count]
    out = []
    for artist in chosen:
        out.append((artist, await env.import_artist(artist["spotifyId"])))
    await env.database.pool.execute(
        "UPDATE artists SET last_synced_at = now() - interval '7 hours'"
    )
    return out


async def add_views(env: SyncEnv, artist_id: UUID, views: int, follows: int = 0) -> None:
    pool = env.database.pool
    await pool.execute(
        "INSERT INTO page_views (artist_id) SELECT $1 FROM generate_series(1, $2)", artist_id, views
    )
    for _ in range(follows):
        await pool.execute(
            "INSERT INTO user_follows_artists (user_id, artist_id) VALUES ($1, $2)",
            uuid.uuid4(),
            artist_id,
        )


async def run_job(env: SyncEnv, *, scheduled: bool = False, **params: Any) -> dict[str, Any]:
    """A run through the job runner (CLI-triggered, or ``scheduled``); it must succeed, with the
    contract's summary."""
    return await env.run_succeeding(JOB, params, SUMMARY_KEYS, scheduled=scheduled)


async def test_new_releases_are_found_and_stored_like_an_import(env: SyncEnv) -> None:
    artists = await imported(env, 3)
    (first, first_id), (second, _), _ = artists
    await add_views(env, first_id, 30, follows=2)
    await env.sim_post("/_sim/catalog", {"artistName": first["name"], "newAlbums": 2})
    await env.sim_post("/_sim/catalog", {"artistName": second["name"], "newShows": 3})

    summary = await run_job(env, limit=10)
    assert summary["selected"] == 3 and summary["synced"] == 3 and summary["skipped"] == 0
    assert summary["newReleases"] == 2
    assert summary["songsUpserted"] > 0
    assert summary["showsUpserted"] == 3
    assert summary["apiCalls"]["setlistfm"] == 0

    truth = {a["spotifyId"]: a["counts"] for a in await env.sim_catalog()}
    pool = env.database.pool
    for artist, artist_id in artists:
        counts = truth[artist["spotifyId"]]
        songs, live, _ = await stored_songs(pool, artist_id)
        shows = await pool.fetchval(
            "SELECT count(*) FROM shows WHERE headliner_artist_id = $1", artist_id
        )
        row = await pool.fetchrow("SELECT * FROM artists WHERE id = $1", artist_id)
        assert songs == counts["tracks"] - counts["duplicate_tracks"], artist["name"]
        assert live == counts["live_tracks"]
        assert shows == counts["upcoming_shows"]
        assert row["total_albums"] == counts["albums"]
        assert row["total_songs"] == songs
        assert row["last_synced_at"] > dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        assert row["popularity"] is not None and row["followers"] is not None


async def test_recently_synced_artists_are_skipped_by_a_scheduled_run_unless_forced(
    env: SyncEnv,
) -> None:
    await imported(env, 2)
    await run_job(env)
    await env.reset_stats()
    summary = await run_job(env, scheduled=True)
    assert summary["selected"] == 2 and summary["skipped"] == 2 and summary["synced"] == 0
    stats = await env.stats()
    assert requests_of(stats, "spotify") == 0 and requests_of(stats, "ticketmaster") == 0
    env.set_job(JOB, force_sync=True)
    forced = await run_job(env, scheduled=True)
    assert forced["synced"] == 2 and forced["skipped"] == 0
    env.set_job(JOB, force_sync=False)
    # Triggered from the CLI: what it is asked, due or not (CONTRACT.md section 9).
    triggered = await run_job(env)
    assert triggered["synced"] == 2 and triggered["skipped"] == 0


async def test_an_unchanged_artist_costs_two_requests(env: SyncEnv) -> None:
    artists = await imported(env, 4)
    await run_job(env, forceSync=True)  # token fetched, everything stored
    await env.reset_stats()
    summary = await run_job(env, forceSync=True)
    assert summary["newReleases"] == 0 and summary["songsUpserted"] == 0
    assert summary["showsUpserted"] == 0
    stats = await env.stats()
    n = len(artists)
    # One album page each; popularity and followers for the page in one /artists?ids=; the
    # events of the page's attractions in one query.
    assert requests_of(stats, "spotify", "GET /v1/artists/{id}/albums") == n
    assert requests_of(stats, "spotify", "GET /v1/artists") == 1
    assert requests_of(stats, "spotify") == n + 1
    assert requests_of(stats, "ticketmaster") == 1
    assert requests_of(stats, "spotify") + requests_of(stats, "ticketmaster") <= 2 * n
    assert summary["apiCalls"] == {"spotify": n + 1, "ticketmaster": 1, "setlistfm": 0}


async def test_a_lone_unchanged_artist_costs_two_requests_in_development_mode(
    database_url: str,
) -> None:
    async with sync_env(database_url, artists=6) as env:
        await imported(env, 1)
        await env.sim_post("/_sim/spotify-mode", {"mode": "development"})
        env.set_upstream_mode("development")
        await run_job(env, forceSync=True)
        await env.reset_stats()
        summary = await run_job(env, forceSync=True)
        stats = await env.stats()
        assert summary["synced"] == 1 and summary["newReleases"] == 0
        assert requests_of(stats, "spotify") + requests_of(stats, "ticketmaster") == 2


async def test_a_group_that_matches_too_many_events_is_split(env: SyncEnv) -> None:
    artists = await imported(env, 3)
    # Each artist stores no show, so the three share one query; the simulator then matches
    # more events than deep paging reads (over 1,000): the group is halved until it can be read.
    await env.database.pool.execute("DELETE FROM shows")
    for artist, artist_id in artists:
        await add_views(env, artist_id, 10)  # still active without a show
        for _ in range(4):
            await env.sim_post("/_sim/catalog", {"artistName": artist["name"], "newShows": 100})
    await env.reset_stats()
    summary = await run_job(env, forceSync=True)
    truth = {a["spotifyId"]: a["counts"] for a in await env.sim_catalog()}
    assert summary["showsUpserted"] == sum(
        truth[a["spotifyId"]]["upcoming_shows"] for a, _ in artists
    )
    stats = await env.stats()
    # The group's first page (it says over 1,200 matched), then one artist alone and the other
    # two together: just over 400 and 800 events, 3 and 5 pages of 200.
    assert requests_of(stats, "ticketmaster") == 1 + 3 + 5


async def test_selection_is_the_most_active_first(env: SyncEnv) -> None:
    artists = await imported(env, 3)
    await add_views(env, artists[2][1], 200)  # 20 points of views on top of its shows
    picked = await sync_db.most_active_artists(env.database.pool, None, 1)
    assert [a.id for a in picked] == [artists[2][1]]
    summary = await run_job(env, limit=1)
    assert summary["selected"] == 1 and summary["synced"] == 1


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ((0, 0, 0, 0, 0), 0.0),
        ((1, 1, 0, 0, 0), 4.0),  # a vote of today counts 4
        ((0, 1, 0, 0, 0), 1.0),  # one earlier this week counts 1
        ((0, 0, 1, 0, 0), 2.0),
        ((0, 0, 0, 10, 0), 1.0),  # ten views weigh one vote
        ((0, 0, 0, 0, 3), 15.0),
        ((0, 0, 0, 0, 25), 50.0),  # a long tour is capped at 10 shows
        ((-1, -1, -1, -1, -1), 0.0),
        ((2, 5, 1, 20, 1), 3 * 2 + 5 + 2 + 2 + 5),
    ],
)
def test_activity_formula(counts: tuple[int, int, int, int, int], expected: float) -> None:
    assert activity_score(*counts) == pytest.approx(expected)


async def test_the_sql_ranking_is_the_formula(env: SyncEnv) -> None:
    artists = await imported(env, 2)
    (_, a_id), (_, b_id) = artists
    await add_views(env, a_id, 13, follows=3)
    pool = env.database.pool
    ranked = {a.id: a.rank for a in await sync_db.most_active_artists(pool, None, 10)}
    for artist_id, views, follows in ((a_id, 13, 3), (b_id, 0, 0)):
        upcoming = await pool.fetchval(
            """SELECT count(*) FROM shows WHERE headliner_artist_id = $1
               AND status = 'upcoming' AND date >= current_date""",
            artist_id,
        )
        assert ranked[artist_id] == pytest.approx(activity_score(0, 0, follows, views, upcoming))


async def test_a_broken_artist_fails_alone_and_the_run_is_partial(env: SyncEnv) -> None:
    await imported(env, 2)
    ghost: UUID = await env.database.pool.fetchval(
        """INSERT INTO artists (name, slug, spotify_id, total_albums)
           VALUES ('Ghost', 'ghost', '0000000000000000000000', 3) RETURNING id"""
    )
    await add_views(env, ghost, 1000)  # the most active: it goes first
    run = await env.run_job(JOB, {"forceSync": True})
    assert run["status"] == "partial", run
    assert run["summary"]["failed"] == 1 and run["summary"]["synced"] == 2
    assert [e["artistId"] for e in run["errors"]] == [str(ghost)]
