"""``calculate-trending`` (CONTRACT.md section 4): the hourly trending recompute.

Three steps, each reported as progress (``done``/``total`` = steps):

1. **Score** every artist and every show with the one trending formula of
   :mod:`theset_daemon.catalog.trending`: time-decayed votes, follows and page views (each event's
   weight halves every 48 hours; nothing older than 30 days counts), plus upcoming shows and
   popularity. Two set-based ``UPDATE``s in one transaction, so readers see the old scores or
   the new ones, never a mix; a row whose score did not move is not rewritten.
2. **Refresh** ``trending_artists_mv`` and ``show_stats_mv`` ``CONCURRENTLY`` (via
   ``refresh_trending_data()``), so the reads that use them are never blocked.
3. **Warm** the cache: every trending list is dropped and loaded again, then the pages of the top
   artists (:func:`theset_daemon.cache.reads.warm_trending`). A warm-up failure is logged and
   leaves the run ``succeeded``: the scores are stored, and the next read loads what is missing.

Summary: ``{"artistsScored", "showsScored", "refreshedViews"}`` (the views refreshed, by name).
The job has no per-item work, so a resumed run simply runs again: every step is idempotent.
"""

from __future__ import annotations

import asyncio

from theset_daemon.cache.reads import Reads, warm_trending
from theset_daemon.db import maintenance
from theset_daemon.jobs.context import JobContext, JobResult
from theset_daemon.jobs.summaries import CalculateTrendingSummary
from theset_daemon.log import get_logger

log = get_logger(__name__)

STEPS = 3


async def run(ctx: JobContext) -> JobResult:
    pool = ctx.database.pool
    await ctx.reporter.progress(0, STEPS)
    async with pool.acquire() as conn, conn.transaction():
        artists = await maintenance.score_artists(conn)
        shows = await maintenance.score_shows(conn)
    summary = CalculateTrendingSummary(artists_scored=artists.scored, shows_scored=shows.scored)
    log.info(
        "trending_scored",
        artists_scored=artists.scored,
        artists_updated=artists.updated,
        shows_scored=shows.scored,
        shows_updated=shows.updated,
    )
    await ctx.reporter.progress(1, STEPS, summary.as_json())

    async with pool.acquire() as conn:
        views = await maintenance.refresh_trending_views(conn)
    summary.refreshed_views = views
    await ctx.reporter.progress(2, STEPS, summary.as_json())

    try:
        warmed = await warm_trending(Reads(ctx.database, ctx.cache))
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the scores are stored; a cold cache only costs the next read
        log.warning("trending_warm_failed", error=repr(exc))
    else:
        log.info("trending_warmed", lists=warmed.lists, artists=warmed.artists)
    await ctx.reporter.progress(STEPS, STEPS, summary.as_json())
    return JobResult(summary=summary, items_total=0, items_failed=0)
