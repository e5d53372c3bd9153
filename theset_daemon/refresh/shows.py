"""An artist's shows and their venues, from Ticketmaster.

One mapping (:func:`show_rows`) and one write (:func:`store_shows`) for every caller; how the
events are found is the caller's:

- :func:`refresh_shows` (the import's phase 2) asks by keyword and by attraction id (looked up by
  name, and kept, when the artist has none) and merges the answers; one failed query is a
  warning, all failed is an error. Two requests for one artist: a first import is worth them (the
  keyword search finds events not listed under the attraction). Its keyword search, when it
  answered, is stamped (``shows_keyword_searched_at``) as the artist's latest.
- the jobs (update-active-artists, complete-catalog-sync's show sync) share grouped attraction
  queries among a page of artists and search by keyword only for artists without an attraction
  id, at most once per ``[jobs] keyword_show_lookup_days`` (``refresh/grouped_shows.py``).

Every show an event describes is upserted (an unchanged one is not rewritten); shows are never
deleted here. Then each new upcoming show gets its predicted setlist (``refresh/setlists.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from uuid import UUID

import asyncpg

from theset_daemon.catalog import show_slug, venue_slug
from theset_daemon.db import catalog as store
from theset_daemon.db.conn import Connection
from theset_daemon.refresh.gather import UpstreamErrorGroup, gather_upstream
from theset_daemon.refresh.setlists import predict_setlists
from theset_daemon.upstream.clients import Upstreams
from theset_daemon.upstream.errors import QuotaExhausted, UpstreamError
from theset_daemon.upstream.ticketmaster import Event, name_key


@dataclass(slots=True)
class ShowsRefresh:
    """What one refresh of an artist's shows found and wrote."""

    warnings: list[str] = field(default_factory=list)
    shows_written: int = 0  # show rows inserted or changed


async def refresh_shows(
    up: Upstreams,
    pool: asyncpg.Pool,
    artist_id: UUID,
    artist_name: str,
) -> ShowsRefresh:
    """Find the artist's events, store its shows and venues, mark its shows synced. A quota
    refusal raises :class:`QuotaExhausted`, nothing stored."""
    result = ShowsRefresh()
    tm_id = await pool.fetchval("SELECT ticketmaster_id FROM artists WHERE id = $1", artist_id)
    if tm_id is None:
        tm_id = await _find_attraction(up, artist_name, result)
        if tm_id is not None:
            async with pool.acquire() as conn:
                if not await store.set_external_id(conn, artist_id, "ticketmaster_id", tm_id):
                    tm_id = None  # held by another artist row: match by keyword only
    events: dict[str, Event] = {}
    labels = ["keyword"] + (["attraction"] if tm_id is not None else [])
    queries = [up.ticketmaster.events_by_keyword(artist_name)]
    if tm_id is not None:
        queries.append(up.ticketmaster.events_for_attraction(tm_id))
    failed = 0  # queries, not warnings: a failed attraction search is a warning too
    answers = await gather_upstream(queries)
    for label, answer in zip(labels, answers, strict=True):
        if isinstance(answer, UpstreamError):
            failed += 1
            result.warnings.append(f"shows by {label}: {answer}")
        else:
            for event in answer:
                events.setdefault(event.id, event)
    if not events and failed == len(queries):
        raise UpstreamErrorGroup("every Ticketmaster query failed", result.warnings)
    async with pool.acquire() as conn, conn.transaction():
        written = await store_shows(conn, artist_id, tm_id, artist_name, events.values())
        if not isinstance(answers[0], UpstreamError):
            await mark_keyword_searched(conn, artist_id)
        await _mark_synced(conn, artist_id)
    result.shows_written = written
    await predict_setlists(pool, artist_id)
    return result


async def mark_shows_synced(pool: asyncpg.Pool, artist_id: UUID) -> None:
    """Stamp the artist's shows synced (complete-catalog-sync, once its setlists are read)."""
    async with pool.acquire() as conn:
        await _mark_synced(conn, artist_id)


async def _mark_synced(conn: Connection, artist_id: UUID) -> None:
    await conn.execute("UPDATE artists SET shows_synced_at = now() WHERE id = $1", artist_id)


async def mark_keyword_searched(conn: Connection, artist_id: UUID) -> None:
    """Stamp the artist's shows searched by keyword now (the jobs' keyword cycle starts over)."""
    await conn.execute(
        "UPDATE artists SET shows_keyword_searched_at = now() WHERE id = $1", artist_id
    )


async def _find_attraction(up: Upstreams, name: str, result: ShowsRefresh) -> str | None:
    try:
        attractions = await up.ticketmaster.search_attractions(name)
    except QuotaExhausted:
        raise  # the day is spent: nothing of this refresh is stored
    except UpstreamError as exc:
        result.warnings.append(f"attraction search: {exc}")
        return None
    wanted = name_key(name)
    return next((a.id for a in attractions if name_key(a.name) == wanted), None)


async def store_shows(
    conn: Connection,
    artist_id: UUID,
    ticketmaster_id: str | None,
    artist_name: str,
    events: Iterable[Event],
) -> int:
    """Upsert the shows and venues of the artist's events; how many shows were inserted or
    changed. The caller predicts setlists once this has committed."""
    venues, shows = show_rows(artist_name, events)
    venue_ids = await store.upsert_venues(conn, venues)
    return await store.upsert_shows(conn, artist_id, ticketmaster_id, shows, venue_ids)


def show_rows(
    artist_name: str, events: Iterable[Event]
) -> tuple[list[store.VenueRow], list[store.ShowRow]]:
    """Venue and show rows for an artist's events."""
    venues: dict[str, store.VenueRow] = {}
    shows: list[store.ShowRow] = []
    today = dt.datetime.now(dt.UTC).date()
    for event in events:
        start = event.dates.start.local_date
        if start is None and event.dates.initial_start is not None:
            start = event.dates.initial_start.local_date  # postponed: keep the original date
        if start is None:
            continue  # date TBA and never announced: nothing to show or vote on yet
        venue = event.venue
        if venue is not None and venue.id not in venues:
            city = venue.city.name if venue.city else None
            venues[venue.id] = store.VenueRow(
                ticketmaster_id=venue.id,
                name=venue.name,
                slug=f"{venue_slug(venue.name, city)}-{venue.id[-6:].lower()}",
                city=city,
                state=venue.state.name if venue.state else None,
                state_code=venue.state.state_code if venue.state else None,
                country=venue.country.name if venue.country else None,
                country_code=venue.country.country_code if venue.country else None,
                postal_code=venue.postal_code,
                address=venue.address.line1 if venue.address else None,
                timezone=venue.timezone,
                latitude=venue.location.latitude if venue.location else None,
                longitude=venue.location.longitude if venue.location else None,
            )
        prices = event.price_ranges[0] if event.price_ranges else None
        status = "completed" if start < today and event.status == "upcoming" else event.status
        shows.append(
            store.ShowRow(
                ticketmaster_id=event.id,
                name=event.name,
                slug=f"{show_slug(artist_name, venue.name if venue else event.name, start)}"
                f"-{event.id[-6:].lower()}",
                date=start,
                start_time=event.dates.start.local_time,
                status=status,
                ticket_url=event.url,
                min_price=prices.min if prices else None,
                max_price=prices.max if prices else None,
                currency=prices.currency if prices else None,
                venue_ticketmaster_id=venue.id if venue else None,
                lineup=tuple((a.id, a.name) for a in event.attractions),
            )
        )
    return list(venues.values()), shows
