"""setlist.fm 1.0 client: artist search, an artist's past setlists, and the setlists of every
artist updated since a moment (``search/setlists`` by ``lastUpdated``: what changed since a
refresh last looked, a page at a time, the caller deciding how far to page).

setlist.fm answers "no results" with HTTP 404 (a search that matches nothing, a page past the
end), so here a 404 is an empty result, never an error. Sets are nested as ``sets.set[]`` (the
live API; the docs' example shows a flat ``set``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from pydantic import Field, field_validator

from theset_daemon.config import SetlistfmSettings
from theset_daemon.upstream.errors import UpstreamNotFound
from theset_daemon.upstream.http import Provider
from theset_daemon.upstream.wire import M, WireModel, parse

PROVIDER = "setlistfm"
# A whole discography of setlists is rarely useful for predictions; this bounds the calls.
DEFAULT_MAX_PAGES = 5


class SetlistArtist(WireModel):
    mbid: str
    name: str
    sort_name: str | None = Field(None, alias="sortName")
    disambiguation: str | None = None
    url: str | None = None


class SetlistSong(WireModel):
    name: str
    tape: bool = False  # a recorded intro, not played live
    cover: SetlistArtist | None = None
    with_: SetlistArtist | None = Field(None, alias="with")
    info: str | None = None


class SetlistSet(WireModel):
    name: str | None = None
    encore: int | None = None
    song: tuple[SetlistSong, ...] = ()


class _Sets(WireModel):
    set: tuple[SetlistSet, ...] = ()


class _Named(WireModel):
    id: str | None = None
    name: str | None = None


class SetlistVenue(WireModel):
    id: str | None = None
    name: str | None = None
    city: _Named | None = None


class Setlist(WireModel):
    id: str
    event_date: date = Field(alias="eventDate")
    # "yyyy-MM-dd'T'HH:mm:ss.SSSZZZZZ" ("2013-10-20T05:18:08.000+0000"): pydantic reads the
    # offset without a colon as it is.
    last_updated: datetime | None = Field(None, alias="lastUpdated")
    artist: SetlistArtist
    venue: SetlistVenue | None = None
    tour: _Named | None = None
    sets: _Sets = _Sets()
    url: str | None = None

    @field_validator("event_date", mode="before")
    @classmethod
    def _dd_mm_yyyy(cls, value: Any) -> Any:
        if isinstance(value, str):
            return datetime.strptime(value, "%d-%m-%Y").date()
        return value

    @property
    def songs_played(self) -> list[str]:
        """Song names in the order played, recorded intros left out."""
        return [song.name for s in self.sets.set for song in s.song if not song.tape and song.name]


class _ArtistSearch(WireModel):
    artist: tuple[SetlistArtist, ...] = ()


class SetlistPage(WireModel):
    """One page of setlists: ``page`` from 1, ``items_per_page`` of ``total``."""

    setlist: tuple[Setlist, ...] = ()
    total: int = 0
    page: int = 1
    items_per_page: int = Field(20, alias="itemsPerPage")

    @property
    def is_last(self) -> bool:
        return not self.setlist or self.page * self.items_per_page >= self.total


def error_detail(body: Any) -> str:
    """``{"code", "status", "message", "timestamp"}``, or API Gateway's ``{"message"}``."""
    return str(body.get("message", "")) if isinstance(body, dict) else ""


def _parse(model: type[M], body: Any, endpoint: str) -> M:
    return parse(model, body, provider=PROVIDER, endpoint=endpoint)


class SetlistfmClient:
    def __init__(self, provider: Provider, settings: Callable[[], SetlistfmSettings]) -> None:
        self._provider = provider
        self._settings = settings

    async def _get(self, path: str, endpoint: str, params: dict[str, str | int]) -> Any | None:
        """The answer's JSON, or None for setlist.fm's 404 "nothing here"."""
        settings = self._settings()
        try:
            response = await self._provider.request(
                "GET",
                f"{settings.base_url}{path}",
                endpoint=endpoint,
                params=params,
                headers={
                    "x-api-key": settings.api_key.get_secret_value(),
                    "Accept": "application/json",
                },
            )
        except UpstreamNotFound:
            return None
        return response.body

    async def search_artists(self, name: str) -> list[SetlistArtist]:
        endpoint = "/search/artists"
        body = await self._get(endpoint, endpoint, {"artistName": name, "sort": "relevance"})
        return [] if body is None else list(_parse(_ArtistSearch, body, endpoint).artist)

    async def artist_setlists(self, mbid: str, max_pages: int = DEFAULT_MAX_PAGES) -> list[Setlist]:
        """The artist's setlists, newest first, up to ``max_pages`` pages of 20."""
        endpoint = "/artist/{mbid}/setlists"
        setlists: list[Setlist] = []
        for page_number in range(1, max_pages + 1):
            body = await self._get(f"/artist/{mbid}/setlists", endpoint, {"p": page_number})
            if body is None:
                break
            page = _parse(SetlistPage, body, endpoint)
            setlists.extend(page.setlist)
            if page.is_last:
                break
        return setlists

    async def setlists_updated_since(self, since: datetime, page: int = 1) -> SetlistPage:
        """Page ``page`` (from 1) of every artist's setlists updated at or after ``since``
        (timezone-aware; setlist.fm takes UTC to the second, so it is rounded down and nothing
        updated at or after it is missed). No match, or a page past the last, is an empty page
        with ``total`` 0 (setlist.fm's 404)."""
        if since.tzinfo is None:
            raise ValueError("since must be timezone-aware: setlist.fm's lastUpdated is UTC")
        endpoint = "/search/setlists"
        params: dict[str, str | int] = {
            "lastUpdated": since.astimezone(UTC).strftime("%Y%m%d%H%M%S"),
            "p": page,
        }
        body = await self._get(endpoint, endpoint, params)
        if body is None:
            return SetlistPage(page=page)
        return _parse(SetlistPage, body, endpoint)
