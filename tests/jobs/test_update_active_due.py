"""update-active-artists' selection and per-artist outcome (issue 16, item 3), end to end through
the real runner, a real Postgres and the simulator: scheduled runs take the due artists and walk
past the fresh ones without using up ``limit``; a stable top 50 is synced whole by every
scheduled run (the clock driven through the stamps in the database, one 6 h period a run); a
triggered run takes the top ``limit`` most overdue first, due or not; and a failure at one
provider keeps what the other returned.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

import pytest

from tests.importer.support import stored_songs
from tests.jobs.sync_support import SyncEnv, sync_env
from tests.jobs.test_update_active_artists import SUMMARY_KEYS, add_views
from theset_daemon.catalog.activity import is_due, refreshed_at

SIM_ARTISTS = 60
JOB = "update-active-artists"
STALE = "now() - interval '7 hours'"  # due under any rule: the previous fire and then some


async def seed_active(env: SyncEnv, views: list[int]) -> list[UUID]:
    """One simulator artist per entry of ``views``, stored as an import leaves the artist row
    (its ids and release count; no song, no show), synced 7 hours ago, with that many page
    views; their ids in that order."""
    catalog = await env.sim_catalog()
    assert len(catalog) >= len(views)
    pool = env.database.pool
    ids: list[UUID] = []
    for n, (artist, seen) in enumerate(zip(catalog, views, strict=False)):
        artist_id: UUID = await pool.fetchval(
            f"""INSERT INTO artists (name, slug, spotify_id, ticketmaster_id, total_albums,
                                     last_synced_at, shows_synced_at)
                VALUES ($1, $2, $3, $4, $5, {STALE}, {STALE}) RETURNING id""",
            artist["name"],
            f"seeded-{n}",
            artist["spotifyId"],
            artist["ticketmasterId"],
            artist["counts"]["albums"],
        )
        await add_views(env, artist_id, seen)
        ids.append(artist_id)
    return ids


async def synced_by(env: SyncEnv, run: dict[str, Any]) -> list[UUID]:
    """The artists whose releases ``run`` stamped, in the order it stamped them."""
    rows = await env.database.pool.fetch(
        """SELECT a.id FROM artists a, cron_logs r
           WHERE r.id = $1 AND a.last_synced_at >= r.started_at ORDER BY a.last_synced_at""",
        UUID(run["runId"]),
    )
    return [r["id"] for r in rows]


async def one_period_on(env: SyncEnv, run: dict[str, Any]) -> None:
    """Move the database's clock to the next fire, 6 h after ``run``'s start: every stamp goes
    back by the period less the time since ``run`` started. A stamp ``run`` wrote d seconds into
    its work is then, when the next run starts, 6 h - d old: what a scheduler firing every 6 h
    shows the next fire (plus the moment between this and that start)."""
    await env.database.pool.execute(
        """WITH shift AS (SELECT interval '6 hours' - (now() - started_at) AS back
                          FROM cron_logs WHERE id = $1)
           UPDATE artists SET last_synced_at = last_synced_at - shift.back,
                              shows_synced_at = shows_synced_at - shift.back
           FROM shift""",
        UUID(run["runId"]),
    )


async def scheduled(env: SyncEnv) -> dict[str, Any]:
    """A scheduled run, which must succeed with the contract's summary and a progress total
    that was the walk's length; the Run."""
    run = await env.run_job(JOB, scheduled=True)
    assert run["status"] == "succeeded" and run["errors"] == [], run
    assert set(run["summary"]) == SUMMARY_KEYS
    assert run["trigger"] == "schedule"
    done = run["summary"]["selected"]
    assert run["progress"] == {"done": done, "total": done}, run
    return run


def counts_of(summary: dict[str, Any]) -> tuple[int, int, int, int]:
    return summary["selected"], summary["synced"], summary["skipped"], summary["failed"]


# --- the rule ------------------------------------------------------------------------------------

NOW = dt.datetime(2026, 12, 7, 18, 0, 3, tzinfo=dt.UTC)  # a fire at 18:00, begun 3 s late


@pytest.mark.parametrize(
    ("refreshed_ago", "due"),
    [
        (None, True),  # never
        (dt.timedelta(hours=6, seconds=1), True),
        (dt.timedelta(hours=5, minutes=59, seconds=50), True),  # the previous fire's, 13 s in
        (dt.timedelta(hours=5, minutes=10), True),  # stamped 50 min into a long run
        (dt.timedelta(hours=5), True),  # the line: STALE_AFTER less DUE_TOLERANCE
        (dt.timedelta(hours=4, minutes=59), False),
        (dt.timedelta(hours=1), False),  # a triggered run an hour ago
    ],
)
def test_the_previous_fire_is_due_a_recent_refresh_is_not(
    refreshed_ago: dt.timedelta | None, due: bool
) -> None:
    refreshed = None if refreshed_ago is None else NOW - refreshed_ago
    assert is_due(refreshed, NOW) is due


def test_an_artist_is_as_fresh_as_its_older_kind() -> None:
    recent, old = NOW - dt.timedelta(hours=1), NOW - dt.timedelta(hours=7)
    assert refreshed_at(recent, old) == old and refreshed_at(old, recent) == old
    assert refreshed_at(None, recent) is None and refreshed_at(recent, None) is None


# --- scheduled runs ------------------------------------------------------------------------------


async def test_a_stable_top_50_is_synced_whole_by_every_scheduled_run(env: SyncEnv) -> None:
    # 600 views (60 points) put the first 50 above whatever shows the sync stores (50 points at
    # most): the top 50 stays the same set from run to run, and the other 6 stay below it.
    ranked = await seed_active(env, [600] * 50 + [1] * 6)
    env.set_job(JOB, limit=50)
    for fire in range(4):
        run = await scheduled(env)
        assert counts_of(run["summary"]) == (50, 50, 0, 0), (fire, run["summary"])
        assert set(await synced_by(env, run)) == set(ranked[:50]), fire
        await one_period_on(env, run)


async def test_fresh_artists_are_walked_past_without_using_up_the_limit(env: SyncEnv) -> None:
    ranked = await seed_active(env, [1000 - 10 * n for n in range(12)])  # a strict ranking
    fresh = [ranked[0], ranked[1], ranked[2], ranked[4]]
    pool = env.database.pool
    await pool.execute(
        """UPDATE artists SET last_synced_at = now() - interval '1 hour',
                              shows_synced_at = now() - interval '1 hour'
           WHERE id = ANY($1)""",
        fresh,
    )
    env.set_job(JOB, limit=5)

    first = await scheduled(env)
    # The walk: 4 fresh ones passed, the first 5 due taken, and no further.
    assert counts_of(first["summary"]) == (9, 5, 4, 0), first["summary"]
    taken = [ranked[3], *ranked[5:9]]
    assert set(await synced_by(env, first)) == set(taken)

    second = await scheduled(env)
    # 3 due artists left: the walk reaches the ranking's end.
    assert counts_of(second["summary"]) == (12, 3, 9, 0), second["summary"]
    assert set(await synced_by(env, second)) == set(ranked[9:])


# --- triggered runs ------------------------------------------------------------------------------


async def test_a_triggered_run_takes_its_limit_most_overdue_first_due_or_not(
    env: SyncEnv,
) -> None:
    ranked = await seed_active(env, [600, 500, 400, 300, 200, 100])
    ages = {0: "1 hour", 2: "3 hours", 3: "10 hours", 4: "20 hours", 5: "20 hours"}
    pool = env.database.pool
    for rank, age in ages.items():
        await pool.execute(
            f"""UPDATE artists SET last_synced_at = now() - interval '{age}',
                                   shows_synced_at = now() - interval '{age}' WHERE id = $1""",
            ranked[rank],
        )
    await pool.execute("UPDATE artists SET last_synced_at = NULL WHERE id = $1", ranked[1])
    env.set_job(JOB, batch_size=1, delay_s=0)  # one at a time: the stamps give the order

    run = await env.run_job(JOB, {"limit": 4})
    assert run["status"] == "succeeded" and run["trigger"] == "cli", run
    assert counts_of(run["summary"]) == (4, 4, 0, 0), run["summary"]
    # The top 4 by activity, fresh one included; never synced first, then the oldest refresh.
    assert await synced_by(env, run) == [ranked[1], ranked[3], ranked[2], ranked[0]]


# --- one provider failing ------------------------------------------------------------------------


# The injected 500s would open the breaker for the run after them: kept shut here.
SHUT_BREAKERS = "".join(
    f"[upstream.{provider}.breaker]\nfailure_threshold = 1000\n"
    for provider in ("spotify", "ticketmaster")
)


@pytest.mark.parametrize("failing", ["ticketmaster", "spotify"])
async def test_a_failure_at_one_provider_keeps_what_the_other_returned(
    database_url: str, failing: str
) -> None:
    async with sync_env(database_url, artists=SIM_ARTISTS, extra=SHUT_BREAKERS) as env:
        await fail_one_provider(env, failing)


async def fail_one_provider(env: SyncEnv, failing: str) -> None:
    artist = next(a for a in await env.sim_catalog() if a["counts"]["upcoming_shows"] > 0)
    artist_id = await env.import_artist(artist["spotifyId"])
    pool = env.database.pool
    await pool.execute(f"UPDATE artists SET last_synced_at = {STALE}, shows_synced_at = {STALE}")
    await add_views(env, artist_id, 10)
    await env.sim_post("/_sim/catalog", {"artistName": artist["name"], "newAlbums": 1})
    await env.sim_post("/_sim/catalog", {"artistName": artist["name"], "newShows": 2})
    songs_before, _, _ = await stored_songs(pool, artist_id)
    shows_before = await shows_of(env, artist_id)
    # Every attempt of every request to that provider, retries included, answers 500.
    await env.sim_post("/_sim/faults", {"provider": failing, "status": 500, "count": 100})

    run = await env.run_job(JOB, {"limit": 1})

    async with env.control.delete(env.sim_url + "/_sim/faults") as response:
        assert response.status == 200
    assert run["status"] == "failed", run  # its only artist failed...
    assert [e["artistId"] for e in run["errors"]] == [str(artist_id)]
    assert counts_of(run["summary"]) == (1, 0, 0, 1)
    truth = next(a for a in await env.sim_catalog() if a["name"] == artist["name"])["counts"]
    songs, _, _ = await stored_songs(pool, artist_id)
    row = await pool.fetchrow(
        f"""SELECT total_albums, last_synced_at > {STALE} AS releases_stamped,
                   shows_synced_at > {STALE} AS shows_stamped FROM artists WHERE id = $1""",
        artist_id,
    )
    if failing == "ticketmaster":  # ...but the releases Spotify returned are stored and stamped
        assert run["summary"]["newReleases"] == 1 and run["summary"]["showsUpserted"] == 0
        assert songs == truth["tracks"] - truth["duplicate_tracks"] > songs_before
        assert row["total_albums"] == truth["albums"]
        assert await shows_of(env, artist_id) == shows_before
        assert (row["releases_stamped"], row["shows_stamped"]) == (True, False)
    else:  # ...but the shows Ticketmaster returned are stored and stamped
        assert run["summary"]["showsUpserted"] == 2 and run["summary"]["newReleases"] == 0
        assert await shows_of(env, artist_id) == truth["upcoming_shows"] == shows_before + 2
        assert songs == songs_before and row["total_albums"] == truth["albums"] - 1
        assert (row["releases_stamped"], row["shows_stamped"]) == (False, True)

    # Its older stamp is old: the next scheduled run takes it and fills in the other part.
    again = await scheduled(env)
    assert counts_of(again["summary"]) == (1, 1, 0, 0), again["summary"]
    assert await shows_of(env, artist_id) == truth["upcoming_shows"]
    assert (await stored_songs(pool, artist_id))[0] == truth["tracks"] - truth["duplicate_tracks"]


async def shows_of(env: SyncEnv, artist_id: UUID) -> int:
    count: int = await env.database.pool.fetchval(
        "SELECT count(*) FROM shows WHERE headliner_artist_id = $1", artist_id
    )
    return count
