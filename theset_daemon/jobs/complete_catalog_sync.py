"""``complete-catalog-sync`` (CONTRACT.md section 4): the weekly walk over the whole catalog.

Which artists, in both artist phases: the refresh plan's (``jobs/planned.py``). A scheduled
run takes the artists whose data of the phase's kind is due by their tier's target age, most
overdue first, as many as its share of the provider's background budget pays for; a run
triggered over HTTP or the CLI takes its ``maxArtists`` most overdue, due or not.

Four phases, in order, each recorded as ``{"name", "status", "durationMs"}`` in the summary:

1. **artist-sync**: the planned artists (kind: releases and profile, ``last_synced_at``) get
   their Spotify artist data again (name, image, genres; popularity and followers where the API mode
   reports them) and their new releases (``refresh.read_releases``: the newest page of releases,
   whose total says whether anything changed; only the releases we hold no song from are read).
   Items go through the bounded pipeline (``jobs/pipeline.py``); in extended mode a page's
   artists are fetched 50 a request (``/artists?ids=``), else one by one; the fetched rows of the
   items in flight are written together, one ``UPDATE`` per batch
   (``jobs.pipeline.BulkWriter``). An artist's new songs are stored when read (rare).
2. **show-sync**: the planned artists (kind: shows, ``shows_synced_at``): upcoming shows
   and venues from Ticketmaster (``refresh.PageShows``: each page's artists with an attraction id
   share grouped queries, up to 25 a request; one without is searched by name at most once per
   ``[jobs] keyword_show_lookup_days``, and costs nothing in between), each artist's
   ``shows_synced_at`` stamped once Ticketmaster answered. Then a step of its own, the setlists
   of every artist that played a show since its ``setlists_synced_at`` (the past events just
   stored tell who) or never had them read, stamped once setlist.fm answered: by its
   ``lastUpdated`` feed or one by one, whichever costs less (``refresh/played_setlists.py``).
3. **data-cleanup** (``includeDataCleanup``): duplicate songs merged into the catalog's canonical
   row with every vote kept (``db/maintenance.py``), orphans removed (venues without shows, bare
   support acts nothing refers to; songs never), artist totals recounted, and retention
   (``cleanup_old_data()``).
4. **integrity-checks** (``performIntegrityChecks``): every check of
   :data:`~theset_daemon.db.maintenance.INTEGRITY_CHECKS` on one snapshot; ``violations`` lists
   each check with its count (0 included, so the report shows what was checked), ``ok`` is true
   when every count is 0.

Pacing: ``batch_size`` artists at a time, with ``delay_s`` between batches (5 s by default, the
seed's conservative pause, kept: this job walks everything, and shares the providers' quotas with
the imports). Both are re-read from ``[jobs.complete-catalog-sync]`` as the run goes.

Failures: an artist that fails (an upstream error, a bad answer) is reported with
``item_failed`` and the run goes on; a cleanup or integrity phase that raises is marked
``failed`` and counted as one failed item. Either way the run ends ``partial``, not ``failed``,
unless nothing at all succeeded.

Quota: once the run's share of a provider's day is used (``jobs.quota_stops``) the rest of the
run skips that provider's calls and does what the others allow. An artist whose Spotify data could
not be read keeps its ``last_synced_at``; one whose Ticketmaster shows could not be read keeps its
``shows_synced_at``, one whose setlists could not be read its ``setlists_synced_at`` (each kind
is stamped when its own provider answered, whatever the other did), so the next run takes it up.
The phase ends ``partial`` and the run's summary names the providers in ``quotaStopped``; no
artist counts as failed for it.

Resume: the checkpoint holds the run's cut-off time, the finished phases with their results, and
each pipeline's counts, so an interrupted run continues in the phase where it stopped, with the
plan taken again at the cut-off: artists the run already synced are past it and are not taken
again.

Cache: every artist whose stored data changed is invalidated (``artists_changed``) once its
write has committed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from uuid import UUID

from theset_daemon import refresh
from theset_daemon.cache.reads import artists_changed
from theset_daemon.db import catalog_sync as store
from theset_daemon.db import maintenance
from theset_daemon.db.plan import artist_states
from theset_daemon.jobs.catalog_sync_run import PHASES, OverallProgress, RunState
from theset_daemon.jobs.context import CompleteCatalogSyncParams, JobContext, JobResult
from theset_daemon.jobs.pipeline import BulkWriter, PipelineResult, run_pipeline
from theset_daemon.jobs.planned import PlannedArtists, planned_artists, run_share
from theset_daemon.jobs.summaries import (
    Integrity,
    IntegrityViolation,
    PhaseOutcome,
)
from theset_daemon.log import get_logger
from theset_daemon.upstream.spotify import Artist

log = get_logger(__name__)

#: Artist ids per cache invalidation call.
INVALIDATE_CHUNK = 500


# --- the job -----------------------------------------------------------------------------------


async def run(ctx: JobContext) -> JobResult:
    params = ctx.params
    assert isinstance(params, CompleteCatalogSyncParams)
    state = RunState.from_checkpoint(ctx.checkpoint.get("run"))
    totals = {"data-cleanup": 1, "integrity-checks": 1}
    planned: dict[str, PlannedArtists] = {}
    artist_phases = ("artist-sync", "show-sync")
    # Every artist's state, read once for both phases (10,000 artists: a tenth of a second).
    states = (
        []
        if all(state.finished(n) for n in artist_phases)
        else await artist_states(ctx.database.pool)
    )
    for name in artist_phases:
        # A resumed phase's pipeline counts its earlier items again: add them to its total.
        done = int(ctx.checkpoint.get(name, {}).get("pipeline", {}).get("taken", 0))
        planned[name] = (
            PlannedArtists([])
            if state.finished(name)
            else planned_artists(ctx, states, name, state.cutoff, params.max_artists - done)
        )
        totals[name] = done + len(planned[name])
    reporter = OverallProgress(ctx, state, totals)
    phase_ctx = dataclasses.replace(ctx, reporter=reporter)
    if "run" not in ctx.checkpoint:
        # The cut-off is what keeps a resumed run from syncing again the artists it already
        # synced; the pipeline checkpoints only whole pages (100 artists, minutes at the
        # default pacing), so it is made durable before the first artist, not with the first page.
        await reporter.checkpoint(ctx.checkpoint)
    await ctx.reporter.progress(0, reporter.total, state.summary.as_json())

    steps: dict[str, Callable[[], Awaitable[str]]] = {
        "artist-sync": lambda: _artist_sync(phase_ctx, state, planned["artist-sync"], totals),
        "show-sync": lambda: _show_sync(phase_ctx, state, planned["show-sync"], totals),
        "data-cleanup": lambda: _data_cleanup(phase_ctx, params, state),
        "integrity-checks": lambda: _integrity_checks(phase_ctx, params, state),
    }
    for name in PHASES:
        if state.finished(name):
            continue
        if ctx.stopping.is_set():
            break
        reporter.phase = name
        started = time.perf_counter()
        status = await steps[name]()
        duration_ms = int((time.perf_counter() - started) * 1000)
        log.info("catalog_sync_phase_finished", phase=name, status=status, duration_ms=duration_ms)
        if status == "interrupted":
            break  # the checkpoint holds its cursor; the resumed run continues this phase
        state.summary.phases.append(PhaseOutcome(name=name, status=status, duration_ms=duration_ms))
        await reporter.checkpoint(ctx.checkpoint)
        offset_done = reporter.offset() + totals[name]
        await ctx.reporter.progress(offset_done, reporter.total, state.summary.as_json())
    return JobResult(
        summary=state.summary, items_total=state.items_total, items_failed=state.items_failed
    )


def _phase_outcome(
    ctx: JobContext, state: RunState, result: PipelineResult[Any], providers: Sequence[str]
) -> str:
    """A per-artist phase's status, its items counted toward the run's once it has finished (a
    stopped phase keeps its counts in its checkpoint until the resumed run finishes it). Partial
    when one of the phase's ``providers`` was stopped by its quota share."""
    if result.stopped:
        return "interrupted"
    state.items_total += result.done
    state.items_failed += result.failed
    quota_stopped = any(ctx.spent(p) for p in providers)
    return "partial" if result.failed or quota_stopped else "succeeded"


async def _invalidate(ctx: JobContext, artist_ids: list[UUID]) -> None:
    for start in range(0, len(artist_ids), INVALIDATE_CHUNK):
        await artists_changed(ctx.cache, artist_ids[start : start + INVALIDATE_CHUNK])


async def _over_planned_artists(
    ctx: JobContext,
    planned: PlannedArtists,
    totals: Mapping[str, int],
    phase: str,
    process: Callable[[store.CatalogArtist], Awaitable[None]],
    *,
    prepare: Callable[[Sequence[store.CatalogArtist]], Awaitable[None]] | None = None,
) -> PipelineResult[store.CatalogArtist]:
    """Run ``process`` over the artists the plan chose for ``phase``, a page at a time; the
    phase's name is also its checkpoint key, so a resumed run goes on from there."""
    return await run_pipeline(
        ctx,
        fetch_page=lambda cursor, n: planned.page(ctx, cursor, n),
        process=process,
        prepare=prepare,
        cursor_of=lambda a: a.cursor,
        id_of=lambda a: a.id,
        total=totals[phase],
        limit=totals[phase],
        state_key=phase,
    )


async def _artist_sync(
    ctx: JobContext, state: RunState, planned: PlannedArtists, totals: Mapping[str, int]
) -> str:
    pool = ctx.database.pool
    up = ctx.upstreams

    async def write(rows: list[store.ArtistRefresh]) -> None:
        async with pool.acquire() as conn, conn.transaction():
            changed = await store.refresh_artists(conn, rows)
        await _invalidate(ctx, changed)

    writer: BulkWriter[store.ArtistRefresh] = BulkWriter(write, lambda: ctx.pacing().batch_size)

    # Extended mode answers 50 artists a request: the page is fetched up front, and an artist
    # missing from the answer (or development mode, which has no batch endpoint) is asked alone.
    page_answers: dict[str, Artist] = {}

    async def prepare(page: Sequence[store.CatalogArtist]) -> None:
        page_answers.clear()
        ids = [a.spotify_id for a in page]
        page_answers.update(
            await ctx.unless_spent("spotify", lambda: up.spotify.several_artists(ids)) or {}
        )

    async def process(artist: store.CatalogArtist) -> None:
        fetched = page_answers.pop(artist.spotify_id, None)
        if fetched is None:
            fetched = await ctx.unless_spent(
                "spotify", lambda: up.spotify.artist(artist.spotify_id)
            )
        if fetched is None:
            return  # Spotify's share is used: not stamped, the next run takes it first
        releases = await ctx.unless_spent(
            "spotify",
            lambda: refresh.read_releases(
                up, pool, artist.id, artist.spotify_id, artist.total_albums
            ),
        )
        if releases is None:
            return  # as above: the profile alone would stamp releases that were not read
        if releases.news:
            async with pool.acquire() as conn, conn.transaction():
                await refresh.store_new_songs(conn, artist.id, releases.news.songs)
            await refresh.predict_setlists(pool, artist.id)
            await artists_changed(ctx.cache, [artist.id])
        refreshed = store.ArtistRefresh(artist.id, refresh.artist_row(fetched), releases.total)
        await writer.submit(refreshed)

    try:
        result = await _over_planned_artists(
            ctx, planned, totals, "artist-sync", process, prepare=prepare
        )
    finally:
        await writer.aclose()
    return _phase_outcome(ctx, state, result, ["spotify"])


async def _show_sync(
    ctx: JobContext, state: RunState, planned: PlannedArtists, totals: Mapping[str, int]
) -> str:
    pool = ctx.database.pool
    up = ctx.upstreams
    page_shows: refresh.PageShows | None = None

    async def prepare(page: Sequence[store.CatalogArtist]) -> None:
        nonlocal page_shows
        if page_shows is not None:
            await page_shows.close()
        page_shows = refresh.PageShows(
            up,
            pool,
            [a.id for a in page],
            keyword_every=dt.timedelta(days=ctx.holder.current.jobs.keyword_show_lookup_days),
            skip=lambda: ctx.spent("ticketmaster"),
        )

    async def shows_of(artist: store.CatalogArtist) -> refresh.FoundEvents:
        assert page_shows is not None
        found = await page_shows.events(artist.id)
        await refresh.store_found(pool, artist.id, artist.name, found)
        return found

    async def process(artist: store.CatalogArtist) -> None:
        shows = await ctx.unless_spent("ticketmaster", lambda: shows_of(artist))
        if shows is None:
            return  # Ticketmaster's share is used: not stamped, the next run takes it first
        for warning in shows.warnings:
            log.warning("catalog_sync_show_warning", artist_id=str(artist.id), warning=warning)
        await refresh.mark_shows_synced(pool, artist.id)
        await artists_changed(ctx.cache, [artist.id])

    try:
        result = await _over_planned_artists(
            ctx, planned, totals, "show-sync", process, prepare=prepare
        )
    finally:
        if page_shows is not None:
            await page_shows.close()
    failed = 0 if result.stopped else await _played_setlists(ctx, state)
    status = _phase_outcome(ctx, state, result, ["ticketmaster", "setlistfm"])
    return "partial" if failed and status == "succeeded" else status


async def _played_setlists(ctx: JobContext, state: RunState) -> int:
    """The setlist step (``refresh/played_setlists.py``, after the shows); its failed items."""
    params = ctx.params
    assert isinstance(params, CompleteCatalogSyncParams)
    outcome = refresh.PlayedSetlists()
    limit = params.max_artists  # a scheduled run: what its share of setlist.fm's day pays for
    if ctx.trigger == "schedule":
        limit = math.floor(run_share(ctx, "setlistfm", state.cutoff))
    step = functools.partial(
        refresh.refresh_played_setlists, ctx.upstreams, ctx.database.pool, outcome,
        limit=limit, stopping=ctx.stopping, pacing=ctx.pacing,
    )  # fmt: skip
    try:
        await ctx.unless_spent("setlistfm", step)
    finally:
        for artist_id, message in outcome.failed:
            ctx.reporter.item_failed(artist_id, message)
        state.items_total += outcome.items
        state.items_failed += len(outcome.failed)
        await _invalidate(ctx, sorted(set(outcome.changed)))
    return len(outcome.failed)


def _phase_failed(ctx: JobContext, state: RunState, phase: str, exc: Exception) -> str:
    """A whole-database phase that failed counts as one failed item: the run ends partial."""
    state.items_failed += 1
    log.warning("catalog_sync_phase_failed", phase=phase, error=repr(exc), exc_info=exc)
    ctx.reporter.item_failed(None, f"{phase}: {type(exc).__name__}: {exc}"[:300])
    return "failed"


async def _data_cleanup(ctx: JobContext, params: CompleteCatalogSyncParams, state: RunState) -> str:
    if not params.include_data_cleanup:
        return "skipped"
    pool = ctx.database.pool
    state.items_total += 1
    try:
        merged = await maintenance.merge_duplicate_songs(pool)
        async with pool.acquire() as conn, conn.transaction():
            orphans = await maintenance.remove_orphans(conn)
        async with pool.acquire() as conn, conn.transaction():
            recounted = await maintenance.recount_artist_totals(conn)
        async with pool.acquire() as conn, conn.transaction():
            retention = await maintenance.cleanup_old_data(conn)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        return _phase_failed(ctx, state, "data-cleanup", exc)
    state.summary.duplicates_removed += merged.songs_removed
    state.summary.orphans_removed += orphans.removed
    log.info(
        "catalog_sync_cleaned",
        duplicate_groups=merged.groups,
        duplicates_removed=merged.songs_removed,
        setlist_songs_merged=merged.setlist_songs_merged,
        votes_moved=merged.votes_moved,
        votes_collapsed=merged.votes_collapsed,
        orphan_venues=orphans.venues,
        orphan_artists=orphans.artists,
        totals_recounted=len(recounted),
        retention=retention,
    )
    await _invalidate(ctx, sorted({*merged.artist_ids, *recounted}))
    return "succeeded"


async def _integrity_checks(
    ctx: JobContext, params: CompleteCatalogSyncParams, state: RunState
) -> str:
    if not params.perform_integrity_checks:
        return "skipped"
    state.items_total += 1
    try:
        # One snapshot for every check, so counts taken at different instants never disagree.
        async with (
            ctx.database.pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            checks = await maintenance.integrity_checks(conn)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        return _phase_failed(ctx, state, "integrity-checks", exc)
    state.summary.integrity = Integrity(
        ok=all(count == 0 for _, count in checks),
        violations=[IntegrityViolation(check=name, count=count) for name, count in checks],
    )
    found = {name: count for name, count in checks if count}
    if found:
        log.warning("catalog_integrity_violations", violations=found)
    return "succeeded"
