"""What the upstream forecast is measured from (``monitoring/forecast.py`` computes it): each
job's recent runs with the requests they sent per provider, and the size of the catalog."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg


async def recent_runs(
    pool: asyncpg.Pool, jobs: Sequence[str], per_job: int
) -> list[asyncpg.Record]:
    """The newest ``per_job`` ended runs (``succeeded`` or ``partial``) of each of ``jobs`` that
    have metrics: ``job_name``, ``progress_done`` and ``api_calls`` (``{"spotify": n, ...}``).

    A run that stopped calling a provider for its quota (``quotaStopped`` in its summary) is left
    out: its artists after the stop cost nothing, which would understate the cost per artist.
    """
    return await pool.fetch(
        """SELECT r.job_name, r.progress_done, r.api_calls
             FROM unnest($1::text[]) AS j(name)
             CROSS JOIN LATERAL (
                   SELECT l.job_name, l.progress_done, m.api_calls
                     FROM cron_logs l JOIN cron_metrics m ON m.run_id = l.id
                    WHERE l.job_name = j.name AND l.status IN ('succeeded', 'partial')
                      AND coalesce(jsonb_array_length(
                              CASE WHEN jsonb_typeof(l.summary -> 'quotaStopped') = 'array'
                                   THEN l.summary -> 'quotaStopped' END), 0) = 0
                    ORDER BY l.started_at DESC
                    LIMIT $2) r""",
        list(jobs),
        per_job,
    )


async def refreshable_artists(pool: asyncpg.Pool) -> int:
    """The artists the jobs refresh: every job selects among those with a Spotify id (an import's
    support acts without one are stored, never refreshed)."""
    return int(await pool.fetchval("SELECT count(*) FROM artists WHERE spotify_id IS NOT NULL"))
