"""Queries of the monitor: alerts (``cron_alerts``), the runs it judges, and the daemon's own
liveness (``daemon_instances``, ``daemon_gaps``).

Firing and resolving are single statements that only one instance can win: the partial unique
index ``cron_alerts_one_active_per_job_rule`` lets one INSERT through, and ``resolved_at IS NULL``
lets one UPDATE through. The winner sends the notification, so an alert notifies once however
many daemons share the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from theset_daemon.db.conn import Connection
from theset_daemon.timestamps import iso_utc

Executor = Connection | asyncpg.Pool
RUNS_JUDGED = 500  # newest runs per job the rules look at (8 days of an hourly job)

_ALERT_COLUMNS = """id, job_name, rule, severity, message, details, channels, fired_at,
                    resolved_at, last_notified_at, notify_count"""


def render_alert(row: asyncpg.Record) -> dict[str, Any]:
    """A ``cron_alerts`` row as the contract's Alert (CONTRACT.md section 5)."""
    return {
        "id": str(row["id"]),
        "rule": row["rule"],
        "job": row["job_name"],
        "severity": row["severity"],
        "message": row["message"],
        "details": row["details"],
        "firedAt": iso_utc(row["fired_at"]),
        "resolvedAt": iso_utc(row["resolved_at"]),
        "channels": list(row["channels"]),
    }


async def active_alerts(conn: Executor, job: str | None = None) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT {_ALERT_COLUMNS} FROM cron_alerts
            WHERE resolved_at IS NULL AND ($1::text IS NULL OR job_name = $1)
            ORDER BY fired_at DESC""",
        job,
    )


async def fire_alert(
    conn: Executor, job: str, rule: str, severity: str, message: str, details: dict[str, Any]
) -> asyncpg.Record | None:
    """The new alert, or None when one is already active for (job, rule)."""
    return await conn.fetchrow(
        f"""INSERT INTO cron_alerts (job_name, rule, severity, message, details, last_notified_at)
            VALUES ($1, $2, $3, $4, $5::jsonb, now())
            ON CONFLICT (job_name, rule) WHERE resolved_at IS NULL DO NOTHING
            RETURNING {_ALERT_COLUMNS}""",
        job,
        rule,
        severity,
        message,
        details,
    )


async def resolve_alert(conn: Executor, alert_id: UUID) -> asyncpg.Record | None:
    """The resolved alert, or None when another instance resolved it first."""
    return await conn.fetchrow(
        f"""UPDATE cron_alerts SET resolved_at = now()
            WHERE id = $1 AND resolved_at IS NULL RETURNING {_ALERT_COLUMNS}""",
        alert_id,
    )


async def claim_renotify(conn: Executor, interval_s: float) -> list[asyncpg.Record]:
    """Active alerts last notified over ``interval_s`` ago, stamped now (so one instance sends)."""
    return await conn.fetch(
        f"""UPDATE cron_alerts SET last_notified_at = now()
            WHERE resolved_at IS NULL
              AND last_notified_at < now() - make_interval(secs => $1)
            RETURNING {_ALERT_COLUMNS}""",
        interval_s,
    )


async def note_notified(conn: Executor, alert_id: UUID, channels: Sequence[str]) -> None:
    await conn.execute(
        """UPDATE cron_alerts
           SET channels = ARRAY(SELECT DISTINCT c FROM unnest(channels || $2::text[]) AS c
                                ORDER BY c),
               notify_count = notify_count + 1
           WHERE id = $1""",
        alert_id,
        list(channels),
    )


async def runs_judged(conn: Executor, job: str) -> list[asyncpg.Record]:
    """The job's newest runs, newest first: what the health state and the rules judge."""
    return await conn.fetch(
        """SELECT id, status, trigger, started_at, finished_at, duration_ms
           FROM cron_logs WHERE job_name = $1 ORDER BY started_at DESC LIMIT $2""",
        job,
        RUNS_JUDGED,
    )


# --- the daemon's own liveness -------------------------------------------------------------


async def register_instance(conn: Connection, holder: str, stale_after_s: float) -> None:
    """Record this process; when no other instance beat within ``stale_after_s``, the time since
    the last beat of any instance is a 'down' gap (the first start ever records none)."""
    async with conn.transaction():
        await conn.execute("LOCK TABLE daemon_instances IN SHARE ROW EXCLUSIVE MODE")
        row = await conn.fetchrow(
            """SELECT max(last_beat_at) AS last_beat,
                      bool_or(stopped_at IS NULL
                              AND last_beat_at > now() - make_interval(secs => $1)) AS alive
               FROM daemon_instances""",
            stale_after_s,
        )
        if row is not None and row["last_beat"] is not None and not row["alive"]:
            await conn.execute(
                """INSERT INTO daemon_gaps (holder, kind, started_at, ended_at)
                   VALUES ($1, 'down', $2, greatest($2, now()))""",
                holder,
                row["last_beat"],
            )
        await conn.execute(
            """INSERT INTO daemon_instances (holder) VALUES ($1)
               ON CONFLICT (holder) DO UPDATE SET last_beat_at = now(), stopped_at = NULL""",
            holder,
        )


async def beat_and_list_others(conn: Executor, holder: str, live_within_s: float) -> list[str]:
    """Beat for ``holder``; the *other* daemons that beat within ``live_within_s``."""
    rows = await conn.fetch(
        """WITH beat AS (UPDATE daemon_instances SET last_beat_at = now() WHERE holder = $1)
           SELECT holder FROM daemon_instances
            WHERE holder <> $1 AND stopped_at IS NULL
              AND last_beat_at > now() - make_interval(secs => $2)""",
        holder,
        live_within_s,
    )
    return [row["holder"] for row in rows]


async def stop_instance(conn: Executor, holder: str) -> None:
    await conn.execute(
        """UPDATE daemon_instances SET last_beat_at = now(), stopped_at = now()
           WHERE holder = $1""",
        holder,
    )


async def record_stall(conn: Executor, holder: str, started: datetime, ended: datetime) -> None:
    await conn.execute(
        """INSERT INTO daemon_gaps (holder, kind, started_at, ended_at)
           VALUES ($1, 'stall', $2, $3)""",
        holder,
        started,
        ended,
    )


async def gaps_since(conn: Executor, since: datetime) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT kind, started_at, ended_at FROM daemon_gaps
           WHERE ended_at >= $1 ORDER BY started_at""",
        since,
    )


# --- figures for the health API --------------------------------------------------------------


async def job_metrics(conn: Executor, since: datetime, job: str | None) -> list[asyncpg.Record]:
    """Per job, over the runs that ended since ``since``: counts, durations, and the
    ``cron_metrics`` totals (memory, cache, API calls by provider, 429s)."""
    return await conn.fetch(
        """WITH ended AS (
               SELECT l.job_name, l.status, l.duration_ms, m.peak_memory_bytes, m.api_calls,
                      m.rate_limited, m.cache_hits, m.cache_misses
               FROM cron_logs l LEFT JOIN cron_metrics m ON m.run_id = l.id
               WHERE l.finished_at >= $1 AND ($2::text IS NULL OR l.job_name = $2)
           ),
           calls AS (
               SELECT job_name, coalesce(jsonb_object_agg(key, total), '{}'::jsonb) AS api_calls
               FROM (SELECT e.job_name, c.key, sum(c.value::bigint) AS total
                     FROM ended e, jsonb_each_text(coalesce(e.api_calls, '{}'::jsonb)) c
                     GROUP BY e.job_name, c.key) per_provider
               GROUP BY job_name
           )
           SELECT e.job_name,
                  count(*) AS runs,
                  count(*) FILTER (WHERE e.status = 'failed') AS failures,
                  avg(e.duration_ms)::float8 AS avg_duration_ms,
                  percentile_cont(0.95) WITHIN GROUP (ORDER BY e.duration_ms)::float8
                      AS p95_duration_ms,
                  max(e.duration_ms) AS max_duration_ms,
                  max(e.peak_memory_bytes) AS peak_memory_bytes,
                  coalesce(sum(e.cache_hits), 0) AS cache_hits,
                  coalesce(sum(e.cache_misses), 0) AS cache_misses,
                  coalesce(sum(e.rate_limited), 0) AS rate_limited,
                  coalesce(max(c.api_calls::text)::jsonb, '{}') AS api_calls
           FROM ended e LEFT JOIN calls c USING (job_name)
           GROUP BY e.job_name""",
        since,
        job,
    )


async def job_report(conn: Executor, since: datetime) -> list[asyncpg.Record]:
    """Per job, over the runs started since ``since``: runs by status (a JSON object), the
    average duration of those that ended, and the alerts fired since, by rule (a JSON object)."""
    return await conn.fetch(
        """WITH by_status AS (
               SELECT job_name, status, count(*) AS runs FROM cron_logs
               WHERE started_at >= $1 GROUP BY job_name, status
           ),
           runs AS (
               SELECT job_name, jsonb_object_agg(status, runs) AS by_status
               FROM by_status GROUP BY job_name
           ),
           durations AS (
               SELECT job_name, avg(duration_ms)::float8 AS avg_duration_ms FROM cron_logs
               WHERE started_at >= $1 AND finished_at IS NOT NULL GROUP BY job_name
           ),
           alerts AS (
               SELECT job_name, jsonb_object_agg(rule, fired) AS alerts_fired
               FROM (SELECT job_name, rule, count(*) AS fired FROM cron_alerts
                     WHERE fired_at >= $1 GROUP BY job_name, rule) per_rule
               GROUP BY job_name
           )
           SELECT job_name, coalesce(r.by_status, '{}') AS by_status, d.avg_duration_ms,
                  coalesce(a.alerts_fired, '{}') AS alerts_fired
           FROM runs r
           FULL JOIN durations d USING (job_name)
           FULL JOIN alerts a USING (job_name)""",
        since,
    )


async def run_history(
    conn: Executor, jobs: Sequence[str], since: datetime, per_job: int
) -> list[asyncpg.Record]:
    """Each job's runs started since ``since``, newest first, at most ``per_job`` a job (the
    status page's charts): one index range of ``idx_cron_logs_job_started`` per job."""
    return await conn.fetch(
        """SELECT r.job_name, r.id, r.trigger, r.status, r.started_at, r.finished_at,
                  r.duration_ms
           FROM unnest($1::text[]) AS j(job_name)
           CROSS JOIN LATERAL (
               SELECT job_name, id, trigger, status, started_at, finished_at, duration_ms
               FROM cron_logs
               WHERE job_name = j.job_name AND started_at >= $2
               ORDER BY started_at DESC, id DESC LIMIT $3) r
           ORDER BY r.job_name, r.started_at DESC, r.id DESC""",
        list(jobs),
        since,
        per_job,
    )


async def runs_by_day(conn: Executor, since: datetime) -> list[asyncpg.Record]:
    """Per job, UTC day and status, how many runs started since ``since`` (exact, where
    :func:`run_history` is capped)."""
    return await conn.fetch(
        """SELECT job_name, (started_at AT TIME ZONE 'UTC')::date AS day, status,
                  count(*) AS runs
           FROM cron_logs WHERE started_at >= $1
           GROUP BY job_name, day, status ORDER BY job_name, day, status""",
        since,
    )
