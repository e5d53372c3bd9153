"""The import's share of a graceful stop: its drain runs beside the jobs' drain, not after it, and
only a job still running is marked interrupted."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from tests.waiting import eventually
from theset_daemon import config
from theset_daemon.app import build_app
from theset_daemon.appkeys import RUNNER, UPSTREAMS
from theset_daemon.config import SettingsHolder
from theset_daemon.db import imports
from theset_daemon.db.pool import open_database
from theset_daemon.jobs.context import CalculateTrendingParams, JobContext, JobResult
from theset_daemon.jobs.registry import JOBS, JobSpec

GRACE_S = 4.0
DRAIN_S = GRACE_S / 2  # each drain: min(its cap, half the grace)
CONFIG = f"""
[log]
level = "warning"
[shutdown]
grace_seconds = {GRACE_S}
[upstream.simulator]
artists = 10
latency_ms = 0
"""


async def stubborn(ctx: JobContext) -> JobResult:
    """A job that never reaches an item boundary: only the drain's end stops it."""
    await ctx.reporter.checkpoint({"stage": "sleeping"})
    await asyncio.sleep(3600)
    raise AssertionError("unreachable")


async def test_a_job_and_an_import_in_flight_are_drained_together(
    aiohttp_client: Any, database_url: str
) -> None:
    """Regression (found by tests/faults/test_signals.py): the importer started its drain only
    once the job runner had ended its own, so with a job and an import both in flight the stop
    took the two drains one after the other (the whole grace, and the process outlived it).
    Now both are counted from the moment shutdown begins: the stop takes one drain, and both
    are marked interrupted."""
    settings = config.parse(CONFIG, {"DATABASE_URL": database_url})
    jobs = {**JOBS, "calculate-trending": JobSpec("calculate-trending", CalculateTrendingParams,
                                                  stubborn)}  # fmt: skip
    app = build_app(SettingsHolder(settings, Path("unused.toml")), jobs=jobs)
    client = await aiohttp_client(app)
    sim_url = app[UPSTREAMS].simulator_url
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{sim_url}/_sim/catalog") as answer:
            artist = max((await answer.json())["artists"], key=lambda a: a["counts"]["albums"])
        response = await client.post("/api/artists/import", json={"spotifyId": artist["spotifyId"]})
        assert response.status == 202, await response.text()
        job_id = (await response.json())["jobId"]
        # From now on every upstream answer takes a minute: phases 2 and 3 hang in flight.
        for provider in ("spotify", "ticketmaster"):
            fault = {"provider": provider, "latencyMs": 60_000, "count": 1000}
            async with session.post(f"{sim_url}/_sim/faults", json=fault) as answer:
                assert answer.status < 300
    run_id = await app[RUNNER].trigger("calculate-trending")

    conn = await asyncpg.connect(database_url)
    try:
        await eventually(  # both in flight: the job asleep, the import in its phases 2-3
            lambda: conn.fetchval(
                """SELECT (SELECT checkpoint->>'stage' FROM cron_logs WHERE id = $1) = 'sleeping'
                      AND (SELECT stage FROM import_status WHERE job_id = $2::uuid) = 'shows'""",
                run_id,
                job_id,
            ),
            what="the job and the import in flight",
        )
        shutdown_began = await conn.fetchval("SELECT clock_timestamp()")
        await client.close()  # the app's shutdown and teardown, as on SIGTERM
        imported = await conn.fetchrow(
            "SELECT status, updated_at FROM import_status WHERE job_id = $1::uuid", job_id
        )
        ran = await conn.fetchval("SELECT status FROM cron_logs WHERE id = $1", run_id)
    finally:
        await conn.close()
    assert (imported["status"], ran) == ("interrupted", "interrupted")
    # Marked interrupted when the (one) drain ran out, not a second drain later. (The app's
    # teardown goes on a little longer: the in-process simulator gives its own sleeping
    # handlers 2 s.)
    interrupted_after_s = (imported["updated_at"] - shutdown_began).total_seconds()
    assert DRAIN_S <= interrupted_after_s < 1.5 * DRAIN_S, interrupted_after_s


async def test_a_job_that_reached_its_end_is_never_marked_interrupted(database_url: str) -> None:
    """Regression (found reading the stop path for tests/faults/test_signals.py): the shutdown's
    cancellation can land after an import's last write (its ``completed`` row committed, the
    cache invalidation after it under way). Marking it interrupted then failed on
    ``import_status_finished_iff_terminal``, so the cancelled task ended in a
    ``CheckViolationError`` instead of its cancellation. Now an ended job is left as it is,
    and only a running one is marked."""
    settings = config.parse(CONFIG, {"DATABASE_URL": database_url})
    async with open_database(settings.database) as database:
        pool = database.pool
        artist_ids = await pool.fetch(
            """INSERT INTO artists (name, slug) VALUES ('Ended', 'ended'), ('Running', 'running')
               RETURNING id"""
        )
        jobs = []
        for row in artist_ids:
            async with pool.acquire() as conn:
                job, _ = await imports.create_or_join(conn, row["id"], {}, "owner")
            jobs.append(job["job_id"])
        ended, running = jobs
        await imports.update_and_record(
            pool, ended, event="complete", status="completed", stage="done", progress=100
        )

        assert await imports.mark_interrupted(pool, ended, "owner", {"shows": True}) is None
        # Another owner's job (taken over after this owner went silent) is not ours to mark.
        assert await imports.mark_interrupted(pool, running, "someone else", {"x": 1}) is None
        marked = await imports.mark_interrupted(pool, running, "owner", {"shows": True})
        assert marked is not None and marked["status"] == "interrupted"

        states = {
            r["job_id"]: r["status"]
            for r in await pool.fetch("SELECT job_id, status FROM import_status")
        }
        assert states == {ended: "completed", running: "interrupted"}
        last_event = await pool.fetchval(
            "SELECT event FROM import_events WHERE job_id = $1 ORDER BY seq DESC LIMIT 1", ended
        )
        assert last_event == "complete"
        # Nothing for the next start to resume but the job that was running.
        claimed, exhausted = await imports.claim_resumable(pool, "next-start", 45, 3)
        assert [r["job_id"] for r in claimed] == [running] and exhausted == []
