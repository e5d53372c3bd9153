"""Ticketmaster Discovery v2 client: attractions (artists), events (shows) and their venues.

Paging respects the API's deep-paging rule, ``size * page < 1000``: we ask for the largest page
(200), so an attraction's first 1,000 events take 5 requests and the rest are unreachable by
design (the API refuses them with DIS1035). The daily quota is guarded by the provider's ledger.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from datetime import date, time
from typing import Any, Literal

from pydantic import Field, field_validator

from theset_daemon.config import TicketmasterSettings
from theset_daemon.upstream.errors import UpstreamNotFound
from theset_daemon.upstream.http import Provider
from theset_daemon.upstream.wire import M, WireModel, parse

PROVIDER = "ticketmaster"
PAGE_SIZE = 200  # the API's largest page
DEEP_PAGING_LIMIT = 1000  # size * page must stay below this
MUSIC = "music"

ShowStatus = Literal["upcoming", "cancelled", "postponed"]
# Ticketmaster's dates.status.code -> our shows.status (past shows are "completed" by date, later).
STATUS_MAP: dict[str, ShowStatus] = {
    "onsale": "upcoming",
    "offsale": "upcoming",
    "canceled": "cancelled",
    "cancelled": "cancelled",
    "postponed": "postponed",
    "rescheduled": "upcoming",
}


class _Named(WireModel):
    name: str | None = None


class _State(WireModel):
    name: str | None = None
    state_code: str | None = Field(None, alias="stateCode")


class _Country(WireModel):
    name: str | None = None
    country_code: str | None = Field(None, alias="countryCode")


class _Address(WireModel):
    line1: str | None = None


class _Location(WireModel):
    # The schema says number; the API sends strings. Both parse; garbage becomes None.
    latitude: float | None = None
    longitude: float | None = None

    @field_validator("latitude", "longitude", mode="before")
    @classmethod
    def _lenient_number(cls, value: Any) -> float | None:
        try:
            return float(value) if value not in (None, "") else None
        except (TypeError, ValueError):
            return None


class Venue(WireModel):
    id: str
    name: str
    city: _Named | None = None
    state: _State | None = None
    country: _Country | None = None
    postal_code: str | None = Field(None, alias="postalCode")
    address: _Address | None = None
    location: _Location | None = None
    timezone: str | None = None


class Attraction(WireModel):
    id: str
    name: str
    url: str | None = None


class _Start(WireModel):
    local_date: date | None = Field(None, alias="localDate")
    local_time: time | None = Field(None, alias="localTime")


class _Status(WireModel):
    code: str = "onsale"


class _Dates(WireModel):
    start: _Start = _Start()
    # A postponed event has no start (TBA) but keeps its original date here.
    initial_start: _Start | None = Field(None, alias="initialStartDate")
    timezone: str | None = None
    status: _Status = _Status()


class _PriceRange(WireModel):
    min: float | None = None
    max: float | None = None
    currency: str | None = None


class _EventEmbedded(WireModel):
    venues: tuple[Venue, ...] = ()
    attractions: tuple[Attraction, ...] = ()


class Event(WireModel):
    id: str
    name: str
    url: str | None = None
    dates: _Dates = _Dates()
    price_ranges: tuple[_PriceRange, ...] = Field((), alias="priceRanges")
    embedded: _EventEmbedded = Field(_EventEmbedded(), alias="_embedded")

    @property
    def venue(self) -> Venue | None:
        return self.embedded.venues[0] if self.embedded.venues else None

    @property
    def attractions(self) -> tuple[Attraction, ...]:
        """Headliner first, then the supporting acts, in the API's order."""
        return self.embedded.attractions

    @property
    def status(self) -> ShowStatus:
        return STATUS_MAP.get(self.dates.status.code.lower(), "upcoming")


class _Page(WireModel):
    size: int = 0
    total_elements: int = Field(0, alias="totalElements")
    total_pages: int = Field(0, alias="totalPages")
    number: int = 0


class _EventsEmbedded(WireModel):
    events: tuple[Event, ...] = ()


class _EventsAnswer(WireModel):
    embedded: _EventsEmbedded = Field(_EventsEmbedded(), alias="_embedded")
    page: _Page = _Page()


class _AttractionsEmbedded(WireModel):
    attractions: tuple[Attraction, ...] = ()


class _AttractionsAnswer(WireModel):
    embedded: _AttractionsEmbedded = Field(_AttractionsEmbedded(), alias="_embedded")


def error_detail(body: Any) -> str:
    """``{"fault": {"faultstring", "detail": {"errorcode"}}}`` or ``{"errors": [{"code",
    "detail"}]}``."""
    if not isinstance(body, dict):
        return ""
    if isinstance(fault := body.get("fault"), dict):
        code = (fault.get("detail") or {}).get("errorcode", "")
        return f"{code}: {fault.get('faultstring', '')}".strip(": ")
    if isinstance(errors := body.get("errors"), list) and errors and isinstance(errors[0], dict):
        return f"{errors[0].get('code', '')}: {errors[0].get('detail', '')}".strip(": ")
    return ""


def name_key(name: str) -> str:
    """Case-, accent- and punctuation-blind form of a name, for matching an attraction."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().casefold()
    return re.sub(r"[^a-z0-9]+", "", folded.replace("&", "and"))


class TicketmasterClient:
    def __init__(self, provider: Provider, settings: Callable[[], TicketmasterSettings]) -> None:
        self._provider = provider
        self._settings = settings

    async def _get(self, path: str, endpoint: str, params: dict[str, str | int]) -> Any:
        settings = self._settings()
        response = await self._provider.request(
            "GET",
            f"{settings.base_url}{path}",
            endpoint=endpoint,
            params={**params, "apikey": settings.api_key.get_secret_value()},
        )
        return response.body

    async def search_attractions(self, keyword: str, size: int = 10) -> list[Attraction]:
        endpoint = "/attractions.json"
        params: dict[str, str | int] = {
            "keyword": keyword,
            "classificationName": MUSIC,
            "size": size,
        }
        body = await self._get(endpoint, endpoint, params)
        return list(_parse(_AttractionsAnswer, body, endpoint).embedded.attractions)

    async def attraction(self, attraction_id: str) -> Attraction:
        endpoint = "/attractions/{id}.json"
        body = await self._get(f"/attractions/{attraction_id}.json", endpoint, {})
        return _parse(Attraction, body, endpoint)

    async def events_for_attraction(self, attraction_id: str) -> list[Event]:
        """Every reachable event of the attraction, soonest first."""
        return await self._events({"attractionId": attraction_id})

    async def events_by_keyword(self, artist_name: str) -> list[Event]:
        """Music events found by the artist's name, kept only when the *first* attraction (the
        headliner) is that artist: a keyword search also returns tribute acts and namesakes."""
        wanted = name_key(artist_name)
        events = await self._events({"keyword": artist_name, "classificationName": MUSIC})
        return [e for e in events if e.attractions and name_key(e.attractions[0].name) == wanted]

    async def events_for_attractions(
        self, attraction_ids: Sequence[str], *, read_partial: bool = False
    ) -> tuple[list[Event], bool]:
        """Every reachable event of any of the attractions, in one paged query (``attractionId``
        takes a comma-separated list), and whether that was all of them: False when more events
        matched than deep paging lets anyone read (``size * page < 1000``); ask for fewer
        attractions at a time then. Such a query stops after its first page, which says how many
        matched (reading on would fetch events the caller asks for again), unless
        ``read_partial``: then the first 1,000 are read, for an attraction that has more alone."""
        events, matched = await self._events_counted(
            {"attractionId": ",".join(attraction_ids)}, stop_past_limit=not read_partial
        )
        return events, len(events) >= matched

    async def _events(self, query: dict[str, str | int]) -> list[Event]:
        events, _matched = await self._events_counted(query)
        return events

    async def _events_counted(
        self, query: dict[str, str | int], *, stop_past_limit: bool = False
    ) -> tuple[list[Event], int]:
        """The events of the query as far as deep paging reaches, and how many matched; with
        ``stop_past_limit``, only the first page when more matched than deep paging reaches."""
        endpoint = "/events.json"
        events: list[Event] = []
        page = 0
        matched = 0
        while PAGE_SIZE * page < DEEP_PAGING_LIMIT:
            params: dict[str, str | int] = {
                **query,
                "size": PAGE_SIZE,
                "page": page,
                "sort": "date,asc",
            }
            try:
                body = await self._get(endpoint, endpoint, params)
            except UpstreamNotFound:
                return events, len(events)
            answer = _parse(_EventsAnswer, body, endpoint)
            events.extend(answer.embedded.events)
            matched = max(matched, answer.page.total_elements)
            if stop_past_limit and matched > DEEP_PAGING_LIMIT:
                return events, matched
            page += 1
            if page >= answer.page.total_pages or not answer.embedded.events:
                return events, max(matched, len(events))
        return events, max(matched, len(events))


def _parse(model: type[M], body: Any, endpoint: str) -> M:
    return parse(model, body, provider=PROVIDER, endpoint=endpoint)
