"""A job that reaches its share of a provider's day (CONTRACT.md section 9, "Reserve"): it stops
calling that provider, finishes the rest of its work, ends ``partial`` with ``quotaStopped``, writes
no error per artist, and the next run goes on where it stopped. Imports still get the reserve.

The jobs run through the real runner on the real ledger (``upstream_quota_days``), as the daemon
runs them; what reached the simulator is read from ``/_sim/stats``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

from tests.jobs.sync_support import SyncEnv, requests_of, sync_env
from theset_daemon.jobs.context import UpdateActiveArtistsParams
from theset_daemon.jobs.pipeline import run_pipeline
from theset_daemon.jobs.quota_stops import QuotaStops
from theset_daemon.jobs.summaries import (
    CompleteCatalogSyncSummary,
    TrendingArtistSyncSummary,
    UpdateActiveArtistsSummary,
)
from theset_daemon.upstream.errors import QuotaExhausted
from theset_daemon.upstream.quota import Caps

SIM_ARTISTS = 16


def set_quota(env: SyncEnv, provider: str, **values: Any) -> None:
    """``[upstream.<provider>]`` quota settings changed the way a SIGHUP would."""
    current = env.holder.current
    section = getattr(current.upstream, provider).model_copy(update=values)
    upstream = current.upstream.model_copy(update={provider: section})
    env.holder.current = current.model_copy(update={"upstream": upstream})


async def reset_ledger(env: SyncEnv) -> None:
    """Today's counts back to zero (what the setup's imports spent is not the job's)."""
    await env.database.pool.execute(
        """UPDATE upstream_quota_days SET interactive = 0, background = 0,
               reported_available = NULL, reported_at_total = NULL, spent_until = NULL"""
    )


async def ledger(env: SyncEnv, provider: str) -> dict[str, int]:
    row = await env.database.pool.fetchrow(
        "SELECT interactive, background FROM upstream_quota_days WHERE provider = $1", provider
    )
    return {"interactive": 0, "background": 0} if row is None else dict(row)


async def imported(env: SyncEnv, count: int) -> list[tuple[dict[str, Any], UUID]]:
    """``count`` simulator artists with upcoming shows (so they are active), imported, then made
    due (synced 7 hours ago) and without a Ticketmaster id, never searched by name (so one events
    query each by name: ``refresh/grouped_shows.py``)."""
    chosen = [a for a in await env.sim_catalog() if a["counts"]["upcoming_shows"] > 0][:count]
    assert len(chosen) == count
    out = [(artist, await env.import_artist(artist["spotifyId"])) for artist in chosen]
    await env.database.pool.execute(
        """UPDATE artists SET last_synced_at = now() - interval '7 hours',
               shows_synced_at = now() - interval '7 hours', ticketmaster_id = NULL,
               shows_keyword_searched_at = NULL"""
    )
    return out


async def song_counts(env: SyncEnv) -> dict[UUID, int]:
    rows = await env.database.pool.fetch("SELECT artist_id, count(*) AS n FROM songs GROUP BY 1")
    return {r["artist_id"]: r["n"] for r in rows}


async def synced_stamps(env: SyncEnv) -> dict[str, set[UUID]]:
    rows = await env.database.pool.fetch(
        """SELECT id, last_synced_at > now() - interval '1 minute' AS artist,
                  shows_synced_at > now() - interval '1 minute' AS shows,
                  setlists_synced_at > now() - interval '1 minute' AS setlists FROM artists"""
    )
    return {
        "artist": {r["id"] for r in rows if r["artist"]},
        "shows": {r["id"] for r in rows if r["shows"]},
        "setlists": {r["id"] for r in rows if r["setlists"]},
    }


async def test_update_active_artists_stops_ticketmaster_at_its_share_and_resumes(
    env: SyncEnv,
) -> None:
    artists = await imported(env, 6)
    ids = {artist_id for _, artist_id in artists}
    for artist, _ in artists:  # a new release each: the Spotify part has work to do
        await env.sim_post("/_sim/catalog", {"artistName": artist["name"], "newAlbums": 1})
    # 6 a day, half kept for imports: the job may send 3, one events query per artist.
    set_quota(env, "ticketmaster", daily_quota=6, interactive_reserve=0.5)
    share = Caps.of(env.holder.current.upstream.ticketmaster).background
    assert share == 3
    songs_before = await song_counts(env)
    await reset_ledger(env)
    await env.reset_stats()

    run = await env.run_job("update-active-artists", {"limit": 10})

    assert run["status"] == "partial", run
    assert run["errors"] == [] and run["error"] is None
    summary = run["summary"]
    assert summary["quotaStopped"] == ["ticketmaster"]
    assert summary["selected"] == 6 and summary["failed"] == 0
    assert summary["synced"] == share  # both parts done for these; the rest wait
    assert summary["newReleases"] == 6  # Spotify's part done for every artist
    stats = await env.stats()
    assert requests_of(stats, "ticketmaster") == share  # never past the background share
    assert await ledger(env, "ticketmaster") == {"interactive": 0, "background": share}
    assert summary["apiCalls"]["ticketmaster"] == share
    stamps = await synced_stamps(env)
    # Each part stamps its own kind: the releases of all, the shows of those that got theirs.
    assert len(stamps["shows"]) == share and stamps["artist"] == ids
    left = ids - stamps["shows"]
    assert len(left) == 6 - share
    songs_after = await song_counts(env)
    assert all(songs_after[i] > songs_before[i] for i in ids)  # the new releases' songs

    # The next day's quota (here: a bigger one) lets the next scheduled run go on with the
    # artists left: their shows are what is old.
    set_quota(env, "ticketmaster", daily_quota=1000)
    await env.reset_stats()
    env.set_job("update-active-artists", limit=10)
    again = await env.run_job("update-active-artists", scheduled=True)
    assert again["status"] == "succeeded", again
    assert "quotaStopped" not in again["summary"]
    assert again["summary"]["synced"] == len(left)
    assert again["summary"]["skipped"] == share  # synced by the first run
    assert again["summary"]["newReleases"] == 0  # their releases were stored the first time
    assert requests_of(await env.stats(), "ticketmaster") == len(left)
    assert (await synced_stamps(env))["shows"] == ids


async def test_an_import_gets_the_reserve_after_a_job_used_its_share(env: SyncEnv) -> None:
    artists = await imported(env, 4)
    set_quota(env, "ticketmaster", daily_quota=10, interactive_reserve=0.7)
    await reset_ledger(env)
    run = await env.run_job("update-active-artists", {"limit": 10})
    assert run["status"] == "partial" and run["summary"]["quotaStopped"] == ["ticketmaster"]
    assert run["errors"] == []
    assert await ledger(env, "ticketmaster") == {"interactive": 0, "background": 3}

    taken = {artist["spotifyId"] for artist, _ in artists}
    fresh = next(
        a
        for a in await env.sim_catalog()
        if a["counts"]["upcoming_shows"] > 0 and a["spotifyId"] not in taken
    )
    await env.reset_stats()
    artist_id = await env.import_artist(fresh["spotifyId"])  # raises if a phase was refused
    shows = await env.database.pool.fetchval(
        "SELECT count(*) FROM shows WHERE headliner_artist_id = $1", artist_id
    )
    assert shows > 0
    used = await ledger(env, "ticketmaster")
    assert used["background"] == 3 and used["interactive"] == requests_of(
        await env.stats(), "ticketmaster"
    )
    assert used["interactive"] > 0


async def test_trending_sync_stopped_by_spotify_passes_the_rest_over(env: SyncEnv) -> None:
    artists = await imported(env, 4)
    await env.database.pool.execute(
        "UPDATE artists SET song_catalog_synced_at = NULL, trending_score = 1"
    )
    set_quota(env, "spotify", daily_quota=1, interactive_reserve=0.5)  # a share of 0
    await reset_ledger(env)
    await env.reset_stats()

    run = await env.run_job("trending-artist-sync", {"limit": 10})

    assert run["status"] == "partial", run
    assert run["errors"] == []
    summary = run["summary"]
    assert summary["quotaStopped"] == ["spotify"]
    assert summary["selected"] == len(artists) and summary["synced"] == 0
    assert summary["failed"] == 0
    assert requests_of(await env.stats(), "spotify") == 0
    assert not await env.database.pool.fetchval(
        "SELECT count(*) FROM artists WHERE song_catalog_synced_at IS NOT NULL"
    )

    set_quota(env, "spotify", daily_quota=0)  # no daily quota (Spotify's default)
    again = await env.run_job("trending-artist-sync", {"limit": 10})
    assert again["status"] == "succeeded", again
    assert again["summary"]["synced"] == len(artists)
    assert "quotaStopped" not in again["summary"]


async def test_catalog_sync_stopped_by_setlistfm_leaves_those_setlists_unsynced(
    database_url: str,
) -> None:
    extra = "\n[jobs.complete-catalog-sync]\ndelay_s = 0\n"
    async with sync_env(database_url, artists=SIM_ARTISTS, extra=extra) as env:
        artists = await imported(env, 5)
        ids = {artist_id for _, artist_id in artists}
        # Their setlists never read: due, each a name search and the newest page.
        await env.database.pool.execute("UPDATE artists SET mbid = NULL")
        # 4 a day, half kept: the job may send 2 (a name search and the setlists: one artist).
        set_quota(env, "setlistfm", daily_quota=4, interactive_reserve=0.5)
        env.set_job("complete-catalog-sync", batch_size=1)  # one artist after the other
        await reset_ledger(env)
        await env.reset_stats()
        body = {"maxArtists": 100, "includeDataCleanup": False, "performIntegrityChecks": False}

        run = await env.run_job("complete-catalog-sync", body)

        assert run["status"] == "partial", run
        assert run["errors"] == []
        summary = run["summary"]
        assert summary["quotaStopped"] == ["setlistfm"]
        phases = {p["name"]: p["status"] for p in summary["phases"]}
        assert phases["artist-sync"] == "succeeded" and phases["show-sync"] == "partial"
        stats = await env.stats()
        assert requests_of(stats, "setlistfm") <= 2
        assert (await ledger(env, "setlistfm"))["background"] == requests_of(stats, "setlistfm")
        # Ticketmaster answered for every artist: their shows are synced, whatever setlist.fm
        # did; the setlists not read are not, so the next run takes them.
        assert requests_of(stats, "ticketmaster") >= len(ids)
        stamps = await synced_stamps(env)
        assert stamps["artist"] == ids == stamps["shows"]
        left = ids - stamps["setlists"]
        assert 0 < len(left) < len(ids)

        # The next run asks setlist.fm for exactly the artists left.
        set_quota(env, "setlistfm", daily_quota=1000)
        await env.reset_stats()
        again = await env.run_job("complete-catalog-sync", {**body, "maxArtists": len(left)})
        assert again["status"] == "succeeded", again
        assert "quotaStopped" not in again["summary"]
        assert (await synced_stamps(env))["setlists"] == ids
        assert requests_of(await env.stats(), "setlistfm") == 2 * len(left)  # search, setlists


# --- the parts ---------------------------------------------------------------------------------


async def test_the_pipeline_takes_a_quota_refusal_as_no_failure(env: SyncEnv) -> None:
    """The net under the jobs: a refusal out of ``prepare`` or ``process`` stops the provider for
    the run, the page's items still run, and nothing is reported failed."""
    items = [str(n) for n in range(5)]
    ctx, recorder = env.context("update-active-artists", UpdateActiveArtistsParams())
    processed: list[str] = []

    async def fetch(cursor: Any, limit: int) -> list[str]:
        start = 0 if cursor is None else int(cursor) + 1
        return items[start : start + limit]

    async def prepare(page: Any) -> None:
        raise QuotaExhausted("spotify", "/artists", 60.0, reason="share used up")

    async def process(item: str) -> None:
        if item == "2":
            raise QuotaExhausted("ticketmaster", "/events.json", 120.0, reason="share used up")
        processed.append(item)

    result = await run_pipeline(
        ctx, fetch_page=fetch, process=process, prepare=prepare, cursor_of=int,
        id_of=lambda item: item, total=len(items),
    )  # fmt: skip
    assert (result.done, result.failed) == (5, 0)
    assert sorted(processed) == ["0", "1", "3", "4"]
    assert recorder.failures == []
    assert ctx.quota.stopped == ["spotify", "ticketmaster"]
    assert ctx.spent("ticketmaster") and ctx.spent("spotify")
    assert await ctx.unless_spent("spotify", _never) is None


async def _never() -> None:
    raise AssertionError("a spent provider was called")


def test_quota_stops_travel_in_the_checkpoint_and_the_summary() -> None:
    now = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    stops = QuotaStops()
    assert stops.summary({"synced": 1}) == {"synced": 1}  # nothing stopped: unchanged
    assert stops.checkpoint({"pipeline": {}}) == {"pipeline": {}}
    refusal = QuotaExhausted("ticketmaster", "/events.json", 3600.0, reason="share used up")
    assert stops.stop(refusal, now) is True
    assert stops.stop(refusal, now) is False  # logged once
    saved = stops.checkpoint({"pipeline": {}})
    resumed = QuotaStops.from_checkpoint(saved)
    assert resumed.spent("ticketmaster", now + dt.timedelta(minutes=59))
    assert not resumed.spent("ticketmaster", now + dt.timedelta(minutes=61))  # it reset
    assert resumed.summary({"synced": 1}) == {"synced": 1, "quotaStopped": ["ticketmaster"]}
    assert QuotaStops.from_checkpoint({"quotaStopped": {"spotify": "garbage"}}).stopped == []


def test_the_summaries_document_quota_stopped_and_omit_it_when_empty() -> None:
    for model in (
        UpdateActiveArtistsSummary,
        TrendingArtistSyncSummary,
        CompleteCatalogSyncSummary,
    ):
        schema = model.model_json_schema(by_alias=True, mode="serialization")
        assert schema["properties"]["quotaStopped"]["type"] == "array"
        assert "quotaStopped" not in model().as_json()
        stopped = model.from_json({"quotaStopped": ["setlistfm", "ticketmaster"]})
        assert stopped.as_json()["quotaStopped"] == ["setlistfm", "ticketmaster"]
