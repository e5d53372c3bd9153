"""`update-active-artists` (CONTRACT.md section 4): keep the artists fans are busy with fresh.

**Selection.** The top ``limit`` artists by activity (``catalog/activity.py``: votes, follows and
page views of the last 24 h / 7 days plus upcoming shows; an artist with none is not selected),
streamed through the bounded pipeline a page at a time. An artist synced within the stale window
(:data:`~theset_daemon.catalog.activity.STALE_AFTER`, 6 h) is counted ``skipped`` unless
``forceSync``.

**Per artist, cheaply.** An unchanged artist costs two upstream requests of its own:

1. Spotify: the newest page of its releases (``/artists/{id}/albums``, album+single+compilation,
   newest first within each group), whose ``total`` says whether anything was released or
   removed since we stored ``artists.total_albums``. When the total moved, only the releases we
   have no song from are fetched (``/albums?ids=``), paging further down the list only while
   the new ones are not all found; their songs go through the catalog refresh's rules
   (``refresh.new_release_songs``), and a song we already hold (same dedup key) is left to the
   full discography sync to re-decide. Nothing is deleted: a partial read never retires a song.
2. Ticketmaster: its upcoming events, upserted in bulk (an unchanged show is not rewritten, a
   show now reported cancelled is marked so); new upcoming shows get a predicted setlist. The
   page's artists with an attraction id share event queries (``refresh.PageShows``: up to 25
   artists a query, a group that matches more than 1,000 events split in halves), about 0.05
   requests an artist. Ticketmaster allows 5 requests a second against Spotify's 10-20, so this
   is what keeps the job at Spotify's pace. An artist without an attraction id is searched by
   name, one query, at most once per ``[jobs] keyword_show_lookup_days`` (and linked to the
   attraction its events name); between two searches it costs Ticketmaster nothing.

Plus, in Spotify's extended mode, its share of one batched ``/artists?ids=`` per page of 50
(popularity, followers, image, genres); development mode has neither the endpoint nor the
fields, and then nothing is asked. So an unchanged artist costs at most two requests: one
Spotify album page, plus shares of batched queries that are one request at most.

The page's batched lookups start before its artists do and run beside them, so the per-artist
album pages never wait for them.

Afterwards ``last_synced_at`` and ``shows_synced_at`` are set, and every artist whose row, songs
or shows changed has its cached pages invalidated (``cache.reads.artists_changed``).

**Quota.** Once the run's share of a provider's day is used (``jobs.quota_stops``) its part of
each artist is skipped and the other part still done: without Spotify the shows are stored and
``shows_synced_at`` set; without Ticketmaster the releases and profile are stored. Either way
``last_synced_at``, which decides what is due, is left as it was, so the next run takes the
artist again (the part that was done costs it two requests at most). Such an artist counts as
neither ``synced`` nor ``failed``; the summary's ``quotaStopped`` names the providers.

Summary: ``{"selected", "synced", "skipped", "failed", "newReleases", "showsUpserted",
"songsUpserted", "apiCalls": {"spotify", "ticketmaster", "setlistfm"}}``; ``newReleases`` counts
the releases fetched as new, ``showsUpserted`` and ``songsUpserted`` the rows inserted or changed,
``apiCalls`` the requests this daemon sent to each provider while the run went (read from the
providers' counters, so an import running at the same time adds its own).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from theset_daemon import refresh
from theset_daemon.cache.reads import artists_changed
from theset_daemon.catalog import release_date
from theset_daemon.catalog.activity import is_stale
from theset_daemon.db import sync as sync_db
from theset_daemon.db.sync import SyncArtist
from theset_daemon.jobs.context import JobContext, JobResult, UpdateActiveArtistsParams
from theset_daemon.jobs.pipeline import resumed_summary, run_ranked_pipeline
from theset_daemon.jobs.summaries import PROVIDERS, UpdateActiveArtistsSummary
from theset_daemon.log import get_logger
from theset_daemon.upstream.clients import Upstreams
from theset_daemon.upstream.errors import QuotaExhausted, UpstreamError
from theset_daemon.upstream.spotify import AlbumSummary, Artist

log = get_logger(__name__)
T = TypeVar("T")

PAGE_SIZE = 50  # one /artists?ids= batch per page


class ApiCalls:
    """Requests sent per provider since this run started (on top of a resumed run's count)."""

    def __init__(self, upstreams: Upstreams, already: dict[str, int]) -> None:
        self._providers = upstreams.providers
        self._already = dict(already)
        self._start = {name: p.sent for name, p in self._providers.items()}

    def now(self) -> dict[str, int]:
        return {
            name: self._already.get(name, 0)
            + (self._providers[name].sent - self._start[name] if name in self._providers else 0)
            for name in PROVIDERS
        }


class PageLookups:
    """The batched upstream calls of one page, started at once and awaited by each artist:
    Spotify profiles (extended mode) and the Ticketmaster events (``refresh.PageShows``). Owns
    its tasks: :meth:`close` cancels whatever is left."""

    def __init__(self, ctx: JobContext, due: Sequence[SyncArtist]) -> None:
        self._ctx = ctx
        up = ctx.upstreams
        self._tasks: list[asyncio.Task[Any]] = []
        spotify_ids = [] if ctx.spent("spotify") else [a.spotify_id for a in due if a.spotify_id]
        self._profiles = self._start(up.spotify.several_artists(spotify_ids))
        self._shows = refresh.PageShows(
            up,
            ctx.database.pool,
            [a.id for a in due],
            keyword_every=dt.timedelta(days=ctx.holder.current.jobs.keyword_show_lookup_days),
            skip=lambda: ctx.spent("ticketmaster"),
        )

    def _start(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.ensure_future(coro)
        self._tasks.append(task)
        return task

    async def profile(self, artist: SyncArtist) -> Artist | None:
        try:
            profiles = await asyncio.shield(self._profiles)
        except QuotaExhausted as refusal:
            self._ctx.quota_stopped(refusal)
            return None  # the profile waits for the next run's refresh
        except UpstreamError as exc:
            log.warning("artist_profiles_unavailable", error=str(exc))
            return None  # popularity waits for the next run; releases and shows go on
        return profiles.get(artist.spotify_id or "")

    async def events(self, artist: SyncArtist) -> refresh.FoundEvents:
        return await self._shows.events(artist.id)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._shows.close()


async def run(ctx: JobContext) -> JobResult:
    params = ctx.params
    assert isinstance(params, UpdateActiveArtistsParams)
    pool = ctx.database.pool
    tally = UpdateActiveArtistsSummary.from_json(resumed_summary(ctx))
    calls = ApiCalls(ctx.upstreams, tally.api_calls)
    total = min(params.limit, await sync_db.count_active_artists(pool))
    now = dt.datetime.now(dt.UTC)
    lookups: PageLookups | None = None

    def snapshot() -> dict[str, Any]:
        tally.api_calls = calls.now()
        return tally.as_json()

    def due(artist: SyncArtist) -> bool:
        return params.force_sync or is_stale(artist.last_synced_at, now)

    async def prepare(page: Sequence[SyncArtist]) -> None:
        nonlocal lookups
        if lookups is not None:
            await lookups.close()
        lookups = PageLookups(ctx, [a for a in page if due(a)])

    async def process(artist: SyncArtist) -> None:
        tally.selected += 1
        if not due(artist):
            tally.skipped += 1
            return
        assert lookups is not None
        try:
            outcome = await sync_artist(ctx, artist, lookups)
        except QuotaExhausted:
            raise  # not a failure: the pipeline stops the provider for the run
        except Exception:
            tally.failed += 1
            raise
        if outcome.complete:
            tally.synced += 1
        tally.new_releases += outcome.new_releases
        tally.shows_upserted += outcome.shows_written
        tally.songs_upserted += outcome.songs_written
        if outcome.changed:
            await artists_changed(ctx.cache, [artist.id])

    try:
        result = await run_ranked_pipeline(
            ctx,
            sync_db.most_active_artists,
            process=process,
            total=total,
            snapshot=snapshot,
            prepare=prepare,
            limit=params.limit,
            page_size=PAGE_SIZE,
        )
    finally:
        if lookups is not None:
            await lookups.close()
    tally.selected, tally.failed = result.done, result.failed  # page lookups that failed too
    tally.api_calls = calls.now()
    return JobResult(summary=tally, items_total=result.done, items_failed=result.failed)


@dataclass(slots=True)
class Outcome:
    new_releases: int = 0
    songs_written: int = 0
    shows_written: int = 0
    changed: bool = False
    complete: bool = True  # False when a spent quota left a part for the next run


@dataclass(frozen=True, slots=True)
class Releases:
    """The Spotify part of an artist: its release count and the songs of its new releases."""

    total: int
    news: refresh.NewReleases | None


async def sync_artist(ctx: JobContext, artist: SyncArtist, lookups: PageLookups) -> Outcome:
    """Refresh one artist (see the module docstring); raises on an upstream failure. A provider
    whose quota share is spent is skipped, its part left unstamped for the next run."""
    assert artist.spotify_id is not None
    spotify_id = artist.spotify_id
    up = ctx.upstreams
    pool = ctx.database.pool
    outcome = Outcome()

    async def releases() -> Releases:
        first = await up.spotify.artist_albums_page(spotify_id)
        new_albums: list[AlbumSummary] = []
        if first.total != artist.total_albums:
            new_albums = await _new_releases(up, pool, artist, first.items, first.total)
        news = await refresh.new_release_songs(up, new_albums) if new_albums else None
        return Releases(first.total, news)

    read = await ctx.unless_spent("spotify", releases)
    events = await ctx.unless_spent("ticketmaster", lambda: lookups.events(artist))
    profile = await lookups.profile(artist)
    outcome.complete = read is not None and events is not None
    if read is None and events is None:
        return outcome  # every provider it needs is spent for this run
    news = read.news if read is not None else None
    outcome.new_releases = news.releases_read if news else 0
    profile_row = refresh.artist_row(profile) if profile else None

    async with pool.acquire() as conn, conn.transaction():
        if news:
            outcome.songs_written = await refresh.store_new_songs(conn, artist.id, news.songs)
        if events is not None:
            outcome.shows_written = await refresh.store_found_shows(
                conn, artist.id, artist.name, events
            )
        row = await conn.fetchrow(
            """UPDATE artists a SET
                   popularity = coalesce($2, a.popularity),
                   followers = coalesce($3, a.followers),
                   image_url = coalesce($4, a.image_url),
                   genres = coalesce($5, a.genres),
                   total_albums = coalesce($6, a.total_albums),
                   total_songs = (SELECT count(*) FROM songs WHERE artist_id = $1),
                   upcoming_shows = (SELECT count(*) FROM shows WHERE headliner_artist_id = $1
                                     AND status = 'upcoming' AND date >= current_date),
                   last_synced_at = CASE WHEN $7 THEN now() ELSE a.last_synced_at END,
                   shows_synced_at = CASE WHEN $8 THEN now() ELSE a.shows_synced_at END
               FROM (SELECT popularity, followers, image_url, genres, total_songs,
                            upcoming_shows FROM artists WHERE id = $1) old
               WHERE a.id = $1
               RETURNING (old.popularity, old.followers, old.image_url, old.genres,
                          old.total_songs, old.upcoming_shows)
                         IS DISTINCT FROM
                         (a.popularity, a.followers, a.image_url, a.genres,
                          a.total_songs, a.upcoming_shows) AS changed""",
            artist.id,
            profile_row.popularity if profile_row else None,
            profile_row.followers if profile_row else None,
            profile_row.image_url if profile_row else None,
            list(profile_row.genres) if profile_row else None,
            read.total if read is not None else None,
            outcome.complete,
            events is not None,
        )
    await refresh.predict_setlists(pool, artist.id)
    outcome.changed = bool(
        outcome.songs_written or outcome.shows_written or (row is not None and row["changed"])
    )
    return outcome


async def _new_releases(
    up: Upstreams,
    pool: Any,
    artist: SyncArtist,
    first_page: list[AlbumSummary],
    total: int,
) -> list[AlbumSummary]:
    """The ``total - total_albums`` newest releases on the artist's list that we hold no song
    from, looked for from the top of the list down, no further than needed (a removal reads
    just the first page).

    "No song from" is not "new" on its own: a compilation of songs we already have leaves no song
    row of its own, so among the releases we hold nothing from, the newest (by release date) are
    taken as the new ones. The daily discography sync re-reads everything, so a rare wrong guess
    (an old release re-dated, say) lasts a day at most.
    """
    assert artist.spotify_id is not None
    known = {
        r["album_id"]
        for r in await pool.fetch(
            "SELECT DISTINCT album_id FROM songs WHERE artist_id = $1 AND album_id IS NOT NULL",
            artist.id,
        )
    }
    wanted = max(0, total - artist.total_albums)
    found = [a for a in first_page if a.id not in known]
    offset = len(first_page)
    while len(found) < wanted and offset < total:
        page = await up.spotify.artist_albums_page(artist.spotify_id, offset=offset)
        if not page.items:
            break
        found.extend(a for a in page.items if a.id not in known)
        offset += len(page.items)
    # Newest first; a release of unknown date counts as the oldest.
    found.sort(key=lambda a: release_date(a.release_date) or dt.date.min, reverse=True)
    return found[:wanted]
