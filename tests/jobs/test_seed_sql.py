"""The seed's "Log Analysis" SQL, as written (trailing spaces aside), on runs the runner recorded
(migration 0013).

The three queries are those of TheSet's design document (``docs/CRON_JOBS_AND_PERFORMANCE.md``
of swbam/mysetlist-s4, section "Log Analysis"). They read ``cron_logs.created_at``,
``cron_metrics.created_at`` and ``cron_metrics.execution_time_ms``: the seed's names for our
``started_at``, ``recorded_at`` and ``duration_ms``, which keep working as before.
"""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from tests.jobs.conftest import Knobs, Resources, RunnerFactory

RECENT_EXECUTIONS = """
SELECT * FROM cron_logs
WHERE created_at >= NOW() - INTERVAL '24 hours'
ORDER BY created_at DESC;
"""

ERROR_PATTERNS = """
SELECT job_name, COUNT(*) as error_count
FROM cron_logs
WHERE status = 'failed'
AND created_at >= NOW() - INTERVAL '7 days'
GROUP BY job_name;
"""

PERFORMANCE_METRICS = """
SELECT job_name, AVG(execution_time_ms) as avg_time
FROM cron_metrics
WHERE created_at >= NOW() - INTERVAL '24 hours'
GROUP BY job_name;
"""


async def test_the_seed_log_analysis_queries_run_unchanged(
    resources: Resources, make_runner: RunnerFactory, knobs: Knobs
) -> None:
    runner = await make_runner()
    ok = await runner.run("update-active-artists")
    knobs.fail_items = frozenset(range(knobs.items))  # every item fails: the run fails
    failed = await runner.run("trending-artist-sync")
    knobs.fail_items = frozenset()
    knobs.raise_error = "the upstream said no"
    raised = await runner.run("calculate-trending")
    assert (ok["status"], failed["status"], raised["status"]) == ("succeeded", "failed", "failed")
    pool = resources.database.pool

    recent = await pool.fetch(RECENT_EXECUTIONS)
    assert [str(row["id"]) for row in recent] == [raised["runId"], failed["runId"], ok["runId"]]
    assert all(row["created_at"] == row["started_at"] for row in recent)

    errors = {row["job_name"]: row["error_count"] for row in await pool.fetch(ERROR_PATTERNS)}
    assert errors == {"trending-artist-sync": 1, "calculate-trending": 1}

    average = {row["job_name"]: row["avg_time"] for row in await pool.fetch(PERFORMANCE_METRICS)}
    ours = await pool.fetch(
        """SELECT job_name, AVG(duration_ms) AS avg_time FROM cron_metrics
           WHERE recorded_at >= now() - interval '24 hours' GROUP BY job_name"""
    )
    assert average == {row["job_name"]: row["avg_time"] for row in ours}
    assert set(average) == {"update-active-artists", "trending-artist-sync", "calculate-trending"}
    same = await pool.fetchval(
        """SELECT bool_and(created_at = recorded_at AND execution_time_ms = duration_ms)
           FROM cron_metrics"""
    )
    assert same is True


async def test_the_seed_names_follow_ours_and_cannot_be_written(
    resources: Resources, make_runner: RunnerFactory
) -> None:
    runner = await make_runner()
    run_id = uuid.UUID((await runner.run("calculate-trending"))["runId"])
    pool = resources.database.pool
    # Our names are the ones written; the seed's follow every change.
    await pool.execute(
        "UPDATE cron_logs SET started_at = started_at - interval '2 days' WHERE id = $1", run_id
    )
    await pool.execute(
        """UPDATE cron_metrics SET duration_ms = 1234, recorded_at = recorded_at - interval '2 days'
           WHERE run_id = $1""",
        run_id,
    )
    assert await pool.fetch(RECENT_EXECUTIONS) == []
    assert await pool.fetch(PERFORMANCE_METRICS) == []
    row = await pool.fetchrow(
        "SELECT execution_time_ms, created_at, recorded_at FROM cron_metrics WHERE run_id = $1",
        run_id,
    )
    assert row["execution_time_ms"] == 1234 and row["created_at"] == row["recorded_at"]
    with pytest.raises(asyncpg.PostgresError, match="can only be updated to DEFAULT"):
        await pool.execute("UPDATE cron_logs SET created_at = now() WHERE id = $1", run_id)
