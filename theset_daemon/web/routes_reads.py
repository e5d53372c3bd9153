"""Public reads, served through the cache: an artist's page and the trending artists.

Both send ``ETag`` (a hash of the exact bytes) and ``Cache-Control``, and answer ``304`` when
``If-None-Match`` names the current ETag. The body of a cache hit is sent as stored, never
re-encoded, which is what keeps a hit close to a bare handler's cost.

``Cache-Control`` is short on purpose: the daemon can invalidate its own tiers the moment an
artist changes, but not a browser's or a CDN's copy, so those revalidate every minute (cheap: a
304 without a body).
"""

from __future__ import annotations

import re
from uuid import UUID

from aiohttp import web
from pydantic import Field

from theset_daemon.appkeys import CACHE, DATABASE
from theset_daemon.cache.entry import Entry
from theset_daemon.cache.keys import Period
from theset_daemon.cache.reads import (
    DEFAULT_LIMIT,
    DEFAULT_PERIOD,
    MAX_LIMIT,
    ArtistPage,
    Reads,
    TrendingArtists,
    artist_page_by_id,
    artist_page_by_slug,
    trending_artists,
)
from theset_daemon.web.api import RouteTable, read_query
from theset_daemon.web.errors import ApiError
from theset_daemon.web.models import ErrorEnvelope, RequestModel

routes = RouteTable()

ARTIST_MAX_AGE_S = 60
TRENDING_MAX_AGE_S = 60

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# A slug: starts with a letter or digit; then letters, digits, '_', '.', '~', '-'; 200 at most.
# Anything else (a path, a quote, a glob, a control character) never reaches the cache or SQL.
_SLUG = re.compile(r"^[^\W_][\w.~-]{0,199}$")
_BAD_REF = "must be an artist id (uuid) or slug (letters, digits, '-', '_', '.', '~'; 1-200)"


class TrendingQuery(RequestModel):
    period: Period = DEFAULT_PERIOD
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


def _reads(request: web.Request) -> Reads:
    return Reads(request.app[DATABASE], request.app[CACHE])


@routes.route(
    "GET",
    "/api/artists/{idOrSlug}",
    summary="An artist (by id or slug) with its upcoming shows and top songs; cached, with ETag",
    responses={200: ArtistPage, 304: None, 400: ErrorEnvelope, 404: ErrorEnvelope},
    headers=("If-None-Match",),
    cors=True,
    tags=("reads",),
)
async def get_artist(request: web.Request) -> web.Response:
    ref = request.match_info["idOrSlug"]
    if _UUID.match(ref):
        entry = await artist_page_by_id.entry(_reads(request), UUID(ref))
    elif _SLUG.match(ref):
        entry = await artist_page_by_slug.entry(_reads(request), ref)
    else:
        raise ApiError(
            400, f"idOrSlug: {_BAD_REF}", details=[{"field": "idOrSlug", "problem": _BAD_REF}]
        )
    if entry.negative:
        raise ApiError(404, "no artist has this id or slug")
    return _send(request, entry, ARTIST_MAX_AGE_S)


@routes.route(
    "GET",
    "/api/trending/artists",
    summary="Trending artists of a window (day, week, month): most activity first; cached",
    responses={200: TrendingArtists, 304: None, 400: ErrorEnvelope},
    query=TrendingQuery,
    headers=("If-None-Match",),
    cors=True,
    tags=("reads",),
)
async def get_trending_artists(request: web.Request) -> web.Response:
    query = read_query(request, TrendingQuery)
    entry = await trending_artists.entry(_reads(request), query.period, query.limit)
    return _send(request, entry, TRENDING_MAX_AGE_S)


def _send(request: web.Request, entry: Entry, max_age_s: int) -> web.Response:
    headers = {"ETag": entry.etag, "Cache-Control": f"public, max-age={max_age_s}"}
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None and etag_matches(if_none_match, entry.etag):
        return web.Response(status=304, headers=headers)
    return web.Response(
        body=entry.data, headers=headers, content_type="application/json", charset="utf-8"
    )


def etag_matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 weak comparison of an ``If-None-Match`` list (or ``*``) against ``etag``."""
    if if_none_match.strip() == "*":
        return True
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag == etag:
            return True
    return False
