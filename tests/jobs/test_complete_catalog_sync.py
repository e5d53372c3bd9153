"""complete-catalog-sync end to end: the simulator's upstreams, a real Postgres, the job runner.

The stored rows are checked against the simulator's ground truth (/_sim/catalog): every artist
refreshed, every upcoming show stored, the newest setlist.fm page of past setlists stored as
``actual`` setlists with songs matched to the catalog; then a planted duplicate merged with its
votes, and a clean integrity report.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg

from theset_daemon.importer.phases import import_songs
from theset_daemon.jobs import complete_catalog_sync
from theset_daemon.jobs.runner import JobRunner

from .catalog_support import (
    Env,
    RecordingReporter,
    job_env,
    plant_setlist,
    plant_show,
    plant_song,
    plant_vote,
)

PHASE_NAMES = ["artist-sync", "show-sync", "data-cleanup", "integrity-checks"]


async def seed_artists(env: Env, catalog: list[dict[str, Any]]) -> dict[str, UUID]:
    """Artist rows as an earlier import left them: name and Spotify id, nothing synced."""
    rows = await env.pool.fetch(
        """INSERT INTO artists (name, slug, spotify_id)
           SELECT name, 'seeded-' || spotify_id, spotify_id
           FROM unnest($1::text[], $2::text[]) AS x (name, spotify_id)
           RETURNING spotify_id, id""",
        [a["name"] for a in catalog],
        [a["spotifyId"] for a in catalog],
    )
    return {row["spotify_id"]: row["id"] for row in rows}


async def sim_stats(env: Env) -> dict[str, Any]:
    url = f"{env.upstreams.simulator_url}/_sim/stats"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        providers: dict[str, Any] = (await response.json())["providers"]
        return providers


async def plant_duplicate_with_votes(conn: asyncpg.Connection, artist_id: UUID) -> int:
    """A second copy of one of the artist's songs, in a setlist with votes; returns the votes."""
    song = await conn.fetchrow(
        """SELECT id, name, normalized_title FROM songs
           WHERE artist_id = $1 AND NOT is_live ORDER BY popularity DESC NULLS LAST LIMIT 1""",
        artist_id,
    )
    assert song is not None
    copy = await plant_song(
        conn,
        artist_id,
        f"{song['name']} - Remastered 2011",
        song["normalized_title"],
        album_type="compilation",
        album_name="Greatest Hits",
        popularity=0,
    )
    show = await plant_show(conn, artist_id, days_ahead=40)
    entries = await plant_setlist(conn, show, artist_id, [copy, song["id"]])
    for entry in entries:
        for _ in range(3):
            await plant_vote(conn, uuid.uuid4(), entry)
    return 6


async def test_a_full_run_syncs_cleans_and_checks_the_catalog(database_url: str) -> None:
    async with job_env(database_url) as env:
        catalog = await env.sim_catalog()
        ids = await seed_artists(env, catalog)
        # One artist with a song catalog, so its past setlists have songs to match.
        busiest = max(catalog, key=lambda a: (a["counts"]["past_setlists"], a["counts"]["tracks"]))
        busiest_id = ids[busiest["spotifyId"]]
        await import_songs(env.upstreams, env.pool, busiest_id, busiest["spotifyId"])
        async with env.pool.acquire() as conn:
            votes_before = await plant_duplicate_with_votes(conn, busiest_id)

        runner = JobRunner(env.database, env.upstreams, env.cache, env.holder)
        await runner.start()
        try:
            run = await asyncio.wait_for(
                runner.run("complete-catalog-sync", {"maxArtists": 100}), timeout=90
            )
        finally:
            await runner.close()

        assert run["status"] == "succeeded", run
        summary = run["summary"]
        assert [p["name"] for p in summary["phases"]] == PHASE_NAMES
        assert all(p["status"] == "succeeded" for p in summary["phases"]), summary
        assert all(p["durationMs"] >= 0 for p in summary["phases"])
        assert summary["duplicatesRemoved"] == 1
        assert summary["integrity"]["ok"] is True, summary["integrity"]
        assert {v["check"] for v in summary["integrity"]["violations"]} >= {
            "duplicate_song_ids",
            "orphaned_votes",
            "shows_without_venue",
            "songs_without_artist",
            "show_vote_count_mismatch",
            "artist_total_songs_mismatch",
        }
        assert run["progress"]["done"] == run["progress"]["total"] == 2 * len(catalog) + 2

        async with env.pool.acquire() as conn:
            artists = await conn.fetch(
                """SELECT spotify_id, popularity, followers, last_synced_at, shows_synced_at,
                          total_shows, mbid
                   FROM artists WHERE spotify_id IS NOT NULL"""
            )
            assert len(artists) == len(catalog)
            assert all(a["last_synced_at"] and a["shows_synced_at"] for a in artists)
            assert all(a["popularity"] is not None for a in artists)  # extended mode
            by_spotify = {a["spotify_id"]: a for a in artists}
            for entry in catalog:
                artist_id = ids[entry["spotifyId"]]
                counts = entry["counts"]
                upcoming = await conn.fetchval(
                    """SELECT count(*) FROM shows
                       WHERE headliner_artist_id = $1 AND ticketmaster_id IS NOT NULL
                         AND slug NOT LIKE 'show-%'  -- the show planted for the votes""",
                    artist_id,
                )
                assert upcoming == counts["upcoming_shows"], entry["name"]
                actual = await conn.fetchval(
                    """SELECT count(*) FROM setlists
                       WHERE artist_id = $1 AND type = 'actual' AND setlistfm_id IS NOT NULL""",
                    artist_id,
                )
                assert actual == min(20, counts["past_setlists"]), entry["name"]
                if counts["past_setlists"]:
                    assert by_spotify[entry["spotifyId"]]["mbid"] is not None
            # The busiest artist's played songs are matched to its catalog, in order, once each.
            played = await conn.fetch(
                """SELECT l.id, count(ss.id) AS n, min(ss.position) AS first,
                          max(ss.position) AS last
                   FROM setlists l JOIN setlist_songs ss ON ss.setlist_id = l.id
                   WHERE l.artist_id = $1 AND l.type = 'actual' GROUP BY l.id""",
                busiest_id,
            )
            assert played, "no setlist song matched the catalog"
            assert all(row["first"] == 1 and row["last"] == row["n"] for row in played)
            assert (
                await conn.fetchval(
                    """SELECT count(*) FROM shows s JOIN setlists l ON l.show_id = s.id
                   WHERE l.type = 'actual' AND (s.date >= current_date OR s.status <> 'completed'
                                                OR s.venue_id IS NULL)"""
                )
                == 0
            )
            # The duplicate merged, its votes on the kept song.
            assert await conn.fetchval("SELECT count(*) FROM votes") == votes_before
            dupes = await conn.fetchval(
                """SELECT count(*) FROM (SELECT 1 FROM songs WHERE NOT is_live
                   GROUP BY artist_id, normalized_title HAVING count(*) > 1) d"""
            )
            assert dupes == 0


class StopAfterPhase(RecordingReporter):
    """Asks the run to stop as soon as the checkpoint records ``phase`` as finished."""

    def __init__(self, phase: str, stopping: asyncio.Event) -> None:
        super().__init__()
        self.phase = phase
        self.stopping = stopping

    async def checkpoint(self, checkpoint: Mapping[str, Any]) -> None:
        await super().checkpoint(checkpoint)
        phases = checkpoint.get("run", {}).get("phases", [])
        if any(p["name"] == self.phase for p in phases):
            self.stopping.set()


async def test_an_interrupted_run_resumes_after_its_last_finished_phase(database_url: str) -> None:
    async with job_env(database_url) as env:
        catalog = await env.sim_catalog()
        await seed_artists(env, catalog)
        stopping = asyncio.Event()
        ctx, _ = env.context("complete-catalog-sync", {"includeDataCleanup": False})
        reporter = StopAfterPhase("artist-sync", stopping)
        ctx.reporter = reporter
        ctx.stopping = stopping
        first = await complete_catalog_sync.run(ctx)
        assert [p["name"] for p in first.summary.as_json()["phases"]] == ["artist-sync"]
        saved = reporter.checkpoints[-1]
        assert saved["artist-sync"]["pipeline"]["done"] == len(catalog)

        before = await sim_stats(env)
        resumed, recorder = env.context(
            "complete-catalog-sync", {"includeDataCleanup": False}, checkpoint=dict(saved)
        )
        second = await complete_catalog_sync.run(resumed)
        after = await sim_stats(env)

        assert [(p["name"], p["status"]) for p in second.summary.as_json()["phases"]] == [
            ("artist-sync", "succeeded"),
            ("show-sync", "succeeded"),
            ("data-cleanup", "skipped"),
            ("integrity-checks", "succeeded"),
        ]
        # The artist phase was not run again: no Spotify request in the resumed run.
        assert after["spotify"]["requests"] == before["spotify"]["requests"]
        assert after["ticketmaster"]["requests"] > before["ticketmaster"]["requests"]
        # Both artist phases, the setlist step's (every artist: never read) and the integrity
        # checks.
        assert second.items_total == 3 * len(catalog) + 1
        assert recorder.progress_calls[-1][:2] == (2 * len(catalog) + 2, 2 * len(catalog) + 2)


class StopAtFirstItem(RecordingReporter):
    """Asks the run to stop once its first item is done, in the middle of its first page."""

    def __init__(self, stopping: asyncio.Event) -> None:
        super().__init__()
        self.stopping = stopping

    async def progress(
        self, done: int, total: int, summary: Mapping[str, Any] | None = None
    ) -> None:
        await super().progress(done, total, summary)
        if done >= 1:
            self.stopping.set()


async def test_a_run_stopped_within_its_first_page_resumes_with_its_cutoff(
    database_url: str,
) -> None:
    """Regression (found by tests/faults/test_signals.py): the cut-off was saved only with the
    first whole page or phase, so a run stopped before either resumed with a new cut-off and
    synced again every artist it had already synced."""
    async with job_env(database_url) as env:
        catalog = await env.sim_catalog()
        await seed_artists(env, catalog)
        stopping = asyncio.Event()
        ctx, _ = env.context("complete-catalog-sync")
        reporter = StopAtFirstItem(stopping)
        ctx.reporter, ctx.stopping = reporter, stopping
        await complete_catalog_sync.run(ctx)
        synced = {
            r["id"]: r["last_synced_at"]
            for r in await env.pool.fetch(
                "SELECT id, last_synced_at FROM artists WHERE last_synced_at IS NOT NULL"
            )
        }
        # Stopped mid-page (a window of batch_size in flight, the rest never started): no page
        # checkpoint, but the cut-off is saved.
        assert 0 < len(synced) < len(catalog)
        assert reporter.checkpoints, "nothing saved: a resume would take a new cut-off"
        saved = reporter.checkpoints[-1]
        assert "artist-sync" not in saved and "cutoff" in saved["run"], saved

        # Resumed, as far as the end of its artist phase (the phase this is about).
        resumed, _ = env.context("complete-catalog-sync", checkpoint=dict(saved))
        resumed.stopping = asyncio.Event()
        resumed.reporter = StopAfterPhase("artist-sync", resumed.stopping)
        await complete_catalog_sync.run(resumed)
        after = {
            r["id"]: r["last_synced_at"]
            for r in await env.pool.fetch(
                "SELECT id, last_synced_at FROM artists WHERE slug LIKE 'seeded-%'"
            )
        }
        assert {k: after[k] for k in synced} == synced  # not synced again
        assert all(after.values())  # the rest were
        progress = resumed.reporter.checkpoints[-1]["artist-sync"]["pipeline"]
        assert progress["done"] == len(catalog) - len(synced), progress


async def test_a_failing_artist_is_isolated_and_the_run_is_partial(database_url: str) -> None:
    async with job_env(database_url) as env:
        catalog = await env.sim_catalog()
        await seed_artists(env, catalog[:4])
        ghost = await env.pool.fetchval(
            """INSERT INTO artists (name, slug, spotify_id)
               VALUES ('Nobody Upstream', 'nobody-upstream', '0000000000000000000000')
               RETURNING id"""
        )
        runner = JobRunner(env.database, env.upstreams, env.cache, env.holder)
        await runner.start()
        try:
            run = await asyncio.wait_for(
                runner.run("complete-catalog-sync", {"performIntegrityChecks": False}), timeout=60
            )
        finally:
            await runner.close()
        assert run["status"] == "partial", run
        phases = {p["name"]: p["status"] for p in run["summary"]["phases"]}
        assert phases["artist-sync"] == "partial"
        assert phases["integrity-checks"] == "skipped"
        assert str(ghost) in {e["artistId"] for e in run["errors"]}
        synced = await env.pool.fetchval(
            "SELECT count(*) FROM artists WHERE last_synced_at IS NOT NULL AND id <> $1", ghost
        )
        assert synced == 4
