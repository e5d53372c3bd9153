"""Spotify Web API client: client-credentials token, artists, albums and tracks.

``api_mode`` picks the cheapest calls the access level allows:

- ``extended``: batch endpoints. Albums 20 at a time from ``/albums?ids=`` with their first 50
  tracks embedded, full tracks (with popularity) 50 at a time from ``/tracks?ids=``, artist
  albums 50 a page.
- ``development`` (the February 2026 rules): no batch endpoints, no popularity or followers;
  artist albums 10 a page, and each album's tracks from ``/albums/{id}/tracks`` (50 a page), which
  is one request per album, the same as ``/albums/{id}`` but without the album fields we already
  have from the artist's album list.

The level in force is found as well as configured (``spotify_access.py``): a refusal Spotify
gives a development-mode app is answered the development way, and the development rules hold
from then on.

Answers are validated with pydantic models of just the fields we use; anything else is ignored,
and a missing or mistyped field raises :class:`UpstreamMalformed` naming the endpoint.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, Protocol, TypeVar

from theset_daemon.config import SpotifySettings
from theset_daemon.upstream import request_class
from theset_daemon.upstream.errors import UpstreamAuthError, UpstreamClientError
from theset_daemon.upstream.http import Provider
from theset_daemon.upstream.spotify_access import EXTENDED_ONLY, AccessLevel, FoundAccessLevel
from theset_daemon.upstream.wire import M, WireModel, parse

PROVIDER = "spotify"
# Refresh this long before the token's stated expiry, so no call ever carries a dead token.
TOKEN_REFRESH_MARGIN_S = 60.0
ALBUM_GROUPS = ("album", "single", "compilation")  # "appears_on" is other artists' releases
BATCH_ALBUMS = 20
BATCH_TRACKS = 50
BATCH_ARTISTS = 50
TRACKS_PAGE = 50
PAGE_LIMIT: dict[AccessLevel, int] = {"extended": 50, "development": 10}

T = TypeVar("T")
Item_co = TypeVar("Item_co", covariant=True)


class Image(WireModel):
    url: str
    height: int | None = None
    width: int | None = None


class Followers(WireModel):
    total: int | None = None


class ArtistRef(WireModel):
    id: str
    name: str


class Artist(WireModel):
    id: str
    name: str
    genres: tuple[str, ...] = ()
    images: tuple[Image, ...] = ()
    popularity: int | None = None  # absent in development mode
    followers: Followers | None = None  # absent in development mode


class Track(WireModel):
    id: str
    name: str
    duration_ms: int
    explicit: bool = False
    track_number: int = 1
    disc_number: int = 1
    artists: tuple[ArtistRef, ...] = ()
    popularity: int | None = None  # full track objects in extended mode only
    preview_url: str | None = None
    uri: str | None = None


class TrackPage(WireModel):
    items: list[Track]
    next: str | None = None
    total: int = 0


class AlbumSummary(WireModel):
    """An item of an artist's album list (SimplifiedAlbum + album_group)."""

    id: str
    name: str
    album_type: str
    album_group: str | None = None  # absent in development mode
    release_date: str | None = None
    total_tracks: int = 0
    images: tuple[Image, ...] = ()
    artists: tuple[ArtistRef, ...] = ()


class Album(AlbumSummary):
    """An album with every one of its tracks (the embedded first page plus any further pages)."""

    tracks: TrackPage


class _Paging(WireModel):
    next: str | None = None
    total: int = 0


class _ArtistPaging(_Paging):
    items: list[Artist]


class _SearchAnswer(WireModel):
    artists: _ArtistPaging


class _SeveralArtists(WireModel):
    artists: list[Artist | None]


class AlbumPage(WireModel):
    """One page of an artist's releases, newest first within each group, and how many there are
    in all (``total``): what a sync compares with what it stored."""

    items: list[AlbumSummary]
    total: int = 0
    next: str | None = None


class _SeveralAlbums(WireModel):
    albums: list[Album | None]


class _SeveralTracks(WireModel):
    tracks: list[Track | None]


class _TopTracks(WireModel):
    tracks: list[Track]


class _Token(WireModel):
    access_token: str
    token_type: str
    expires_in: int


def _parse(model: type[M], body: Any, endpoint: str) -> M:
    return parse(model, body, provider=PROVIDER, endpoint=endpoint)


def error_detail(body: Any) -> str:
    """The message of Spotify's ``{"error": {"status", "message"}}`` or the accounts service's
    ``{"error", "error_description"}``."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("message", ""))
        if isinstance(error, str):
            return f"{error}: {body.get('error_description', '')}"
    return ""


def _chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class _Page(Protocol[Item_co]):
    @property
    def items(self) -> Sequence[Item_co]: ...

    @property
    def next(self) -> str | None: ...


async def _to_the_end(
    page_at: Callable[[int], Awaitable[_Page[Item_co]]], offset: int = 0
) -> list[Item_co]:
    """Every item from ``offset`` on, a page at a time. Paged by our own offsets (never by
    fetching ``next`` as given), so a URL in an answer can never send our token anywhere else."""
    items: list[Item_co] = []
    while True:
        page = await page_at(offset + len(items))
        items.extend(page.items)
        if page.next is None or not page.items:
            return items


class SpotifyClient:
    def __init__(self, provider: Provider, settings: Callable[[], SpotifySettings]) -> None:
        self._provider = provider
        self._settings = settings
        self._token: str | None = None
        self._token_expires_at = 0.0
        # One refresh at a time: a hundred callers finding the token stale wait for one request.
        self._token_lock = asyncio.Lock()
        self.access = FoundAccessLevel(lambda: settings().api_mode)

    @property
    def mode(self) -> AccessLevel:
        """The access level in force: the one Spotify's answers showed, else ``api_mode``."""
        return self.access.in_force

    async def _extended_only(self, call: Callable[[], Awaitable[T]]) -> T | None:
        """``call`` (an endpoint only extended mode has), or None when Spotify refused it with
        403, as it does a development-mode app: the caller then does it the development way."""
        try:
            return await call()
        except UpstreamAuthError as exc:
            if exc.status != 403 or exc.endpoint not in EXTENDED_ONLY:
                raise
            self.access.development_found(exc.endpoint, exc.status)
            return None

    async def _list_page(self, path: str, endpoint: str, params: dict[str, str | int]) -> Any:
        """GET one page of a list at ``params["limit"]``. A 400 to a limit over development
        mode's that the same request at development's limit does not get is Spotify refusing a
        development-mode app the extended page: that page's answer is kept, and the development
        rules are followed from then on. A 400 for anything else fails the same at either limit
        and is raised as it is."""
        try:
            return await self._get(path, endpoint, params)
        except UpstreamClientError as exc:
            small = PAGE_LIMIT["development"]
            if exc.status != 400 or int(params["limit"]) <= small:
                raise
            body = await self._get(path, endpoint, {**params, "limit": small})
            self.access.development_found(exc.endpoint, exc.status)
            return body

    # --- token ---------------------------------------------------------------------------

    async def _access_token(self) -> str:
        if self._token is not None and time.monotonic() < self._token_expires_at:
            return self._token
        async with self._token_lock:
            if self._token is not None and time.monotonic() < self._token_expires_at:
                return self._token  # refreshed while we waited for the lock
            settings = self._settings()
            credentials = (
                f"{settings.client_id.get_secret_value()}:"
                f"{settings.client_secret.get_secret_value()}"
            )
            # First in line whoever started it: an import's phase 1 may be waiting on it.
            with request_class.first_in_line():
                response = await self._provider.request(
                    "POST",
                    f"{settings.accounts_base_url}/api/token",
                    endpoint="/api/token",
                    headers={
                        "Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()
                    },
                    data={"grant_type": "client_credentials"},
                )
            token = _parse(_Token, response.body, "/api/token")
            self._token = token.access_token
            lifetime_s = max(0.0, token.expires_in - TOKEN_REFRESH_MARGIN_S)
            self._token_expires_at = time.monotonic() + lifetime_s
            return self._token

    async def _get(
        self,
        path: str,
        endpoint: str,
        params: dict[str, str | int] | None = None,
    ) -> Any:
        """GET an API path with a fresh token; a 401 (token revoked early) refreshes it once."""
        for attempt in (1, 2):
            token = await self._access_token()
            try:
                response = await self._provider.request(
                    "GET",
                    f"{self._settings().api_base_url}{path}",
                    endpoint=endpoint,
                    params=params,
                    headers={"Authorization": f"Bearer {token}"},
                )
            except UpstreamAuthError as exc:
                if exc.status != 401 or attempt == 2:
                    raise
                if self._token == token:
                    self._token = None
                continue
            return response.body
        raise AssertionError("unreachable")

    # --- artists ---------------------------------------------------------------------------

    async def search_artists(self, query: str, limit: int = 5) -> list[Artist]:
        limit = min(limit, PAGE_LIMIT[self.mode])
        params: dict[str, str | int] = {"q": query, "type": "artist", "limit": limit}
        body = await self._list_page("/search", "/search", params)
        return _parse(_SearchAnswer, body, "/search").artists.items

    async def artist(self, artist_id: str) -> Artist:
        endpoint = "/artists/{id}"
        body = await self._get(f"/artists/{artist_id}", endpoint)
        return _parse(Artist, body, endpoint)

    async def several_artists(self, artist_ids: Sequence[str]) -> dict[str, Artist]:
        """Artists by id, 50 a request (extended mode: popularity and followers included).
        Development mode has no batch endpoint and no popularity: {} without a request."""
        if self.mode != "extended":
            return {}
        endpoint = "/artists"
        found: dict[str, Artist] = {}
        for chunk in _chunks(artist_ids, BATCH_ARTISTS):
            ids: dict[str, str | int] = {"ids": ",".join(chunk)}
            body = await self._extended_only(partial(self._get, "/artists", endpoint, ids))
            if body is None:
                return {}  # development mode after all: no batch, no popularity
            for artist in _parse(_SeveralArtists, body, endpoint).artists:
                if artist is not None:
                    found[artist.id] = artist
        return found

    async def artist_albums_page(
        self, artist_id: str, offset: int = 0, include_groups: Sequence[str] = ALBUM_GROUPS
    ) -> AlbumPage:
        """One page (the largest the mode allows) of the artist's releases from ``offset``."""
        endpoint = "/artists/{id}/albums"
        params: dict[str, str | int] = {
            "include_groups": ",".join(include_groups),
            "limit": PAGE_LIMIT[self.mode],
            "offset": offset,
        }
        body = await self._list_page(f"/artists/{artist_id}/albums", endpoint, params)
        return _parse(AlbumPage, body, endpoint)

    async def artist_albums(
        self, artist_id: str, include_groups: Sequence[str] = ALBUM_GROUPS
    ) -> list[AlbumSummary]:
        """Every release of the artist in ``include_groups``, paged to the end."""
        return await _to_the_end(
            lambda offset: self.artist_albums_page(artist_id, offset, include_groups)
        )

    # --- albums and tracks ------------------------------------------------------------------

    async def albums_with_tracks(self, albums: Sequence[AlbumSummary]) -> list[Album]:
        """Each album with all of its tracks, by the cheapest calls the mode allows."""
        if self.mode == "extended":
            ids = [a.id for a in albums]
            batched = await self._extended_only(partial(self._albums_batched, ids))
            if batched is not None:
                return batched
        return [await self._album_from_tracks(summary) for summary in albums]

    async def _albums_batched(self, album_ids: Sequence[str]) -> list[Album]:
        endpoint = "/albums"
        albums: list[Album] = []
        for chunk in _chunks(album_ids, BATCH_ALBUMS):
            body = await self._get("/albums", endpoint, {"ids": ",".join(chunk)})
            for album in _parse(_SeveralAlbums, body, endpoint).albums:
                if album is None:
                    continue  # an id Spotify no longer knows
                if album.tracks.next is not None:
                    rest = await self.album_tracks(album.id, offset=len(album.tracks.items))
                    whole = TrackPage(items=[*album.tracks.items, *rest], total=album.tracks.total)
                    album = album.model_copy(update={"tracks": whole})
                albums.append(album)
        return albums

    async def _album_from_tracks(self, summary: AlbumSummary) -> Album:
        tracks = await self.album_tracks(summary.id)
        return Album(**summary.model_dump(), tracks=TrackPage(items=tracks, total=len(tracks)))

    async def album_tracks(self, album_id: str, *, offset: int = 0) -> list[Track]:
        """The album's tracks from ``offset`` on, 50 a page, to the end."""
        return await _to_the_end(lambda at: self._album_tracks_page(album_id, at), offset)

    async def _album_tracks_page(self, album_id: str, offset: int) -> TrackPage:
        endpoint = "/albums/{id}/tracks"
        params: dict[str, str | int] = {"limit": TRACKS_PAGE, "offset": offset}
        body = await self._get(f"/albums/{album_id}/tracks", endpoint, params)
        return _parse(TrackPage, body, endpoint)

    async def tracks(self, track_ids: Sequence[str]) -> list[Track]:
        """Full track objects (with popularity), 50 a request. Extended mode only: development
        mode has no batch endpoint and no popularity, so there is nothing to gain."""
        if self.mode != "extended":
            return []
        endpoint = "/tracks"
        found: list[Track] = []
        for chunk in _chunks(track_ids, BATCH_TRACKS):
            ids: dict[str, str | int] = {"ids": ",".join(chunk)}
            body = await self._extended_only(partial(self._get, "/tracks", endpoint, ids))
            if body is None:
                return []  # development mode after all: no batch, no popularity
            found.extend(t for t in _parse(_SeveralTracks, body, endpoint).tracks if t is not None)
        return found

    async def top_tracks(self, artist_id: str) -> list[Track]:
        """The artist's top tracks; extended mode only (removed from development mode in 2026)."""
        if self.mode != "extended":
            return []
        endpoint = "/artists/{id}/top-tracks"
        path = f"/artists/{artist_id}/top-tracks"
        body = await self._extended_only(partial(self._get, path, endpoint))
        return [] if body is None else _parse(_TopTracks, body, endpoint).tracks
