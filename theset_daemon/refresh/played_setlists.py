"""The setlists of the artists who played: complete-catalog-sync's setlist step, after its shows.

**Who.** Setlists have no age (``catalog/plan.py``): an artist's are due once it played a show
after they were last fetched (``artists.setlists_synced_at``), and when they were never fetched
(the first read brings the newest page of its history). Who played is read from the stored
shows, the past Ticketmaster events the show sync just stored among them (``db/setlists.py``: a
show dated ``D`` counts as played at ``D + 1`` 00:00 UTC). So, once every artist has been read
once, the step costs what the shows played cost, not what the catalog's size costs: an artist
that played nothing since its last fetch has nothing new on setlist.fm worth a request.

**Two ways**, chosen each run from the expected requests:

- *one by one*: the newest page of each due artist's setlists (``refresh_past_setlists``), one
  request an artist, plus a name search for one without a MusicBrainz id (then kept); paced as
  the job paces its artists (``batch_size`` at a time, ``delay_s`` between);
- *the feed*: ``search/setlists?lastUpdated=since`` pages, every artist's setlists updated since
  ``since`` (setlist.fm's own change list), ``since`` the oldest ``setlists_synced_at`` of the due
  artists that could be read from it. One page holds 20 setlists of any artists, so when many
  artists played, a few pages cover them all.

An artist without a MusicBrainz id (the feed names artists by it) or never fetched (the feed has
only what changed, not its history) always goes one by one. For the others the feed's first page
is fetched as a probe: it tells how many setlists, so how many pages, the walk takes. Fewer pages
than due artists: the walk goes on from the probe (not wasted); else they go one by one and the
probe cost one request. With fewer than :data:`PROBE_FROM` artists the probe is skipped: with one
it can only add a request, with two it saves one at best and wastes one at worst.

**Stamps.** An artist asked alone is stamped with the moment before its request, once setlist.fm
answered. A complete walk of the feed that started at ``T`` (taken before its first request) has
seen every setlist updated since ``since``: every artist with a MusicBrainz id fetched at or
after ``since`` is current as of ``T``, due or not, and all are stamped in one ``UPDATE``. Pages
are newest event first, so a setlist updated during the walk can push one already read onto the
next page (read twice), never hide one. Setlists of artists not in the catalog are ignored; every
catalog artist's are stored (a setlist entered late, or filled in, is new to us).

**Failures.** A failed request is the artist's failure (its stamp stays, the next run asks again);
a failed feed is one failure, and its artists go one by one. A quota refusal raises
(:class:`~theset_daemon.upstream.errors.QuotaExhausted`): what was stored and stamped stays, the
rest is due next run. Ticketmaster plays no part here: its failure does not stop this step, and
this step's does not unstamp the shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol
from uuid import UUID

import asyncpg

from theset_daemon.db import setlists as setlists_db
from theset_daemon.db.setlists import DueArtist
from theset_daemon.log import get_logger
from theset_daemon.refresh.setlists import past_setlist, refresh_past_setlists
from theset_daemon.upstream.clients import Upstreams
from theset_daemon.upstream.errors import QuotaExhausted
from theset_daemon.upstream.setlistfm import SetlistPage

log = get_logger(__name__)

#: Due artists (with a MusicBrainz id and a fetched-at) from which the feed's first page is worth
#: a probe; below it they go one by one (the module docstring says why).
PROBE_FROM = 3

Way = Literal["feed", "one-by-one"]


class Pacing(Protocol):
    """The job's pacing (``[jobs.<job>]``): artists at a time, and the pause between."""

    @property
    def batch_size(self) -> int: ...

    @property
    def delay_s(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Unpaced:
    """One artist at a time, no pause: the pacing of a caller that is not a paced job."""

    batch_size: int = 1
    delay_s: float = 0.0


@dataclass(slots=True)
class PlayedSetlists:
    """What one setlist step did, filled in as it goes (a quota stop keeps what was counted)."""

    due: int = 0
    #: "feed" when the feed was walked (the rest one by one), "one-by-one", or "none".
    way: str = "none"
    asked: int = 0  # artists asked one by one
    feed_pages: int = 0
    setlists_created: int = 0
    stamped: int = 0
    changed: list[UUID] = field(default_factory=list)  # artists whose setlists were stored
    failed: list[tuple[UUID | None, str]] = field(default_factory=list)

    @property
    def items(self) -> int:
        """The step's items: each artist asked alone, and the feed when it was read."""
        return self.asked + (1 if self.feed_pages else 0)


async def refresh_played_setlists(
    up: Upstreams,
    pool: asyncpg.Pool,
    outcome: PlayedSetlists,
    *,
    limit: int | None = None,
    way: Way | None = None,
    stopping: asyncio.Event | None = None,
    pacing: Callable[[], Pacing] = Unpaced,
) -> PlayedSetlists:
    """Read and store the setlists of every artist that played since its last setlist fetch (or
    never had them read), the cheaper way (or ``way``, for tests), into ``outcome``. At most
    ``limit`` artists are asked one by one, never read first, then longest waiting, ``pacing()``
    (re-read as it goes) of them at a time with its pause between; ``stopping`` set, no new one
    starts. Raises :class:`QuotaExhausted` when the quota stops it."""
    stopping = stopping or asyncio.Event()
    async with pool.acquire() as conn:
        due = await setlists_db.due_setlist_artists(conn)
    outcome.due = len(due)
    by_feed = [a for a in due if a.mbid is not None and a.setlists_synced_at is not None]
    walked = False
    if by_feed and way != "one-by-one" and (way == "feed" or len(by_feed) >= PROBE_FROM):
        forced = way == "feed"
        walked = await _walk_feed(up, pool, by_feed, outcome, forced=forced, stopping=stopping)
    covered = {a.id for a in by_feed} if walked else set()
    alone = [a for a in due if a.id not in covered]
    outcome.way = "feed" if walked else "one-by-one" if alone else "none"
    await _one_by_one(up, pool, alone[:limit], outcome, stopping, pacing)
    log.info(
        "played_setlists", due=outcome.due, way=outcome.way, asked=outcome.asked,
        feed_pages=outcome.feed_pages, setlists_created=outcome.setlists_created,
        stamped=outcome.stamped, failed=len(outcome.failed),
    )  # fmt: skip
    return outcome


def pages_of(page: SetlistPage) -> int:
    """The pages a search takes, as its first page says."""
    return math.ceil(page.total / page.items_per_page) if page.items_per_page > 0 else 0


async def _walk_feed(
    up: Upstreams,
    pool: asyncpg.Pool,
    artists: Sequence[DueArtist],
    outcome: PlayedSetlists,
    *,
    forced: bool,
    stopping: asyncio.Event,
) -> bool:
    """Walk the feed when it takes fewer pages than ``artists`` (or ``forced``); True when it
    was walked to its end (the artists it covers are stamped)."""
    since = min(a.setlists_synced_at for a in artists if a.setlists_synced_at is not None)
    started = dt.datetime.now(dt.UTC)
    try:
        page = await up.setlistfm.setlists_updated_since(since, 1)
        outcome.feed_pages += 1
        if not forced and pages_of(page) >= len(artists):
            log.info("played_setlists_feed_declined", pages=pages_of(page), artists=len(artists))
            return False
        while True:
            await _store_feed_page(pool, page, outcome)
            if page.is_last:
                break
            if stopping.is_set():
                return False
            page = await up.setlistfm.setlists_updated_since(since, page.page + 1)
            outcome.feed_pages += 1
    except (QuotaExhausted, asyncio.CancelledError):
        raise
    except Exception as exc:
        log.warning("played_setlists_feed_failed", error=repr(exc), pages=outcome.feed_pages)
        outcome.failed.append((None, f"setlists feed: {type(exc).__name__}: {exc}"[:300]))
        return False
    async with pool.acquire() as conn:
        outcome.stamped += await setlists_db.mark_feed_read(conn, since, started)
    return True


async def _store_feed_page(pool: asyncpg.Pool, page: SetlistPage, outcome: PlayedSetlists) -> None:
    """The page's setlists of shows that happened, of artists in the catalog, stored."""
    today = dt.datetime.now(dt.UTC).date()
    setlists = [s for s in page.setlist if s.event_date < today]
    if not setlists:
        return
    async with pool.acquire() as conn, conn.transaction():
        known = await setlists_db.artists_by_mbid(conn, [s.artist.mbid for s in setlists])
        by_artist: dict[UUID, list[setlists_db.PastSetlist]] = defaultdict(list)
        for setlist in setlists:
            if (artist := known.get(setlist.artist.mbid)) is not None:
                artist_id, name = artist
                by_artist[artist_id].append(past_setlist(name, setlist))
        for artist_id, past in by_artist.items():
            counts = await setlists_db.store_past_setlists(conn, artist_id, past)
            _count(outcome, artist_id, counts)


async def _one_by_one(
    up: Upstreams,
    pool: asyncpg.Pool,
    artists: Sequence[DueArtist],
    outcome: PlayedSetlists,
    stopping: asyncio.Event,
    pacing: Callable[[], Pacing],
) -> None:
    """The artists' newest setlists, ``batch_size`` at a time with ``delay_s`` between, as the
    job's pipeline paces its artists."""
    start = 0
    while start < len(artists) and not stopping.is_set():
        batch = artists[start : start + max(1, pacing().batch_size)]
        start += len(batch)
        asked = [_ask(up, pool, artist, outcome) for artist in batch]
        for answer in await asyncio.gather(*asked, return_exceptions=True):
            if isinstance(answer, BaseException):
                raise answer  # a quota refusal (or a cancel): each failure is recorded
        if start < len(artists) and (pause_s := pacing().delay_s) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=pause_s)


async def _ask(
    up: Upstreams, pool: asyncpg.Pool, artist: DueArtist, outcome: PlayedSetlists
) -> None:
    asked_at = dt.datetime.now(dt.UTC)
    outcome.asked += 1
    try:
        counts = await refresh_past_setlists(up, pool, artist.id, artist.name, artist.mbid)
    except (QuotaExhausted, asyncio.CancelledError):
        raise
    except Exception as exc:
        log.warning("played_setlists_failed", artist_id=str(artist.id), error=repr(exc))
        outcome.failed.append((artist.id, f"setlists: {type(exc).__name__}: {exc}"[:300]))
        return
    if counts is not None:
        _count(outcome, artist.id, counts)
    async with pool.acquire() as conn:
        await setlists_db.mark_setlists_synced(conn, artist.id, asked_at)
    outcome.stamped += 1


def _count(outcome: PlayedSetlists, artist_id: UUID, counts: setlists_db.SetlistCounts) -> None:
    outcome.setlists_created += counts.setlists_created
    if counts.setlists_created or counts.shows_matched or counts.songs_matched:
        outcome.changed.append(artist_id)
