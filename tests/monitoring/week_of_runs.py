"""A week of runs in ``cron_logs``, as the status page's charts and ``/status/history`` read it:
rows written straight into the table, ended (a running or interrupted row would be resumed by the
runner), each at a known time, outcome and duration."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import asyncpg


class SeededRun(NamedTuple):
    job: str
    hours_ago: float
    status: str
    duration_ms: int


#: Over the last days; one run 9 days ago, outside the 7 the page shows.
WEEK: tuple[SeededRun, ...] = (
    SeededRun("calculate-trending", 1, "succeeded", 1_200),
    SeededRun("calculate-trending", 2, "succeeded", 900),
    SeededRun("calculate-trending", 26, "failed", 300),
    SeededRun("calculate-trending", 50, "succeeded", 1_500),
    SeededRun("calculate-trending", 9 * 24, "succeeded", 1_000),
    SeededRun("update-active-artists", 3, "partial", 45_000),
    SeededRun("update-active-artists", 27, "succeeded", 38_000),
    SeededRun("update-active-artists", 5 * 24, "failed", 2_000),
    SeededRun("trending-artist-sync", 30, "succeeded", 120_000),
)


async def seed_week(pool: asyncpg.Pool, now: datetime | None = None) -> None:
    now = now or datetime.now(UTC)
    for run in WEEK:
        started = now - timedelta(hours=run.hours_ago)
        await pool.execute(
            """INSERT INTO cron_logs (job_name, trigger, scheduled_for, status, started_at,
                                      finished_at, duration_ms, error)
               VALUES ($1, 'schedule', $2, $3, $2, $4, $5, $6)""",
            run.job,
            started,
            run.status,
            started + timedelta(milliseconds=run.duration_ms),
            run.duration_ms,
            "the database went away" if run.status == "failed" else None,
        )


def in_week(now: datetime) -> Counter[str]:
    """Seeded runs per job inside the page's 7 UTC days (today and the 6 before)."""
    first_day = now.date() - timedelta(days=6)
    return Counter(
        run.job for run in WEEK if (now - timedelta(hours=run.hours_ago)).date() >= first_day
    )


async def running_elsewhere(pool: asyncpg.Pool, job: str) -> object:
    """A run of ``job`` that another machine's daemon holds (its lease is believed): the id of
    its ``cron_logs`` row. A trigger now answers 409 ``already_running`` with that id."""
    holder = "another-host:4242:elsewhere"
    run_id = await pool.fetchval(
        """INSERT INTO cron_logs (job_name, trigger, status, holder)
           VALUES ($1, 'schedule', 'running', $2) RETURNING id""",
        job,
        holder,
    )
    await pool.execute(
        """INSERT INTO job_leases (job_name, holder, run_id, expires_at)
           VALUES ($1, $2, $3, now() + interval '1 hour')""",
        job,
        holder,
        run_id,
    )
    return run_id
