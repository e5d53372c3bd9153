"""The documents the read routes serve, cached: an artist's page and the trending lists.

Each is a :func:`with_cache` function over the queries of ``db/artists.py``; the pydantic models
below are the documents' shapes (and the OpenAPI schemas of the routes). The cache holds the
models' JSON form, so a memory hit is sent as stored, with its ETag.

Who invalidates what:
- a sync or import that changes an artist calls :func:`artists_changed` after committing: every
  key tagged with that artist (its page by id and by slug, each trending list it appears in) goes;
- ``calculate-trending`` calls :func:`warm_trending` after refreshing the scores: every trending
  list goes, and the lists and the top artists' pages are loaded again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from pydantic import BaseModel, ConfigDict, WithJsonSchema
from pydantic.alias_generators import to_camel

from theset_daemon.cache import keys
from theset_daemon.cache.cached import with_cache
from theset_daemon.cache.core import Cache
from theset_daemon.cache.keys import PERIODS, Period
from theset_daemon.db import artists as queries
from theset_daemon.db.pool import Database
from theset_daemon.log import get_logger

log = get_logger(__name__)

PERIOD_DAYS: dict[Period, int] = {"day": 1, "week": 7, "month": 30}
DEFAULT_PERIOD: Period = "week"
DEFAULT_LIMIT = 20
MAX_LIMIT = queries.TRENDING_MAX


@dataclass(frozen=True, slots=True)
class Reads:
    """What a cached read needs: the database to load from and the cache to keep it in."""

    database: Database
    cache: Cache


# --- documents ---------------------------------------------------------------------------------


#: A show's start as the venue's wall-clock time ("19:30:00"). It has no UTC offset, so it is not
#: JSON Schema's ``time`` format (RFC 3339 full-time, offset required) that pydantic would claim.
LocalTime = Annotated[
    dt.time,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^[0-2][0-9]:[0-5][0-9]:[0-5][0-9](\.[0-9]+)?$",
            "description": "local time at the venue, no UTC offset",
        }
    ),
]


class _Document(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class Artist(_Document):
    id: UUID
    slug: str
    name: str
    spotify_id: str | None
    ticketmaster_id: str | None
    mbid: str | None
    image_url: str | None
    genres: list[str]
    popularity: int | None
    followers: int | None
    trending_score: float
    total_shows: int
    upcoming_shows: int
    total_songs: int
    total_albums: int
    last_synced_at: dt.datetime | None
    updated_at: dt.datetime


class VenueSummary(_Document):
    id: UUID
    name: str
    slug: str
    city: str | None
    state: str | None
    country: str | None


class ShowSummary(_Document):
    id: UUID
    slug: str
    name: str
    date: dt.date
    start_time: LocalTime | None
    status: str
    ticket_url: str | None
    min_price: float | None
    max_price: float | None
    currency: str | None
    #: False when the artist is a support act on this show's bill.
    is_headliner: bool
    venue: VenueSummary | None


class SongSummary(_Document):
    id: UUID
    name: str
    spotify_id: str | None
    album_name: str | None
    album_image_url: str | None
    release_date: dt.date | None
    duration_ms: int | None
    popularity: int | None
    is_explicit: bool
    is_remix: bool
    preview_url: str | None


class ArtistPage(_Document):
    """``GET /api/artists/{idOrSlug}``: the artist, its upcoming shows, its top songs."""

    artist: Artist
    upcoming_shows: list[ShowSummary]
    top_songs: list[SongSummary]


class TrendingActivity(_Document):
    """What happened in the window: votes on the artist's shows, new follows, page views."""

    votes: int
    follows: int
    page_views: int


class TrendingArtist(_Document):
    rank: int
    id: UUID
    slug: str
    name: str
    image_url: str | None
    genres: list[str]
    popularity: int | None
    followers: int | None
    trending_score: float
    upcoming_shows: int
    activity: TrendingActivity


class TrendingArtists(_Document):
    """``GET /api/trending/artists``: ranked by activity in the window (one point per vote,
    follow or page view), then by trending score, then by popularity."""

    period: Period
    limit: int
    generated_at: dt.datetime
    artists: list[TrendingArtist]


# --- cached loaders ----------------------------------------------------------------------------


def _page_tags(page: dict[str, Any]) -> list[str]:
    return [keys.artist_tag(page["artist"]["id"])]


def _list_tags(listing: dict[str, Any]) -> list[str]:
    return [keys.artist_tag(artist["id"]) for artist in listing["artists"]]


def _no_artists(listing: dict[str, Any]) -> bool:
    # An empty ranking (no artists yet, or a view not yet refreshed) is kept briefly only.
    return not listing["artists"]


@with_cache(keys.artist_by_id, "artist", tags=_page_tags)
async def artist_page_by_id(reads: Reads, artist_id: UUID) -> dict[str, Any] | None:
    """The artist page, or None when no artist has this id."""
    async with reads.database.pool.acquire() as conn:
        return await _artist_page(conn, await queries.artist_by_id(conn, artist_id))


@with_cache(keys.artist_by_slug, "artist", tags=_page_tags)
async def artist_page_by_slug(reads: Reads, slug: str) -> dict[str, Any] | None:
    """The artist page, or None when no artist has this slug."""
    async with reads.database.pool.acquire() as conn:
        return await _artist_page(conn, await queries.artist_by_slug(conn, slug))


async def _artist_page(conn: queries.Executor, row: asyncpg.Record | None) -> dict[str, Any] | None:
    if row is None:
        return None
    shows = await queries.upcoming_shows(conn, row["id"])
    songs = await queries.top_songs(conn, row["id"])
    page = ArtistPage(
        artist=Artist.model_validate(dict(row)),
        upcoming_shows=[_show(show) for show in shows],
        top_songs=[SongSummary.model_validate(dict(song)) for song in songs],
    )
    return page.model_dump(mode="json", by_alias=True)


def _show(row: asyncpg.Record) -> ShowSummary:
    fields = dict(row)
    venue = None
    if fields["venue_id"] is not None:
        venue = VenueSummary(
            id=fields["venue_id"],
            name=fields["venue_name"],
            slug=fields["venue_slug"],
            city=fields["venue_city"],
            state=fields["venue_state"],
            country=fields["venue_country"],
        )
    return ShowSummary.model_validate({**fields, "venue": venue})


@with_cache(keys.trending_ranking, "trending", tags=_list_tags, negative=_no_artists)
async def trending_ranking(reads: Reads, period: Period) -> dict[str, Any]:
    """The top :data:`MAX_LIMIT` artists of one window: one query, shared by every ``limit``."""
    rows = await queries.trending(reads.database.pool, PERIOD_DAYS[period], MAX_LIMIT)
    listing = TrendingArtists(
        period=period,
        limit=MAX_LIMIT,
        generated_at=dt.datetime.now(dt.UTC),
        artists=[
            TrendingArtist(
                rank=rank,
                id=row["id"],
                slug=row["slug"],
                name=row["name"],
                image_url=row["image_url"],
                genres=row["genres"],
                popularity=row["popularity"],
                followers=row["followers"],
                trending_score=row["trending_score"],
                upcoming_shows=row["upcoming_shows"],
                activity=TrendingActivity(
                    votes=row["votes"], follows=row["follows"], page_views=row["page_views"]
                ),
            )
            for rank, row in enumerate(rows, start=1)
        ],
    )
    return listing.model_dump(mode="json", by_alias=True)


@with_cache(keys.trending_artists, "trending", tags=_list_tags, negative=_no_artists)
async def trending_artists(reads: Reads, period: Period, limit: int) -> dict[str, Any]:
    """The first ``limit`` artists of the window's ranking."""
    ranking = await trending_ranking(reads, period)
    return {**ranking, "limit": limit, "artists": ranking["artists"][:limit]}


# --- invalidation and warming ------------------------------------------------------------------


async def artists_changed(cache: Cache, artist_ids: Iterable[UUID | str]) -> int:
    """Drop every cached document showing one of these artists (call after the commit)."""
    return await cache.invalidate_tags(*(keys.artist_tag(artist_id) for artist_id in artist_ids))


@dataclass(frozen=True, slots=True)
class WarmSummary:
    #: Trending lists loaded (each window's ranking and each requested ``limit`` of it).
    lists: int
    #: Distinct artists among the top of the windows.
    artists: int
    #: Artist pages loaded now; the others were in the cache already.
    loaded: int
    failed: int


async def warm_trending(
    reads: Reads,
    *,
    top: int = 50,
    limits: Iterable[int] = (DEFAULT_LIMIT,),
    concurrency: int = 8,
) -> WarmSummary:
    """After ``calculate-trending``: reload every trending list and the top artists' pages.

    The old lists are dropped first (the scores just changed), then each window's ranking and its
    lists for ``limits`` are loaded, then the pages of the first ``top`` artists of each window
    that are not cached yet, ``concurrency`` at a time. A page that fails to load is logged and
    counted, and does not stop the others.
    """
    await reads.cache.invalidate_pattern(keys.TRENDING_PATTERN)
    lists = 0
    top_ids: dict[UUID, None] = {}
    for period in PERIODS:
        ranking = await trending_ranking(reads, period)
        lists += 1
        for limit in limits:
            await trending_artists(reads, period, limit)
            lists += 1
        for artist in ranking["artists"][:top]:
            top_ids.setdefault(UUID(artist["id"]))

    gate = asyncio.Semaphore(concurrency)

    async def warm_one(artist_id: UUID) -> bool:
        async with gate:
            if reads.cache.peek(keys.artist_by_id(artist_id)) is not None:
                return False
            await artist_page_by_id(reads, artist_id)
            return True

    results = await asyncio.gather(*(warm_one(i) for i in top_ids), return_exceptions=True)
    failed = 0
    for artist_id, result in zip(top_ids, results, strict=True):
        if isinstance(result, BaseException):
            if isinstance(result, asyncio.CancelledError):
                raise result
            failed += 1
            log.warning("cache_warm_failed", artist_id=str(artist_id), error=repr(result))
    loaded = sum(1 for result in results if result is True)
    summary = WarmSummary(lists=lists, artists=len(top_ids), loaded=loaded, failed=failed)
    log.info("cache_warmed", lists=lists, artists=len(top_ids), loaded=loaded, failed=failed)
    return summary
