"""`update-active-artists` (CONTRACT.md section 4): keep the artists fans are busy with fresh.

**Selection** (``jobs/active_selection.py``). Artists by activity (``catalog/activity.py``: votes,
follows and page views of the last 24 h / 7 days plus upcoming shows; an artist with none is not
selected), streamed through the bounded pipeline a page at a time.

- A *scheduled* run syncs the ``limit`` most active artists that are **due**, walking the ranking
  past the fresh ones (counted ``skipped``; they do not use up ``limit``) until ``limit`` due
  artists were taken or the ranking ends. Due: refreshed (the older of ``last_synced_at`` and
  ``shows_synced_at``) at least 5 h before the run started, the 6 h stale window
  (:data:`~theset_daemon.catalog.activity.STALE_AFTER`) less a 1 h tolerance
  (:data:`~theset_daemon.catalog.activity.DUE_TOLERANCE`). The window is the schedule's own
  period and a run stamps its artists over its length, so with the bare window what the previous
  fire synced would look a little too fresh six hours later and be skipped every other run; the
  tolerance makes it due again, and a stable top 50 is synced whole by every run. ``forceSync``
  makes everyone in the top ``limit`` due.
- A run *triggered* over HTTP or the CLI does what it is asked (CONTRACT.md section 9): the top
  ``limit`` artists by activity, due or not, the most overdue first.

**Per artist, cheaply.** An unchanged artist costs two upstream requests of its own:

1. Spotify: the newest page of its releases, whose ``total`` says whether anything was released
   or removed since we stored ``artists.total_albums``; only when it moved are the releases we
   have no song from read (``refresh.read_releases``, ``refresh/new_releases.py``). A song we
   already hold (same dedup key) is left to the full discography sync to re-decide. Nothing is
   deleted: a partial read never retires a song.
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

**Each provider's part stands alone.** A failure at one provider never discards what the other
returned: the releases and profile read from Spotify are stored and stamp ``last_synced_at``, the
Ticketmaster shows are stored and stamp ``shows_synced_at``, each only when read. The artist then
counts ``failed`` (its error is reported) and, its older stamp being old, is due again on the next
scheduled run, which redoes the part that worked at the price of an unchanged artist. Every artist
whose row, songs or shows changed has its cached pages invalidated
(``cache.reads.artists_changed``).

**Quota.** Once the run's share of a provider's day is used (``jobs.quota_stops``) its part of
each artist is skipped and the other part still done and stamped, as above: the skipped part's
stamp is left as it was, so the next run takes the artist again (the part that was done costs it
two requests at most). Such an artist counts as neither ``synced`` nor ``failed``; the summary's
``quotaStopped`` names the providers.

Summary: ``{"selected", "synced", "skipped", "failed", "newReleases", "showsUpserted",
"songsUpserted", "apiCalls": {"spotify", "ticketmaster", "setlistfm"}}``; ``newReleases`` counts
the releases fetched as new, ``showsUpserted`` and ``songsUpserted`` the rows inserted or changed,
``apiCalls`` the requests this daemon sent to each provider while the run went (read from the
providers' counters, so an import running at the same time adds its own).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from theset_daemon import refresh
from theset_daemon.cache.reads import artists_changed
from theset_daemon.db.sync import SyncArtist
from theset_daemon.jobs.active_selection import select_artists
from theset_daemon.jobs.context import JobContext, JobResult, UpdateActiveArtistsParams
from theset_daemon.jobs.pipeline import resumed_summary, run_pipeline
from theset_daemon.jobs.summaries import PROVIDERS, UpdateActiveArtistsSummary
from theset_daemon.log import get_logger
from theset_daemon.upstream.clients import Upstreams
from theset_daemon.upstream.errors import QuotaExhausted, UpstreamError
from theset_daemon.upstream.spotify import Artist

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
    tally = UpdateActiveArtistsSummary.from_json(resumed_summary(ctx))
    calls = ApiCalls(ctx.upstreams, tally.api_calls)
    selection = await select_artists(ctx, params)
    lookups: PageLookups | None = None

    def snapshot() -> dict[str, Any]:
        tally.api_calls = calls.now()
        return tally.as_json()

    async def prepare(page: Sequence[SyncArtist]) -> None:
        nonlocal lookups
        if lookups is not None:
            await lookups.close()
        lookups = PageLookups(ctx, [a for a in page if selection.due(a)])

    async def process(artist: SyncArtist) -> None:
        tally.selected += 1
        if not selection.due(artist):
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
        tally.new_releases += outcome.new_releases
        tally.shows_upserted += outcome.shows_written
        tally.songs_upserted += outcome.songs_written
        if outcome.changed:
            await artists_changed(ctx.cache, [artist.id])
        if outcome.error is not None:
            tally.failed += 1
            raise outcome.error  # reported by the pipeline; what the other provider gave stays
        if outcome.complete:
            tally.synced += 1

    try:
        result = await run_pipeline(
            ctx,
            fetch_page=selection.fetch_page,
            process=process,
            cursor_of=selection.cursor_of,
            id_of=lambda artist: artist.id,
            total=selection.total,
            snapshot=snapshot,
            prepare=prepare,
            limit=params.limit,
            page_size=PAGE_SIZE,
            counts=selection.counts,
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
    complete: bool = True  # False when a part was left for the next run (quota or failure)
    error: Exception | None = None  # a provider's failure, raised once the other part is stored


async def sync_artist(ctx: JobContext, artist: SyncArtist, lookups: PageLookups) -> Outcome:
    """Refresh one artist (see the module docstring). A provider whose quota share is spent is
    skipped and one that fails is set aside (``Outcome.error``): either way its part is left
    unstamped for the next run, and the other provider's part is stored and stamped."""
    assert artist.spotify_id is not None
    spotify_id = artist.spotify_id
    up = ctx.upstreams
    pool = ctx.database.pool
    outcome = Outcome()

    read, read_error = await _part(
        ctx,
        "spotify",
        lambda: refresh.read_releases(up, pool, artist.id, spotify_id, artist.total_albums),
    )
    events, events_error = await _part(ctx, "ticketmaster", lambda: lookups.events(artist))
    outcome.error = read_error or events_error
    outcome.complete = read is not None and events is not None
    if read is None and events is None:
        return outcome  # nothing read: every provider it needs is spent or failed
    profile = await lookups.profile(artist)
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
            read is not None,
            events is not None,
        )
    await refresh.predict_setlists(pool, artist.id)
    outcome.changed = bool(
        outcome.songs_written or outcome.shows_written or (row is not None and row["changed"])
    )
    return outcome


async def _part(
    ctx: JobContext, provider: str, call: Callable[[], Awaitable[T]]
) -> tuple[T | None, Exception | None]:
    """``ctx.unless_spent(provider, call)`` with its failure handed back instead of raised, so
    the artist's other part is still stored (a cancellation goes through)."""
    try:
        return await ctx.unless_spent(provider, call), None
    except Exception as exc:
        return None, exc
