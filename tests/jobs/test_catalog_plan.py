"""complete-catalog-sync follows the refresh plan (issue 16, item 2), through the real runner, a
real Postgres and the simulator: a scheduled run refreshes only the due artists (by tier and
target age), as many as its share of the budget pays for; a triggered run takes its
``maxArtists`` most overdue, due or not."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

from tests.importer.support import stored_songs
from tests.jobs.sync_support import SyncEnv, requests_of, sync_env
from tests.jobs.test_update_active_artists import add_views, imported

JOB = "complete-catalog-sync"
NO_MAINTENANCE = {"include_data_cleanup": False, "perform_integrity_checks": False}
#: name -> (hours since every kind was fetched, None: never; page views now)
ARTISTS: dict[str, tuple[float | None, int]] = {
    "active-due": (7, 1),  # active: 6 h target
    "active-fresh": (1, 1),
    "other-due": (8 * 24, 0),  # everyone else: 7 days
    "other-fresh": (2 * 24, 0),
    "never": (None, 0),
}
# Most overdue first, weighted by activity: never (infinitely), active-due (7/6 * 1.10),
# other-due (192/168), other-fresh (48/168), active-fresh (1/6 * 1.10).
PLAN_ORDER = ["never", "active-due", "other-due", "other-fresh", "active-fresh"]
DUE = {"never", "active-due", "other-due"}


async def seed(env: SyncEnv) -> dict[str, UUID]:
    """The artists of :data:`ARTISTS`, as imports left them, without a Ticketmaster attraction
    (each costs one keyword request, so the budget counts artists)."""
    catalog = await env.sim_catalog()
    ids: dict[str, UUID] = {}
    for (name, (hours, views)), sim in zip(ARTISTS.items(), catalog, strict=False):
        fetched = None if hours is None else dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours)
        ids[name] = await env.database.pool.fetchval(
            """INSERT INTO artists (name, slug, spotify_id, last_synced_at, shows_synced_at,
                                    setlists_synced_at)
               VALUES ($1, $2, $3, $4, $4, $4) RETURNING id""",
            sim["name"],
            f"plan-{name}",
            sim["spotifyId"],
            fetched,
        )
        await add_views(env, ids[name], views)
    return ids


async def refreshed_by(env: SyncEnv, run: dict[str, Any], column: str) -> set[UUID]:
    rows = await env.database.pool.fetch(
        f"SELECT a.id FROM artists a, cron_logs r WHERE r.id = $1 AND a.{column} >= r.started_at",
        UUID(run["runId"]),
    )
    return {row["id"] for row in rows}


def set_ticketmaster_budget(env: SyncEnv, daily_quota: int, reserve: float) -> None:
    current = env.holder.current
    ticketmaster = current.upstream.ticketmaster.model_copy(
        update={"daily_quota": daily_quota, "interactive_reserve": reserve}
    )
    upstream = current.upstream.model_copy(update={"ticketmaster": ticketmaster})
    env.holder.current = current.model_copy(update={"upstream": upstream})


async def test_a_scheduled_run_refreshes_the_due_artists_only(database_url: str) -> None:
    async with sync_env(database_url) as env:
        ids = await seed(env)
        env.set_job(JOB, max_artists=1, delay_s=0, **NO_MAINTENANCE)  # no cap on a scheduled run
        run = await env.run_job(JOB, scheduled=True)
        assert run["status"] == "succeeded", run
        due = {ids[name] for name in DUE}
        assert await refreshed_by(env, run, "last_synced_at") == due
        assert await refreshed_by(env, run, "shows_synced_at") == due
        assert run["progress"]["total"] == 2 * len(DUE) + 2  # two artist phases, two others

        # Refreshed now: the next scheduled run finds nothing due.
        again = await env.run_job(JOB, scheduled=True)
        assert await refreshed_by(env, again, "shows_synced_at") == set()


async def test_a_scheduled_run_takes_what_its_share_of_the_budget_pays_for(
    database_url: str,
) -> None:
    async with sync_env(database_url) as env:
        ids = await seed(env)
        env.set_job(JOB, delay_s=0, **NO_MAINTENANCE)
        # 10 a day less an 80% reserve: 2 background requests a day, 2 keyword searches; a
        # weekly run may spend a day's share.
        set_ticketmaster_budget(env, daily_quota=10, reserve=0.8)
        run = await env.run_job(JOB, scheduled=True)
        assert run["status"] == "succeeded", run  # sized to fit: never stopped by the quota
        assert "quotaStopped" not in run["summary"]
        assert await refreshed_by(env, run, "shows_synced_at") == {
            ids["never"],
            ids["active-due"],
        }
        # Spotify has no daily quota: its share is what its rate allows, every due artist.
        assert await refreshed_by(env, run, "last_synced_at") == {ids[name] for name in DUE}


async def test_a_triggered_run_takes_the_most_overdue_due_or_not(database_url: str) -> None:
    async with sync_env(database_url) as env:
        ids = await seed(env)
        env.set_job(JOB, delay_s=0, **NO_MAINTENANCE)
        run = await env.run_job(
            JOB,
            {"maxArtists": 4, "includeDataCleanup": False, "performIntegrityChecks": False},
        )
        assert run["status"] == "succeeded", run
        first_four = {ids[name] for name in PLAN_ORDER[:4]}  # other-fresh is not due, still taken
        assert await refreshed_by(env, run, "shows_synced_at") == first_four
        assert await refreshed_by(env, run, "last_synced_at") == first_four


async def test_the_artist_sync_reads_new_releases_as_update_active_artists_does(
    database_url: str,
) -> None:
    async with sync_env(database_url) as env:
        artists = await imported(env, 2)
        (released, released_id), _unchanged = artists
        await env.sim_post("/_sim/catalog", {"artistName": released["name"], "newAlbums": 2})
        before = await stored_songs(env.database.pool, released_id)
        await env.reset_stats()
        run = await env.run_job(
            JOB, {"maxArtists": 2, "includeDataCleanup": False, "performIntegrityChecks": False}
        )
        assert run["status"] == "succeeded", run

        truth = {a["spotifyId"]: a["counts"] for a in await env.sim_catalog()}
        pool = env.database.pool
        for artist, artist_id in artists:
            counts = truth[artist["spotifyId"]]
            songs, _, _ = await stored_songs(pool, artist_id)
            row = await pool.fetchrow("SELECT * FROM artists WHERE id = $1", artist_id)
            assert songs == counts["tracks"] - counts["duplicate_tracks"], artist["name"]
            assert row["total_albums"] == counts["albums"] and row["total_songs"] == songs
        assert (await stored_songs(pool, released_id))[0] > before[0]
        # The unchanged artist cost one album page: the changed one that, plus its new albums.
        album_pages = requests_of(await env.stats(), "spotify", "GET /v1/artists/{id}/albums")
        assert album_pages == 2, await env.stats()
