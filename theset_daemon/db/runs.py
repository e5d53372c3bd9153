"""Queries of the cron-run aggregate: ``job_leases``, ``cron_logs`` (the Run) and ``cron_metrics``.

The invariant every query here keeps: a run is ``running`` only while its holder holds the job's
lease. The lease is taken, the run row written and the lease pointed at it in one transaction; the
final status and the lease's release land in another. So whoever takes a free (or expired) lease
knows that any ``running`` row of that job is an orphan of a dead holder, and marks it
``interrupted`` for a resume. The partial unique index ``cron_logs_one_running_per_job`` and the
``UNIQUE (job_name, scheduled_for)`` key are the last guards behind the lease: one running run per
job, and one run per scheduled fire, whatever two instances or a restart try.

Leases, not session advisory locks: an advisory lock lives on a pooled connection and vanishes
silently when that connection is recycled or lost; a lease row states its holder and expiry,
survives a reconnect, and can be inspected (and taken over) by anyone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from theset_daemon.db.conn import Connection
from theset_daemon.progress.store import EventName, record_event
from theset_daemon.timestamps import iso_utc

Executor = Connection | asyncpg.Pool

_COLUMNS = """
    id, job_name, trigger, scheduled_for, params, status, started_at, finished_at, duration_ms,
    progress_done, progress_total, summary, errors, error, checkpoint, holder, attempts
"""


def render(row: asyncpg.Record | Mapping[str, Any]) -> dict[str, Any]:
    """A ``cron_logs`` row as the contract's Run (CONTRACT.md section 4), plus ``error`` (why a
    failed run failed; null otherwise) and ``attempts``."""
    return {
        "runId": str(row["id"]),
        "job": row["job_name"],
        "trigger": row["trigger"],
        "status": row["status"],
        "scheduledFor": iso_utc(row["scheduled_for"]),
        "startedAt": iso_utc(row["started_at"]),
        "finishedAt": iso_utc(row["finished_at"]),
        # Only an ended run has a duration; an interrupted one keeps its active time so far
        # in the row (resumed attempts add to it) but reports none until it ends.
        "durationMs": row["duration_ms"] if row["finished_at"] is not None else None,
        "params": row["params"],
        "progress": {"done": row["progress_done"], "total": row["progress_total"]},
        "summary": row["summary"],
        "errors": row["errors"],
        "error": row["error"],
        "attempts": row["attempts"],
    }


def checkpoint_of(row: asyncpg.Record | Mapping[str, Any]) -> dict[str, Any]:
    value = row["checkpoint"]
    return dict(value) if value else {}


# --- leases ----------------------------------------------------------------------------------


async def take_lease(conn: Connection, job: str, holder: str, ttl_s: float) -> bool:
    """Take the job's lease if it is free or expired (inside the caller's transaction).

    Two takers at once serialise on the lease row: the second re-checks the expiry against the
    first's committed row and gets nothing.
    """
    taken = await conn.fetchval(
        """INSERT INTO job_leases (job_name, holder, acquired_at, renewed_at, expires_at)
           VALUES ($1, $2, now(), now(), now() + make_interval(secs => $3))
           ON CONFLICT (job_name) DO UPDATE
               SET holder = EXCLUDED.holder, run_id = NULL, acquired_at = EXCLUDED.acquired_at,
                   renewed_at = EXCLUDED.renewed_at, expires_at = EXCLUDED.expires_at
               WHERE job_leases.expires_at <= clock_timestamp()
           RETURNING 1""",
        job,
        holder,
        ttl_s,
    )
    return taken is not None


async def lease_holders(conn: Executor) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT job_name, holder, run_id, expires_at FROM job_leases")


async def expire_leases_of(conn: Executor, holders: Sequence[str]) -> None:
    """Leases of holders known to be dead (their process is gone) may be taken at once."""
    await conn.execute(
        """UPDATE job_leases SET expires_at = acquired_at + interval '1 microsecond'
           WHERE holder = ANY($1::text[])""",
        list(holders),
    )


async def point_lease(conn: Connection, job: str, holder: str, run_id: UUID) -> None:
    await conn.execute(
        "UPDATE job_leases SET run_id = $3 WHERE job_name = $1 AND holder = $2",
        job,
        holder,
        run_id,
    )


async def renew_lease(conn: Executor, job: str, holder: str, ttl_s: float) -> bool:
    """Push the expiry out; False when the lease is no longer ours (taken over after a stall)."""
    renewed = await conn.fetchval(
        """UPDATE job_leases SET renewed_at = now(),
                                 expires_at = now() + make_interval(secs => $3)
           WHERE job_name = $1 AND holder = $2 RETURNING 1""",
        job,
        holder,
        ttl_s,
    )
    return renewed is not None


async def release_lease(conn: Executor, job: str, holder: str) -> None:
    await conn.execute("DELETE FROM job_leases WHERE job_name = $1 AND holder = $2", job, holder)


async def current_run_id(conn: Executor, job: str) -> UUID | None:
    """The run a busy job is running: the lease's, else the running row's."""
    run_id: UUID | None = await conn.fetchval(
        """SELECT coalesce(
               (SELECT run_id FROM job_leases WHERE job_name = $1),
               (SELECT id FROM cron_logs WHERE job_name = $1 AND status = 'running'))""",
        job,
    )
    return run_id


# --- run rows --------------------------------------------------------------------------------


async def fetch(conn: Executor, run_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_COLUMNS} FROM cron_logs WHERE id = $1", run_id)


async def recent(conn: Executor, job: str | None, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT {_COLUMNS} FROM cron_logs WHERE ($1::text IS NULL OR job_name = $1)
            ORDER BY started_at DESC, id DESC LIMIT $2""",
        job,
        limit,
    )


async def insert_run(
    conn: Connection,
    *,
    job: str,
    trigger: str,
    scheduled_for: datetime | None,
    params: Mapping[str, Any],
    holder: str,
) -> asyncpg.Record | None:
    """A new running run; None when its scheduled fire already has a run (or, as a last guard,
    when another run of the job is running)."""
    return await conn.fetchrow(
        f"""INSERT INTO cron_logs (job_name, trigger, scheduled_for, params, status, holder)
            VALUES ($1, $2, $3, $4::jsonb, 'running', $5)
            ON CONFLICT DO NOTHING
            RETURNING {_COLUMNS}""",
        job,
        trigger,
        scheduled_for,
        dict(params),
        holder,
    )


async def fire_taken(conn: Executor, job: str, scheduled_for: datetime) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT 1 FROM cron_logs WHERE job_name = $1 AND scheduled_for = $2",
            job,
            scheduled_for,
        )
    )


async def interrupt_orphans(conn: Connection, job: str, *, alive: Sequence[UUID]) -> list[UUID]:
    """Runs of ``job`` left ``running`` that are not among ``alive`` (the runs the caller's
    process is running): we hold the lease now, so nobody runs them any more. Their holder is
    gone, or it is us and their end write never landed (the database was away). They become
    ``interrupted``, checkpoint kept, for a resume."""
    rows = await conn.fetch(
        """UPDATE cron_logs SET status = 'interrupted'
           WHERE job_name = $1 AND status = 'running' AND NOT (id = ANY($2::uuid[]))
           RETURNING id""",
        job,
        list(alive),
    )
    for row in rows:
        await record_run_event(conn, row["id"], "progress")
    return [row["id"] for row in rows]


async def interrupted_runs(conn: Connection, job: str) -> list[asyncpg.Record]:
    """The job's interrupted runs, newest first, locked for the caller's transaction."""
    return await conn.fetch(
        f"""SELECT {_COLUMNS} FROM cron_logs WHERE job_name = $1 AND status = 'interrupted'
            ORDER BY started_at DESC, id DESC FOR UPDATE""",
        job,
    )


async def claim(conn: Connection, run_id: UUID, holder: str) -> asyncpg.Record:
    """An interrupted run becomes ours and running again, one attempt more."""
    row = await conn.fetchrow(
        f"""UPDATE cron_logs SET status = 'running', holder = $2, attempts = attempts + 1
            WHERE id = $1 RETURNING {_COLUMNS}""",
        run_id,
        holder,
    )
    assert row is not None
    return row


async def give_up(conn: Connection, run_id: UUID, error: str) -> dict[str, Any] | None:
    """End a run that will not resume (out of attempts, or superseded) as ``failed``."""
    row = await conn.fetchrow(
        f"""UPDATE cron_logs SET status = 'failed', error = $2, finished_at = now(),
                   duration_ms = coalesce(duration_ms, 0)
            WHERE id = $1 AND status IN ('running', 'interrupted') RETURNING {_COLUMNS}""",
        run_id,
        error,
    )
    if row is None:
        return None
    payload = render(row)
    await record_event(conn, "run", run_id, "failed", payload)
    return payload


async def record_run_event(conn: Connection, run_id: UUID, event: EventName) -> dict[str, Any]:
    """The run's current row as one event in its log (inside the caller's transaction)."""
    row = await fetch(conn, run_id)
    assert row is not None
    payload = render(row)
    await record_event(conn, "run", run_id, event, payload)
    return payload


async def write_progress(
    conn: Connection,
    run_id: UUID,
    holder: str,
    *,
    done: int,
    total: int,
    summary: Mapping[str, Any],
    errors: Sequence[Mapping[str, Any]],
    checkpoint: Mapping[str, Any] | None = None,
    event: bool = True,
) -> dict[str, Any] | None:
    """Progress (and optionally the checkpoint), plus a ``progress`` event unless ``event`` is
    false, in one transaction; None when the run is no longer ours and running."""
    async with conn.transaction():
        row = await conn.fetchrow(
            f"""UPDATE cron_logs SET progress_done = $3, progress_total = $4,
                       summary = $5::jsonb, errors = $6::jsonb,
                       checkpoint = coalesce($7::jsonb, checkpoint)
                WHERE id = $1 AND holder = $2 AND status = 'running'
                RETURNING {_COLUMNS}""",
            run_id,
            holder,
            done,
            total,
            dict(summary),
            list(errors),
            dict(checkpoint) if checkpoint is not None else None,
        )
        if row is None:
            return None
        payload = render(row)
        if event:
            await record_event(conn, "run", run_id, "progress", payload)
        return payload


async def finish(
    conn: Connection,
    run_id: UUID,
    holder: str,
    job: str,
    *,
    status: str,
    active_ms: int,
    done: int,
    total: int,
    summary: Mapping[str, Any],
    errors: Sequence[Mapping[str, Any]],
    error: str | None,
    checkpoint: Mapping[str, Any],
) -> dict[str, Any] | None:
    """The attempt's end: ``succeeded``/``partial``/``failed`` (terminal event) or
    ``interrupted`` (a progress event; it resumes), and the lease released, in one transaction.
    None when the run was taken from us meanwhile (its new holder writes its end)."""
    terminal = status in ("succeeded", "partial", "failed")
    async with conn.transaction():
        row = await conn.fetchrow(
            f"""UPDATE cron_logs SET status = $3, error = $4,
                       duration_ms = coalesce(duration_ms, 0) + $5,
                       finished_at = CASE WHEN $6 THEN now() END,
                       progress_done = $7, progress_total = $8,
                       summary = $9::jsonb, errors = $10::jsonb, checkpoint = $11::jsonb
                WHERE id = $1 AND holder = $2 AND status = 'running'
                RETURNING {_COLUMNS}""",
            run_id,
            holder,
            status,
            error,
            active_ms,
            terminal,
            done,
            total,
            dict(summary),
            list(errors),
            dict(checkpoint),
        )
        if row is None:
            return None
        payload = render(row)
        event: EventName = (
            "failed" if status == "failed" else "complete" if terminal else "progress"
        )
        await record_event(conn, "run", run_id, event, payload)
        await release_lease(conn, job, holder)
        return payload


# --- metrics ---------------------------------------------------------------------------------


async def add_metrics(
    conn: Executor,
    run_id: UUID,
    job: str,
    *,
    duration_ms: int,
    peak_memory_bytes: int,
    api_calls: Mapping[str, int],
    rate_limited: int,
    cache_hits: int,
    cache_misses: int,
) -> None:
    """One attempt's figures, added to what earlier attempts of the run recorded (a resumed run
    keeps one row: its total)."""
    await conn.execute(
        """INSERT INTO cron_metrics AS m (run_id, job_name, duration_ms, peak_memory_bytes,
                                          api_calls, rate_limited, cache_hits, cache_misses)
           VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8)
           ON CONFLICT (run_id) DO UPDATE SET
               duration_ms = m.duration_ms + EXCLUDED.duration_ms,
               peak_memory_bytes = greatest(m.peak_memory_bytes, EXCLUDED.peak_memory_bytes),
               api_calls = (
                   SELECT coalesce(jsonb_object_agg(key, total), '{}'::jsonb) FROM (
                       SELECT key, sum(value::bigint) AS total
                       FROM (SELECT * FROM jsonb_each_text(m.api_calls)
                             UNION ALL SELECT * FROM jsonb_each_text(EXCLUDED.api_calls)) both_
                       GROUP BY key) sums),
               rate_limited = m.rate_limited + EXCLUDED.rate_limited,
               cache_hits = m.cache_hits + EXCLUDED.cache_hits,
               cache_misses = m.cache_misses + EXCLUDED.cache_misses,
               recorded_at = now()""",
        run_id,
        job,
        duration_ms,
        peak_memory_bytes,
        dict(api_calls),
        rate_limited,
        cache_hits,
        cache_misses,
    )
