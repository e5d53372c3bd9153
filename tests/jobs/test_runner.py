"""The job runner against a real Postgres: run rows, events, metrics, leases, once per cluster,
interruption and resume. The jobs are test functions (``probe_job``) doing real writes."""

from __future__ import annotations

import asyncio
import socket
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from tests.jobs.conftest import Knobs, Resources, RunnerFactory, fetch_run, job_table
from tests.waiting import eventually
from theset_daemon.jobs.context import JobContext, JobResult
from theset_daemon.jobs.errors import AlreadyRunning, FireTaken, UnknownJob
from theset_daemon.jobs.runner import run_status
from theset_daemon.jobs.summaries import Summary


async def events_of(resources: Resources, run_id: Any) -> list[tuple[int, str, dict[str, Any]]]:
    rows = await resources.database.pool.fetch(
        "SELECT seq, event, payload FROM cron_run_events WHERE run_id = $1 ORDER BY seq", run_id
    )
    return [(r["seq"], r["event"], r["payload"]) for r in rows]


async def test_a_run_records_its_row_events_and_metrics(
    resources: Resources, make_runner: RunnerFactory, knobs: Knobs
) -> None:
    runner = await make_runner()
    run = await runner.run("update-active-artists", {"limit": 7}, trigger="cli")
    assert run["status"] == "succeeded", run
    assert run["job"] == "update-active-artists" and run["trigger"] == "cli"
    # params are complete: the body over the [jobs.update-active-artists] defaults
    assert run["params"] == {"limit": 7, "forceSync": False}
    assert run["progress"] == {"done": 5, "total": 5}
    assert run["summary"] == {"written": 5}
    assert run["errors"] == [] and run["error"] is None
    assert run["durationMs"] >= 0 and run["finishedAt"] is not None

    events = await events_of(resources, uuid.UUID(run["runId"]))
    assert [seq for seq, _, _ in events] == list(range(1, len(events) + 1))
    assert events[0][1] == "progress" and events[0][2]["status"] == "running"
    assert events[-1][1] == "complete" and events[-1][2] == run
    assert all(event == "progress" for _, event, _ in events[:-1])

    metrics = await resources.database.pool.fetchrow(
        "SELECT * FROM cron_metrics WHERE run_id = $1", uuid.UUID(run["runId"])
    )
    assert metrics is not None and metrics["job_name"] == "update-active-artists"
    assert metrics["peak_memory_bytes"] > 10_000_000  # a Python process's RSS, sampled
    assert set(metrics["api_calls"]) == {"spotify", "ticketmaster", "setlistfm"}
    assert await resources.database.pool.fetchval("SELECT count(*) FROM job_leases") == 0


async def test_progress_events_are_coalesced(
    resources: Resources, make_runner: RunnerFactory, knobs: Knobs
) -> None:
    knobs.items, knobs.item_delay_s = 40, 0.02  # ~0.8 s of work, 40 progress calls
    runner = await make_runner(progress_interval_s=0.25)
    run = await runner.run("calculate-trending")
    events = await events_of(resources, uuid.UUID(run["runId"]))
    assert run["status"] == "succeeded"
    assert 2 <= len(events) <= 10, len(events)  # start, a few coalesced, the end


async def test_some_items_failed_is_partial_all_failed_is_failed(
    make_runner: RunnerFactory, knobs: Knobs
) -> None:
    runner = await make_runner()
    knobs.fail_items = frozenset({1, 3})
    run = await runner.run("trending-artist-sync")
    assert run["status"] == "partial", run
    assert run["errors"] == [
        {"artistId": "artist-1", "message": "item 1 failed on purpose"},
        {"artistId": "artist-3", "message": "item 3 failed on purpose"},
    ]
    knobs.fail_items = frozenset(range(5))
    run = await runner.run("trending-artist-sync")
    assert run["status"] == "failed" and run["error"] == "every item failed (5 of 5)"


async def test_a_job_that_raises_fails_with_its_error_and_a_failed_event(
    resources: Resources, make_runner: RunnerFactory, knobs: Knobs
) -> None:
    knobs.raise_error = "the upstream said no"
    runner = await make_runner()
    run = await runner.run("calculate-trending")
    assert run["status"] == "failed"
    assert run["error"] == "RuntimeError: the upstream said no"
    events = await events_of(resources, uuid.UUID(run["runId"]))
    assert events[-1][1] == "failed" and events[-1][2]["status"] == "failed"


def test_the_status_rule() -> None:
    assert run_status(JobResult(Summary(), 0, 0)) == "succeeded"
    assert run_status(JobResult(Summary(), 10, 0)) == "succeeded"
    assert run_status(JobResult(Summary(), 10, 1)) == "partial"
    assert run_status(JobResult(Summary(), 10, 10)) == "failed"


async def test_bad_params_and_unknown_jobs_are_refused_before_anything_is_written(
    resources: Resources, make_runner: RunnerFactory
) -> None:
    runner = await make_runner()
    with pytest.raises(ValidationError, match="limit"):
        await runner.trigger("update-active-artists", {"limit": 0})
    with pytest.raises(ValidationError, match="nope"):
        await runner.trigger("update-active-artists", {"nope": 1})
    with pytest.raises(UnknownJob):
        await runner.trigger("no-such-job")
    assert await resources.database.pool.fetchval("SELECT count(*) FROM cron_logs") == 0


async def test_two_runners_in_one_database_one_run_one_409(
    resources: Resources, make_runner: RunnerFactory, knobs: Knobs
) -> None:
    first, second = await make_runner(), await make_runner()
    knobs.gate.clear()  # the job holds still until we let it go
    outcomes = await asyncio.gather(
        first.trigger("complete-catalog-sync"),
        second.trigger("complete-catalog-sync"),
        return_exceptions=True,
    )
    started = [o for o in outcomes if isinstance(o, uuid.UUID)]
    refused = [o for o in outcomes if isinstance(o, AlreadyRunning)]
    assert len(started) == 1 and len(refused) == 1, outcomes
    assert refused[0].run_id == started[0]
    # the loser learns the winner's run id from the database, not from its own memory
    loser = second if isinstance(outcomes[1], AlreadyRunning) else first
    with pytest.raises(AlreadyRunning) as again:
        await loser.trigger("complete-catalog-sync")
    assert again.value.run_id == started[0]
    knobs.gate.set()
    winner = first if loser is second else second
    run = await winner.wait(started[0])
    assert run["status"] == "succeeded"
    assert await resources.database.pool.fetchval("SELECT count(*) FROM cron_logs") == 1
    # once it ended, either may run it again
    again_run = await loser.run("complete-catalog-sync")
    assert again_run["status"] == "succeeded"


async def test_a_scheduled_fire_runs_once_across_runners(
    resources: Resources, make_runner: RunnerFactory
) -> None:
    first, second = await make_runner(), await make_runner()
    fire = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
    outcomes = await asyncio.gather(
        first.trigger("calculate-trending", trigger="schedule", scheduled_for=fire),
        second.trigger("calculate-trending", trigger="schedule", scheduled_for=fire),
        return_exceptions=True,
    )
    run_ids = [o for o in outcomes if isinstance(o, uuid.UUID)]
    assert len(run_ids) == 1, outcomes
    assert all(isinstance(o, (AlreadyRunning, FireTaken)) for o in outcomes if o not in run_ids)
    owner = first if isinstance(outcomes[0], uuid.UUID) else second
    await owner.wait(run_ids[0])
    # after it ended, the same fire (a restart, a late scheduler) is refused, not rerun
    for runner in (first, second):
        with pytest.raises(FireTaken):
            await runner.trigger("calculate-trending", trigger="schedule", scheduled_for=fire)
    rows = await resources.database.pool.fetch("SELECT scheduled_for, trigger FROM cron_logs")
    assert [(r["scheduled_for"], r["trigger"]) for r in rows] == [(fire, "schedule")]


async def test_lease_takeover_after_the_holder_stalled_past_its_expiry(
    resources: Resources, make_runner: RunnerFactory, knobs: Knobs
) -> None:
    pool = resources.database.pool
    knobs.gate.clear()
    # A holder "killed": it never renews (renewal interval beyond the test) and its lease is short.
    dead = await make_runner(lease_ttl_s=0.5, renew_interval_s=3600, holder_id="elsewhere:1:dead")
    run_id = await dead.trigger("update-active-artists")
    await knobs.started.wait()
    taker = await make_runner()
    assert await taker.resume_pending() == []  # the lease is still valid: hands off
    await eventually(
        lambda: pool.fetchval(
            "SELECT expires_at <= clock_timestamp() FROM job_leases WHERE run_id = $1", run_id
        ),
        what="the dead holder's lease expired",
    )
    assert await taker.resume_pending() == [run_id]  # expired: taken over and resumed
    row = await fetch_run(pool, run_id)
    assert row["holder"] == taker.holder_id and row["attempts"] == 2 and row["status"] == "running"

    # The stalled holder wakes up: its renewal fails, its job is stopped, it writes nothing more.
    await dead.tasks.renew()
    stale_view = await dead.wait(run_id)
    assert stale_view["status"] == "running"  # the row as the new holder keeps it
    knobs.gate.set()
    run = await taker.wait(run_id)
    assert run["status"] == "succeeded" and run["attempts"] == 2
    items = await pool.fetch("SELECT item FROM job_probe WHERE run_id = $1 ORDER BY item", run_id)
    assert [r["item"] for r in items] == list(range(5))


async def test_a_lease_of_a_dead_process_on_this_host_is_taken_at_once(
    resources: Resources, make_runner: RunnerFactory
) -> None:
    pool = resources.database.pool
    proc = await asyncio.create_subprocess_exec("true")
    await proc.wait()  # a pid that no longer runs
    ghost = f"{socket.gethostname()}:{proc.pid}:ghost"
    orphan = await pool.fetchval(
        """INSERT INTO cron_logs (job_name, trigger, status, holder, checkpoint)
           VALUES ('calculate-trending', 'http', 'running', $1, '{"next": 3}') RETURNING id""",
        ghost,
    )
    await pool.execute(
        """INSERT INTO job_leases (job_name, holder, run_id, expires_at)
           VALUES ('calculate-trending', $1, $2, now() + interval '1 hour')""",
        ghost,
        orphan,
    )
    runner = await make_runner()  # start-up resumes it, without waiting out the hour
    run = await runner.wait(orphan)
    assert run["status"] == "succeeded" and run["attempts"] == 2
    items = await pool.fetch("SELECT item FROM job_probe WHERE run_id = $1 ORDER BY item", orphan)
    assert [r["item"] for r in items] == [3, 4]  # from its checkpoint on


async def test_shutdown_interrupts_and_the_next_start_resumes_from_the_checkpoint(
    resources: Resources, make_runner: RunnerFactory, knobs: Knobs
) -> None:
    pool = resources.database.pool
    knobs.items, knobs.item_delay_s = 30, 0.05
    runner = await make_runner()
    run_id = await runner.trigger("complete-catalog-sync", {"maxArtists": 9})
    await eventually(
        lambda: pool.fetchval("SELECT (checkpoint->>'next')::int >= 3 FROM cron_logs"),
        what="three items done",
    )
    await runner.close()
    row = await fetch_run(pool, run_id)
    assert row["status"] == "interrupted" and row["finished_at"] is None
    assert 0 < row["checkpoint"]["next"] < 30
    assert await pool.fetchval("SELECT count(*) FROM job_leases") == 0

    resumed = await make_runner()
    run = await resumed.wait(run_id)
    assert run["status"] == "succeeded" and run["attempts"] == 2
    assert run["params"]["maxArtists"] == 9  # the stored params, not the defaults
    items = await pool.fetch("SELECT item FROM job_probe WHERE run_id = $1 ORDER BY item", run_id)
    assert [r["item"] for r in items] == list(range(30))
    events = await events_of(resources, run_id)
    assert [e for _, e, _ in events].count("complete") == 1
    assert "interrupted" in [p["status"] for _, _, p in events]


async def test_a_job_that_ignores_stopping_is_cancelled_after_the_drain(
    resources: Resources, make_runner: RunnerFactory
) -> None:
    async def stubborn(ctx: JobContext) -> JobResult:
        await ctx.reporter.checkpoint({"stage": "sleeping"})
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    pool = resources.database.pool
    runner = await make_runner(jobs=job_table(stubborn))
    run_id = await runner.trigger("calculate-trending")
    await eventually(
        lambda: pool.fetchval("SELECT checkpoint->>'stage' = 'sleeping' FROM cron_logs"),
        what="the job asleep",
    )
    runner.begin_shutdown(drain_s=0.3)
    waited = await asyncio.wait_for(runner.wait(run_id), 5)
    assert waited["status"] == "interrupted"
    await runner.close()
    row = await fetch_run(resources.database.pool, run_id)
    assert row["status"] == "interrupted" and row["checkpoint"] == {"stage": "sleeping"}


async def test_a_run_interrupted_too_often_is_given_up(
    resources: Resources, make_runner: RunnerFactory
) -> None:
    pool = resources.database.pool
    seen: list[dict[str, Any]] = []

    async def hook(run: dict[str, Any]) -> None:
        seen.append(run)

    runner = await make_runner(max_attempts=3, sweep_interval_s=3600)
    runner.monitor_hooks.append(hook)
    run_id = await pool.fetchval(
        """INSERT INTO cron_logs (job_name, trigger, status, attempts)
           VALUES ('update-active-artists', 'schedule', 'interrupted', 3) RETURNING id"""
    )
    assert await runner.resume_pending() == []
    row = await fetch_run(pool, run_id)
    assert row["status"] == "failed" and row["finished_at"] is not None
    assert "gave up after 3" in row["error"]
    assert [r["runId"] for r in seen] == [str(run_id)]
    assert await pool.fetchval("SELECT count(*) FROM job_leases") == 0


async def test_a_new_trigger_supersedes_an_interrupted_run(
    resources: Resources, make_runner: RunnerFactory
) -> None:
    pool = resources.database.pool
    runner = await make_runner(sweep_interval_s=3600)  # no sweep claims it before the trigger
    old = await pool.fetchval(
        """INSERT INTO cron_logs (job_name, trigger, status)
           VALUES ('update-active-artists', 'http', 'interrupted') RETURNING id"""
    )
    new = await runner.run("update-active-artists")
    row = await fetch_run(pool, old)
    assert row["status"] == "failed" and row["error"] == f"superseded by run {new['runId']}"
    assert new["status"] == "succeeded"


async def test_a_failing_monitor_hook_never_breaks_the_run(
    make_runner: RunnerFactory,
) -> None:
    calls: list[str] = []

    async def broken(run: dict[str, Any]) -> None:
        calls.append("broken")
        raise RuntimeError("the monitor is down")

    async def fine(run: dict[str, Any]) -> None:
        calls.append(run["status"])

    runner = await make_runner()
    runner.monitor_hooks.extend([broken, fine])
    run = await runner.run("calculate-trending")
    assert run["status"] == "succeeded"
    await eventually(lambda: len(calls) == 2, what="both hooks called")
    assert calls == ["broken", "succeeded"]
