"""`trending-artist-sync` (CONTRACT.md section 4): a complete discography refresh for the artists
people are looking at.

**Selection.** The top ``limit`` artists (with a Spotify id) by ``artists.trending_score``
(written hourly by ``calculate-trending``), highest first, streamed a page at a time through the
bounded pipeline. The keyset follows the score as it stands when each page is read; a re-score in
the middle of a run can move an artist across a page boundary, which at worst syncs it twice or
leaves it to tomorrow's run.

**Skipped recently updated.** With ``skipRecentlyUpdated`` (the default), an artist whose whole
catalog was stored within :data:`RECENT_WINDOW` (12 h: an import, or yesterday's run if it ran
late) is counted ``skippedRecent`` and costs nothing.

**The refresh** is the import's phase 3, ``refresh.refresh_discography``, with its rules: every
release (album, single, compilation), every track, the same live detection and cross-release
dedup, the album art of ``catalog.best_image_url``. Songs are written in bulk (an unchanged song
is not rewritten).

**Stale data.** When the read was complete, the artist's songs that are no longer in its catalog
(withdrawn releases, or a copy that lost the dedup choice to a better one) are deleted, unless a
setlist (predicted or actual) lists them or a vote refers to them: fans' history is never
rewritten by a sync. A partial read removes nothing; one that read nothing fails the artist.

**Quota.** Once the run's share of Spotify's day is used (``jobs.quota_stops``) the remaining
artists are passed over: neither ``synced`` nor ``failed``, their catalog not stamped, so the next
run (which skips the recently updated) takes them first. An artist whose refresh was refused
midway stores nothing (``refresh``'s rule for quota refusals).

Summary: ``{"selected", "synced", "skippedRecent", "failed", "albumsScanned", "songsUpserted",
"liveTracksFlagged", "duplicatesMerged", "staleRemoved"}``: releases read, song rows inserted or
changed, live recordings in the stored catalogs, track copies merged into another song by the
dedup, and songs removed.
"""

from __future__ import annotations

import datetime as dt

from theset_daemon import refresh
from theset_daemon.cache.reads import artists_changed
from theset_daemon.db import sync as sync_db
from theset_daemon.db.sync import SyncArtist
from theset_daemon.jobs.context import JobContext, JobResult, TrendingArtistSyncParams
from theset_daemon.jobs.pipeline import resumed_summary, run_ranked_pipeline
from theset_daemon.jobs.summaries import TrendingArtistSyncSummary

RECENT_WINDOW = dt.timedelta(hours=12)
PAGE_SIZE = 50


def recently_updated(artist: SyncArtist, now: dt.datetime) -> bool:
    synced = artist.song_catalog_synced_at
    return synced is not None and now - synced < RECENT_WINDOW


async def run(ctx: JobContext) -> JobResult:
    params = ctx.params
    assert isinstance(params, TrendingArtistSyncParams)
    pool = ctx.database.pool
    tally = TrendingArtistSyncSummary.from_json(resumed_summary(ctx))
    total = min(params.limit, await sync_db.count_spotify_artists(pool))
    now = dt.datetime.now(dt.UTC)

    async def process(artist: SyncArtist) -> None:
        tally.selected += 1
        if params.skip_recently_updated and recently_updated(artist, now):
            tally.skipped_recent += 1
            return
        try:
            changed = await ctx.unless_spent("spotify", lambda: refresh_artist(ctx, artist, tally))
        except Exception:
            tally.failed += 1
            raise
        if changed is None:
            return  # Spotify's share is used: left for the next run
        tally.synced += 1
        if changed:
            await artists_changed(ctx.cache, [artist.id])

    result = await run_ranked_pipeline(
        ctx,
        sync_db.top_trending_artists,
        process=process,
        total=total,
        snapshot=tally.as_json,
        limit=params.limit,
        page_size=PAGE_SIZE,
    )
    tally.selected, tally.failed = result.done, result.failed
    return JobResult(summary=tally, items_total=result.done, items_failed=result.failed)


async def refresh_artist(
    ctx: JobContext, artist: SyncArtist, tally: TrendingArtistSyncSummary
) -> bool:
    """Read and store the artist's whole catalog; True when a stored row changed."""
    assert artist.spotify_id is not None
    pool = ctx.database.pool
    done = await refresh.refresh_discography(ctx.upstreams, pool, artist.id, artist.spotify_id)
    if done.nothing_read:
        raise RuntimeError("; ".join(done.warnings))
    tally.albums_scanned += done.releases_read
    tally.songs_upserted += done.songs_written
    tally.live_tracks_flagged += done.live_songs
    tally.duplicates_merged += done.tracks_read - done.songs
    tally.stale_removed += done.songs_removed
    return bool(done.songs_written or done.songs_removed)
