"""The jobs' show refresh: the Ticketmaster events of a page of artists in as few requests as the
API allows (update-active-artists, and complete-catalog-sync's show sync).

**Grouped by attraction id.** ``attractionId`` takes a list, so the artists with a linked
attraction id share event queries: :func:`event_groups` puts them in groups of at most
:data:`ATTRACTIONS_PER_QUERY` (the URL stays short) whose stored upcoming shows add up to at most
:data:`EVENTS_PER_QUERY` (deep paging stops at 1,000 events a query: room for new ones). A group
whose query matched more than that is split in halves, each asked again; the first page says how
many matched, so a split costs one request. An artist with more than 1,000 events of its own gets
the first 1,000 (soonest first) and a warning. A group whose query failed falls back to one query
per artist. An event goes to the first act of its bill that is in the group: the per-artist query
lists an event under every act of its bill, so both store the same shows. A page of 100 artists
costs about four requests (plus a page of 200 events more where a group has more), where asking
by attraction and by keyword for each cost 200.

**Keyword searches** are for artists without a linked attraction id only, and on a longer cycle:
at most once per ``[jobs] keyword_show_lookup_days`` (``artists.shows_keyword_searched_at``,
which the import's keyword query stamps too). The search keeps the events headlined by an act of
the artist's name (``events_by_keyword``); when they all name one attraction, it is linked to the
artist, which from then on shares the grouped queries. An unlinked artist whose search is not due
costs nothing; its stored shows stay as they are until then.

**Statuses** come with the events: an upcoming show that Ticketmaster now reports cancelled or
postponed is updated by the upsert (``refresh.show_rows`` maps ``dates.status.code``), whichever
query found it. Shows are never deleted here.

The import's phase 2 keeps :func:`~theset_daemon.refresh.refresh_shows` (a keyword and an
attraction query for one artist): a first import is worth its second request, and its keyword
search counts as the artist's latest.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

import asyncpg

from theset_daemon.catalog.plan import ATTRACTIONS_PER_QUERY
from theset_daemon.db import catalog as store
from theset_daemon.db.conn import Connection
from theset_daemon.log import get_logger
from theset_daemon.refresh.setlists import predict_setlists
from theset_daemon.refresh.shows import mark_keyword_searched, store_shows
from theset_daemon.upstream.clients import Upstreams
from theset_daemon.upstream.errors import QuotaExhausted, UpstreamError
from theset_daemon.upstream.ticketmaster import DEEP_PAGING_LIMIT, Event, TicketmasterClient

log = get_logger(__name__)
T = TypeVar("T")

EVENTS_PER_QUERY = 600  # expected events per grouped query: room for new ones under 1,000


@dataclass(frozen=True, slots=True)
class ShowArtist:
    """What the show refresh reads of an artist row."""

    id: UUID
    name: str
    ticketmaster_id: str | None
    shows_ahead: int  # stored shows dated today or later: its expected share of a query
    keyword_searched_at: dt.datetime | None


@dataclass(slots=True)
class FoundEvents:
    """An artist's events as the page's lookups found them, and what to record with them."""

    events: list[Event]
    ticketmaster_id: str | None  # the artist's attraction id, linked before or by this lookup
    by_keyword: bool = False  # a keyword search answered: stamp shows_keyword_searched_at
    warnings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class GroupAnswer:
    """What the grouped queries of some attractions read."""

    events: dict[str, list[Event]] = field(default_factory=dict)  # only the attractions answered
    truncated: dict[str, int] = field(default_factory=dict)  # alone past 1,000: events read
    failed: dict[str, UpstreamError] = field(default_factory=dict)  # asked alone, failed


def event_groups(artists: Sequence[ShowArtist]) -> list[list[ShowArtist]]:
    """Artists in groups for one events query each: at most ATTRACTIONS_PER_QUERY, their stored
    upcoming shows (at least one counted each) adding up to at most EVENTS_PER_QUERY."""
    groups: list[list[ShowArtist]] = []
    current: list[ShowArtist] = []
    expected = 0
    for artist in artists:
        weight = max(1, artist.shows_ahead)
        if current and (
            len(current) >= ATTRACTIONS_PER_QUERY or expected + weight > EVENTS_PER_QUERY
        ):
            groups.append(current)
            current, expected = [], 0
        current.append(artist)
        expected += weight
    if current:
        groups.append(current)
    return groups


def by_first_act(events: Sequence[Event], attraction_ids: Sequence[str]) -> dict[str, list[Event]]:
    """Each event under the first act of its bill that is one of ``attraction_ids`` (a show has
    one headliner row, so an event two of them play goes to the one billed first)."""
    wanted = set(attraction_ids)
    found: dict[str, list[Event]] = {tm_id: [] for tm_id in attraction_ids}
    for event in events:
        owner = next((a.id for a in event.attractions if a.id in wanted), None)
        if owner is not None:
            found[owner].append(event)
    return found


async def read_group(tm: TicketmasterClient, attraction_ids: Sequence[str]) -> GroupAnswer:
    """The events of the attractions by grouped queries, halved while more match than can be
    read; a group whose query failed is asked again one attraction at a time. Raises only a
    quota refusal (the provider's day is over for this caller)."""
    answer = GroupAnswer()
    await _read_into(tm, list(attraction_ids), answer)
    return answer


async def _read_into(tm: TicketmasterClient, ids: list[str], answer: GroupAnswer) -> None:
    alone = len(ids) == 1
    try:
        events, complete = await tm.events_for_attractions(ids, read_partial=alone)
    except QuotaExhausted:
        raise
    except UpstreamError as exc:
        if alone:
            answer.failed[ids[0]] = exc
            return
        log.warning("events_group_failed", attractions=len(ids), error=str(exc))
        await _side_by_side(_read_into(tm, [tm_id], answer) for tm_id in ids)
        return
    if not complete and not alone:
        log.info("events_group_split", attractions=len(ids))
        half = len(ids) // 2
        await _side_by_side(
            [_read_into(tm, ids[:half], answer), _read_into(tm, ids[half:], answer)]
        )
        return
    if not complete:
        answer.truncated[ids[0]] = len(events)
        log.warning("events_truncated", attraction_id=ids[0], events_read=len(events))
    answer.events.update(by_first_act(events, ids))


async def _side_by_side(calls: Iterable[Awaitable[None]]) -> None:
    """Await the calls at once; once all have settled, raise the first exception (a quota
    refusal: every other upstream failure is recorded in the answer)."""
    for outcome in await asyncio.gather(*calls, return_exceptions=True):
        if isinstance(outcome, BaseException):
            raise outcome


async def read_show_artists(pool: asyncpg.Pool, artist_ids: Sequence[UUID]) -> list[ShowArtist]:
    """The artists' rows as the show refresh needs them, in the order given."""
    rows = await pool.fetch(
        """SELECT a.id, a.name, a.ticketmaster_id, a.shows_keyword_searched_at,
                  (SELECT count(*) FROM shows s WHERE s.headliner_artist_id = a.id
                     AND s.date >= current_date) AS shows_ahead
           FROM artists a WHERE a.id = ANY($1::uuid[])""",
        list(artist_ids),
    )
    by_id = {r["id"]: r for r in rows}
    return [
        ShowArtist(
            id=row["id"],
            name=row["name"],
            ticketmaster_id=row["ticketmaster_id"],
            shows_ahead=int(row["shows_ahead"]),
            keyword_searched_at=row["shows_keyword_searched_at"],
        )
        for row in (by_id.get(artist_id) for artist_id in artist_ids)
        if row is not None
    ]


class PageShows:
    """The events of one page of artists, looked up as the module docstring says: the page's
    rows are read and its grouped queries started at once, and each artist awaits its share
    (:meth:`events`). ``skip()`` true when the page starts (the provider's share of the day is
    used) sends no grouped query. Owns its tasks: :meth:`close` cancels whatever is left."""

    def __init__(
        self,
        up: Upstreams,
        pool: asyncpg.Pool,
        artist_ids: Sequence[UUID],
        *,
        keyword_every: dt.timedelta,
        skip: Callable[[], bool] = lambda: False,
    ) -> None:
        self._up = up
        self._pool = pool
        self._keyword_every = keyword_every
        self._skip = skip
        self._tasks: list[asyncio.Task[Any]] = []
        self._groups: dict[str, asyncio.Task[GroupAnswer]] = {}
        self._plan = self._start(self._read_plan(list(artist_ids)))

    def _start(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.ensure_future(coro)
        self._tasks.append(task)
        return task

    async def _read_plan(self, artist_ids: list[UUID]) -> dict[UUID, ShowArtist]:
        artists = await read_show_artists(self._pool, artist_ids)
        if not self._skip():
            for group in event_groups([a for a in artists if a.ticketmaster_id]):
                ids = [a.ticketmaster_id for a in group if a.ticketmaster_id]
                task = self._start(read_group(self._up.ticketmaster, ids))
                self._groups.update((tm_id, task) for tm_id in ids)
        return {a.id: a for a in artists}

    async def events(self, artist_id: UUID) -> FoundEvents:
        """The artist's events (it must be on the page). Raises the upstream error of its own
        query when that failed, and :class:`QuotaExhausted` when the day's share is used."""
        artist = (await asyncio.shield(self._plan))[artist_id]
        tm_id = artist.ticketmaster_id
        if tm_id is None:
            return await self._by_keyword(artist)
        group = self._groups.get(tm_id)
        answer = await asyncio.shield(group) if group is not None else GroupAnswer()
        if tm_id in answer.failed:
            raise answer.failed[tm_id]
        events = answer.events.get(tm_id)
        if events is None:  # the page began with the provider spent: no grouped query
            events = await self._up.ticketmaster.events_for_attraction(tm_id)
        warnings = []
        if tm_id in answer.truncated:
            warnings.append(
                f"more than {DEEP_PAGING_LIMIT:,} events: the first {answer.truncated[tm_id]:,}"
                " (soonest first) stored"
            )
        return FoundEvents(events, tm_id, warnings=warnings)

    async def _by_keyword(self, artist: ShowArtist) -> FoundEvents:
        searched = artist.keyword_searched_at
        if searched is not None and dt.datetime.now(dt.UTC) - searched < self._keyword_every:
            return FoundEvents([], None)  # not due: nothing asked, nothing changed
        events = await self._up.ticketmaster.events_by_keyword(artist.name)
        headliners = {e.attractions[0].id for e in events}  # each kept event has its headliner
        linked = None
        if len(headliners) == 1:
            (found,) = headliners
            async with self._pool.acquire() as conn:
                if await store.set_external_id(conn, artist.id, "ticketmaster_id", found):
                    linked = found  # else another artist row holds it: matched by name still
        return FoundEvents(events, linked, by_keyword=True)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def store_found_shows(
    conn: Connection, artist_id: UUID, artist_name: str, found: FoundEvents
) -> int:
    """Store the shows and venues of ``found`` (``refresh.store_shows``) and stamp the keyword
    search it made, in the caller's transaction; how many shows were inserted or changed. The
    caller predicts setlists once this has committed."""
    written = await store_shows(conn, artist_id, found.ticketmaster_id, artist_name, found.events)
    if found.by_keyword:
        await mark_keyword_searched(conn, artist_id)
    return written


async def store_found(
    pool: asyncpg.Pool, artist_id: UUID, artist_name: str, found: FoundEvents
) -> int:
    """:func:`store_found_shows` in a transaction of its own, then the artist's new upcoming
    shows get their predicted setlists."""
    async with pool.acquire() as conn, conn.transaction():
        written = await store_found_shows(conn, artist_id, artist_name, found)
    await predict_setlists(pool, artist_id)
    return written
