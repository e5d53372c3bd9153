"""The three phases of an artist import, as functions of (upstreams, database, job).

Phase 1 resolves the artist upstream and upserts its row; it runs inside the HTTP request.
Phase 2 stores shows and venues from Ticketmaster; phase 3 the song catalog from Spotify and one
predicted setlist per upcoming show. Phases 2 and 3 are idempotent (upserts keyed by provider
ids), so a resumed job simply runs its unfinished phases again.

A failure of one album batch or one events query is isolated: the phase stores what it got and
reports a warning; only a failure that leaves nothing to store fails the phase.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TypeVar
from uuid import UUID

import asyncpg

from theset_daemon.catalog import (
    TrackCandidate,
    choose_canonical,
    is_live,
    is_remix,
    normalize_title,
    show_slug,
    song_key,
    venue_slug,
)
from theset_daemon.db import catalog as store
from theset_daemon.log import get_logger
from theset_daemon.upstream.clients import Upstreams
from theset_daemon.upstream.errors import UpstreamError, UpstreamNotFound
from theset_daemon.upstream.spotify import Album, AlbumSummary, Artist, Image
from theset_daemon.upstream.ticketmaster import Event, name_key

log = get_logger(__name__)
T = TypeVar("T")

# Albums fetched per step: one /albums?ids= batch in extended mode; progress moves per step.
ALBUMS_PER_STEP = 20
TRACKS_PER_STEP = 50  # one /tracks?ids= batch
PREDICTED_SETLIST_SIZE = 10  # within the 8-12 the product asks for
ALBUM_ART_MAX_WIDTH_PX = 640


class ArtistNotFound(Exception):
    """No upstream artist matches the request."""


@dataclass(frozen=True, slots=True)
class ImportRequest:
    spotify_id: str | None = None
    ticketmaster_id: str | None = None
    name: str | None = None

    def as_json(self) -> dict[str, str]:
        fields = {
            "spotifyId": self.spotify_id,
            "ticketmasterId": self.ticketmaster_id,
            "name": self.name,
        }
        return {k: v for k, v in fields.items() if v is not None}


@dataclass(slots=True)
class PhaseResult:
    warnings: list[str] = field(default_factory=list)
    albums: int = 0


# --- phase 1 -----------------------------------------------------------------------------------


async def resolve_artist(up: Upstreams, request: ImportRequest) -> tuple[Artist, str | None]:
    """The Spotify artist for the request, and the Ticketmaster attraction id when given."""
    if request.spotify_id:
        try:
            return await up.spotify.artist(request.spotify_id, urgent=True), None
        except UpstreamNotFound:
            raise ArtistNotFound(f"no Spotify artist {request.spotify_id}") from None
    if request.ticketmaster_id:
        try:
            attraction = await up.ticketmaster.attraction(request.ticketmaster_id, urgent=True)
        except UpstreamNotFound:
            raise ArtistNotFound(f"no Ticketmaster attraction {request.ticketmaster_id}") from None
        return await _search_one(up, attraction.name), attraction.id
    assert request.name is not None
    return await _search_one(up, request.name), None


async def _search_one(up: Upstreams, name: str) -> Artist:
    found = await up.spotify.search_artists(name, limit=5, urgent=True)
    if not found:
        raise ArtistNotFound(f"no Spotify artist matches {name!r}")
    wanted = name_key(name)
    exact = [a for a in found if name_key(a.name) == wanted]
    return (exact or found)[0]


def artist_row(artist: Artist, ticketmaster_id: str | None) -> store.ArtistRow:
    return store.ArtistRow(
        name=artist.name,
        spotify_id=artist.id,
        ticketmaster_id=ticketmaster_id,
        image_url=artist.images[0].url if artist.images else None,
        genres=tuple(artist.genres),
        popularity=artist.popularity,
        followers=artist.followers.total if artist.followers else None,
    )


# --- phase 2 -----------------------------------------------------------------------------------


async def import_shows(
    up: Upstreams, pool: asyncpg.Pool, artist_id: UUID, artist_name: str
) -> PhaseResult:
    result = PhaseResult()
    tm_id = await pool.fetchval("SELECT ticketmaster_id FROM artists WHERE id = $1", artist_id)
    if tm_id is None:
        tm_id = await _find_attraction(up, artist_name, result)
        if tm_id is not None:
            async with pool.acquire() as conn:
                if not await store.set_ticketmaster_id(conn, artist_id, tm_id):
                    tm_id = None  # held by another artist row: match by keyword only
    events: dict[str, Event] = {}
    labels = ["keyword"] + (["attraction"] if tm_id is not None else [])
    queries = [up.ticketmaster.events_by_keyword(artist_name)]
    if tm_id is not None:
        queries.append(up.ticketmaster.events_for_attraction(tm_id))
    for label, answer in zip(labels, await _gather_upstream(queries), strict=True):
        if isinstance(answer, UpstreamError):
            result.warnings.append(f"shows by {label}: {answer}")
        else:
            for event in answer:
                events.setdefault(event.id, event)
    if not events and len(result.warnings) == len(queries):
        raise UpstreamErrorGroup("every Ticketmaster query failed", result.warnings)
    venues, shows = show_rows(artist_name, events.values())
    async with pool.acquire() as conn, conn.transaction():
        venue_ids = await store.upsert_venues(conn, venues)
        await store.upsert_shows(conn, artist_id, tm_id, shows, venue_ids)
        await conn.execute("UPDATE artists SET shows_synced_at = now() WHERE id = $1", artist_id)
    return result


async def _gather_upstream(calls: Sequence[Awaitable[T]]) -> list[T | UpstreamError]:
    """Run the calls at once (the provider's gate paces them); an upstream failure of one is
    returned in its place, anything else (a bug, a cancellation) propagates."""
    answers = await asyncio.gather(*calls, return_exceptions=True)
    for answer in answers:
        if isinstance(answer, BaseException) and not isinstance(answer, UpstreamError):
            raise answer
    return answers  # type: ignore[return-value]


class UpstreamErrorGroup(Exception):
    def __init__(self, message: str, details: list[str]) -> None:
        super().__init__(f"{message}: {'; '.join(details)}")


async def _find_attraction(up: Upstreams, name: str, result: PhaseResult) -> str | None:
    try:
        attractions = await up.ticketmaster.search_attractions(name)
    except UpstreamError as exc:
        result.warnings.append(f"attraction search: {exc}")
        return None
    wanted = name_key(name)
    return next((a.id for a in attractions if name_key(a.name) == wanted), None)


def show_rows(
    artist_name: str, events: Iterable[Event]
) -> tuple[list[store.VenueRow], list[store.ShowRow]]:
    """Venue and show rows for an artist's events (the import's and the syncs' one mapping)."""
    venues: dict[str, store.VenueRow] = {}
    shows: list[store.ShowRow] = []
    today = datetime.now(UTC).date()
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


# --- phase 3 -----------------------------------------------------------------------------------


async def fetch_albums(
    up: Upstreams, spotify_id: str, result: PhaseResult
) -> list[tuple[AlbumSummary, Album]]:
    """Every release (album, single, compilation) with all its tracks; a failed batch is
    skipped with a warning."""
    summaries = await up.spotify.artist_albums(spotify_id)
    result.albums = len(summaries)
    fetched: list[tuple[AlbumSummary, Album]] = []
    by_id = {s.id: s for s in summaries}
    batches = [
        summaries[i : i + ALBUMS_PER_STEP] for i in range(0, len(summaries), ALBUMS_PER_STEP)
    ]
    answers = await _gather_upstream([up.spotify.albums_with_tracks(b) for b in batches])
    for batch, answer in zip(batches, answers, strict=True):
        if isinstance(answer, UpstreamError):
            result.warnings.append(f"{len(batch)} release(s) skipped: {answer}")
        else:
            fetched.extend((by_id.get(a.id, a), a) for a in answer)
    return fetched


def choose_songs(
    albums: Sequence[tuple[AlbumSummary, Album]], popularity: dict[str, int | None]
) -> list[store.SongRow]:
    """One row per distinct song: duplicates across releases merge by :func:`song_key`, the
    version kept chosen by :func:`choose_canonical`."""
    groups: dict[str, list[tuple[TrackCandidate, store.SongRow]]] = defaultdict(list)
    for summary, album in albums:
        album_type = (
            summary.album_type if summary.album_type in ("album", "single", "compilation") else None
        )
        released = _release_date(summary.release_date)
        image = best_image_url(summary.images)
        for track in album.tracks.items:
            live = is_live(track.name, summary.name, summary.album_type)
            pop = popularity.get(track.id, track.popularity)
            row = store.SongRow(
                spotify_id=track.id,
                name=track.name,
                normalized_title=normalize_title(track.name),
                album_name=summary.name,
                album_id=summary.id,
                album_type=album_type,
                album_image_url=image,
                release_date=released,
                track_number=track.track_number,
                disc_number=track.disc_number,
                duration_ms=track.duration_ms if track.duration_ms > 0 else None,
                popularity=pop,
                preview_url=track.preview_url,
                spotify_uri=track.uri,
                is_explicit=track.explicit,
                is_live=live,
                is_remix=is_remix(track.name),
            )
            candidate = TrackCandidate(
                track_id=track.id,
                title=track.name,
                album_type=summary.album_type,
                album_name=summary.name,
                release_date=released,
                popularity=pop,
                explicit=track.explicit,
            )
            groups[song_key(track.name, live=live, track_id=track.id)].append((candidate, row))
    chosen: list[store.SongRow] = []
    for members in groups.values():
        best = choose_canonical([candidate for candidate, _ in members])
        chosen.append(next(row for candidate, row in members if candidate is best))
    return chosen


def best_image_url(
    images: Sequence[Image], max_width_px: int = ALBUM_ART_MAX_WIDTH_PX
) -> str | None:
    """The album art to store: the largest image no wider than ``max_width_px`` (Spotify sends
    640, 300 and 64 px; 640 is what a phone's full-width cover needs, anything larger is bytes
    nobody sees); when every image is wider, the narrowest; an image of unknown width only when
    none has one."""
    sized = [i for i in images if i.width is not None]
    if not sized:
        return images[0].url if images else None
    fitting = [i for i in sized if i.width is not None and i.width <= max_width_px]
    if fitting:
        return max(fitting, key=lambda i: i.width or 0).url
    return min(sized, key=lambda i: i.width or 0).url


def _release_date(text: str | None) -> date | None:
    """Spotify's release_date has year, month or day precision."""
    if not text:
        return None
    parts = text.split("-")
    try:
        return date(
            int(parts[0]),
            int(parts[1]) if len(parts) > 1 else 1,
            int(parts[2]) if len(parts) > 2 else 1,
        )
    except (ValueError, IndexError):
        return None


@dataclass(slots=True)
class CatalogScan:
    """An artist's whole song catalog as the import's rules choose it."""

    albums: list[tuple[AlbumSummary, Album]]
    songs: list[store.SongRow]
    tracks_seen: int  # tracks on every fetched release, before the dedup
    result: PhaseResult


async def track_popularity(
    up: Upstreams, albums: Sequence[tuple[AlbumSummary, Album]], result: PhaseResult
) -> dict[str, int | None]:
    """Popularity of the albums' tracks (full track objects, extended mode only)."""
    track_ids = [t.id for _, album in albums for t in album.tracks.items]
    popularity: dict[str, int | None] = {}
    chunks = [track_ids[i : i + TRACKS_PER_STEP] for i in range(0, len(track_ids), TRACKS_PER_STEP)]
    for answer in await _gather_upstream([up.spotify.tracks(chunk) for chunk in chunks]):
        if isinstance(answer, UpstreamError):
            result.warnings.append(f"track popularity partly unavailable: {answer}")
        else:
            popularity.update((t.id, t.popularity) for t in answer)
    return popularity


async def scan_catalog(up: Upstreams, spotify_id: str) -> CatalogScan:
    """Every release, every track, the dedup: what :func:`import_songs` and the discography
    sync store."""
    result = PhaseResult()
    albums = await fetch_albums(up, spotify_id, result)
    popularity = await track_popularity(up, albums, result)
    songs = choose_songs(albums, popularity)
    seen = sum(len(album.tracks.items) for _, album in albums)
    return CatalogScan(albums=albums, songs=songs, tracks_seen=seen, result=result)


async def import_songs(
    up: Upstreams, pool: asyncpg.Pool, artist_id: UUID, spotify_id: str
) -> PhaseResult:
    scan = await scan_catalog(up, spotify_id)
    result, songs = scan.result, scan.songs
    async with pool.acquire() as conn, conn.transaction():
        await store.upsert_songs(conn, artist_id, songs)
        if not result.warnings:  # only a complete catalog may retire earlier choices
            await store.drop_superseded_songs(conn, artist_id, [s.spotify_id for s in songs])
        await store.predict_setlists(conn, artist_id, PREDICTED_SETLIST_SIZE)
        await conn.execute(
            """UPDATE artists SET song_catalog_synced_at = now(), total_albums = $2,
                   total_songs = (SELECT count(*) FROM songs WHERE artist_id = $1)
               WHERE id = $1""",
            artist_id,
            result.albums,
        )
    return result
