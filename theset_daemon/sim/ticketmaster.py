"""Ticketmaster Discovery API v2 under ``/discovery/v2``.

HAL JSON as observed (``_embedded``, ``_links`` with relative hrefs that never carry the
``apikey``, ``page``), which is what the samples in ``../shared/upstream`` show and the 2017
Swagger spec does not describe; the objects themselves are written by ``ticketmaster_json.py``.
Decisions where the sources leave room:

- paging is 0-based; ``size`` defaults to 20 and may be 1-200 (else 400 ``DIS1036``);
- deep paging: ``page * size`` up to 1000 is served (the third-party observation in the README:
  "page*size == 1000 is still served"), above 1000 is 400 ``DIS1035`` (the documented "< 1000"
  with the observed boundary);
- a page past the last one is an empty page (no ``_embedded``), like an empty result;
- ``Rate-Limit*`` headers on every 200 and on the quota 429, never on 400/401/404 (as observed);
- per-second throttling answers Apigee's spike-arrest 429 (no ``Retry-After``), the daily quota
  the documented ``QuotaViolation`` 429;
- ``keyword`` matches events through their attractions' names (an artist and any artist whose
  name contains the keyword: the doppelgangers), so a keyword search returns events whose first
  attraction is another artist; ``attractionId`` matches any attraction of an event; a search
  with neither finds nothing (the simulator answers searches, it does not list the world);
- ``sort``: ``date``, ``name`` and ``id`` orders are honoured; anything else is relevance (exact
  name matches of the keyword first, then by date); undated (postponed) events sort last.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from typing import TypeVar
from urllib.parse import quote

from aiohttp import web

from theset_daemon.sim.auth import accepted
from theset_daemon.sim.gate import ProviderError
from theset_daemon.sim.limits import DailyQuota, Provider
from theset_daemon.sim.names import normalize
from theset_daemon.sim.people import ArtistProfile, Guest
from theset_daemon.sim.shows import Event
from theset_daemon.sim.state import SIM_STATE, SimState
from theset_daemon.sim.ticketmaster_json import (
    LOCALE,
    PREFIX,
    Json,
    attraction_json,
    event_json,
    venue_json,
)

MAX_SIZE = 200
MAX_DEPTH = 1000  # page * size above this is refused

T = TypeVar("T")


def _fault_body(status: int, faultstring: str, errorcode: str) -> web.Response:
    body = {"fault": {"faultstring": faultstring, "detail": {"errorcode": errorcode}}}
    return web.json_response(body, status=status)


def _errors(status: int, code: str, detail: str) -> web.Response:
    body = {
        "errors": [
            {
                "_links": {"about": {"href": f"{PREFIX}/errors.html#{code}"}},
                "code": code,
                "detail": detail,
                "status": f"{status} {'BAD_REQUEST' if status == 400 else 'NOT_FOUND'}",
            }
        ]
    }
    return web.json_response(body, status=status)


def _bad_request(code: str, detail: str) -> ProviderError:
    return ProviderError(_errors(400, code, detail))


def _not_found(what: str) -> ProviderError:
    detail = f"Resource not found with provided criteria (locale={LOCALE}, id={what})"
    return ProviderError(_errors(404, "DIS1004", detail))


def quota_headers(quota: DailyQuota, now: dt.datetime) -> dict[str, str]:
    return {
        "Rate-Limit": str(quota.limit),
        "Rate-Limit-Available": str(quota.available),
        "Rate-Limit-Over": str(quota.over),
        "Rate-Limit-Reset": str(DailyQuota.reset_epoch_ms(now)),
    }


class TicketmasterFrontend:
    @property
    def provider(self) -> Provider:
        return "ticketmaster"

    def owns(self, path: str) -> bool:
        return path.startswith(f"{PREFIX}/")

    def rate_limited(self, state: SimState, retry_after_s: int) -> web.Response:
        allowed = f"{state.limits.ticketmaster_per_s:g}ps"
        return _fault_body(
            429,
            f"Spike arrest violation. Allowed rate : {allowed}",
            "policies.ratelimit.SpikeArrestViolation",
        )

    def quota_exceeded(self, state: SimState, now: dt.datetime) -> web.Response:
        response = _fault_body(
            429,
            "Rate limit quota violation. Quota limit  exceeded. Identifier : {apikey}",
            "policies.ratelimit.QuotaViolation",
        )
        response.headers.update(quota_headers(state.quotas["ticketmaster"], now))
        return response

    def fault(self, state: SimState, status: int, retry_after_s: int | None) -> web.Response:
        if status == 429:
            response = self.rate_limited(state, retry_after_s or 1)
        elif status == 503:
            response = _fault_body(
                503,
                "The Service is temporarily unavailable",
                "messaging.adaptors.http.flow.ServiceUnavailable",
            )
        else:
            response = _fault_body(
                status, "Internal Server Error", "messaging.runtime.InternalError"
            )
        if retry_after_s is not None:
            response.headers["Retry-After"] = str(retry_after_s)
        return response

    def authenticate(self, request: web.Request, state: SimState) -> web.Response | None:
        key = request.query.get("apikey")
        if key is None:
            return _fault_body(
                401,
                "Failed to resolve API Key variable request.queryparam.apikey",
                "steps.oauth.v2.FailedToResolveAPIKey",
            )
        if not accepted(key):
            return _fault_body(401, "Invalid ApiKey", "oauth.v2.InvalidApiKey")
        return None

    def not_found(self, request: web.Request) -> web.Response:
        return _errors(404, "DIS1001", f"Resource not found: {request.path}")

    def method_not_allowed(self, request: web.Request) -> web.Response:
        return _errors(405, "DIS1002", f"Method {request.method} is not allowed")

    def finish(self, response: web.StreamResponse, state: SimState, now: dt.datetime) -> None:
        if response.status == 200:
            response.headers.update(quota_headers(state.quotas["ticketmaster"], now))


# --- paging ----------------------------------------------------------------------------------


def _paging(request: web.Request) -> tuple[int, int]:
    def number(name: str, default: int) -> int:
        raw = request.query.get(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise _bad_request("DIS1015", f'Query param "{name}" must be a number') from None

    size, page = number("size", 20), number("page", 0)
    if not 1 <= size <= MAX_SIZE:
        raise _bad_request("DIS1036", 'Query param "size" must be less than 200')
    if page < 0:
        raise _bad_request("DIS1035", 'Query param "page" must not be negative')
    if page * size > MAX_DEPTH:
        raise _bad_request(
            "DIS1035",
            "API Limits Exceeded: Max paging depth exceeded. (page * size) must be less than 1,000",
        )
    return size, page


def _href(request: web.Request, page: int, size: int) -> str:
    kept = [(k, v) for k, v in request.query.items() if k not in ("apikey", "page", "size")]
    query = "&".join(
        f"{k}={quote(v, safe=',')}" for k, v in [*kept, ("page", str(page)), ("size", str(size))]
    )
    return f"{request.path}?{query}"


def _listing(
    request: web.Request, key: str, chosen: list[Json], total: int, size: int, page: int
) -> Json:
    """The HAL envelope of one page: ``chosen`` is that page's items out of ``total``."""
    pages = math.ceil(total / size)
    links: Json = {}
    if pages > 1:
        links["first"] = {"href": _href(request, 0, size)}
    links["self"] = {"href": _href(request, page, size)}
    if page + 1 < pages:
        links["next"] = {"href": _href(request, page + 1, size)}
    if 0 < page < pages:
        links["prev"] = {"href": _href(request, page - 1, size)}
    if pages > 1:
        links["last"] = {"href": _href(request, pages - 1, size)}
    body: Json = {"_embedded": {key: chosen}} if chosen else {}
    body["_links"] = links
    body["page"] = {"size": size, "totalElements": total, "totalPages": pages, "number": page}
    return body


# --- handlers ----------------------------------------------------------------------------------


def _music_only(request: web.Request) -> bool:
    """Every simulated event is music; another classification finds nothing."""
    wanted = request.query.get("classificationName")
    return not wanted or any(part.strip().casefold() == "music" for part in wanted.split(","))


def _keyword_artists(state: SimState, keyword: str) -> list[int]:
    return state.catalog.search(keyword) if normalize(keyword) else []


def _sorted_events(
    request: web.Request, found: Iterable[tuple[ArtistProfile, Event]], keyword: str | None
) -> list[tuple[ArtistProfile, Event]]:
    chosen = list(found)
    order = request.query.get("sort", "relevance,desc")
    if order.startswith("date"):
        chosen.sort(
            key=lambda pair: (pair[1].sort_start, pair[1].ticketmaster_id),
            reverse=order.endswith("desc"),
        )
    elif order.startswith("name"):
        chosen.sort(key=lambda pair: pair[1].name.casefold(), reverse=order.endswith("desc"))
    elif order.startswith("id"):
        chosen.sort(key=lambda pair: pair[1].ticketmaster_id)
    else:  # relevance: exact name matches of the keyword first, then by date
        wanted = normalize(keyword or "")
        chosen.sort(key=lambda pair: (pair[0].normalized != wanted, pair[1].sort_start))
    return chosen


async def events(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    size, page = _paging(request)
    catalog = state.catalog
    found: list[tuple[ArtistProfile, Event]] = []
    keyword = request.query.get("keyword")
    if _music_only(request):
        if "attractionId" in request.query:
            for attraction_id in request.query["attractionId"].split(","):
                who = catalog.attraction(attraction_id.strip())
                if isinstance(who, ArtistProfile):
                    found += [(who, e) for e in catalog.events(who.index)]
                elif isinstance(who, Guest):
                    host = catalog.profile(who.host)
                    found += [
                        (host, e)
                        for e in catalog.events(who.host)
                        if any(g.number == who.number for g in e.supports)
                    ]
            if keyword:
                wanted = normalize(keyword).split()
                found = [(a, e) for a, e in found if all(w in normalize(e.name) for w in wanted)]
        elif keyword:
            for index in _keyword_artists(state, keyword):
                who = catalog.profile(index)
                found += [(who, e) for e in catalog.events(index)]
    ordered = _sorted_events(request, found, keyword)
    window = ordered[page * size : (page + 1) * size]
    items = [event_json(state, artist, event) for artist, event in window]
    return web.json_response(_listing(request, "events", items, len(ordered), size, page))


def _path_id(request: web.Request) -> str:
    return request.match_info["id"].removesuffix(".json")


def _found(value: T | None, what: str) -> T:
    """What the id ``what`` named, or the 404 naming it."""
    if value is None:
        raise _not_found(what)
    return value


async def event(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    event_id = _path_id(request)
    artist, found = _found(state.catalog.event(event_id), event_id)
    return web.json_response(event_json(state, artist, found))


async def attractions(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    size, page = _paging(request)
    keyword = request.query.get("keyword")
    if "id" in request.query:
        found = [state.catalog.attraction(part.strip()) for part in request.query["id"].split(",")]
        chosen = [who for who in found if who is not None]
    elif keyword and _music_only(request):
        chosen = [state.catalog.profile(index) for index in _keyword_artists(state, keyword)]
    else:
        chosen = []
    items = [attraction_json(state, who) for who in chosen[page * size : (page + 1) * size]]
    return web.json_response(_listing(request, "attractions", items, len(chosen), size, page))


async def attraction(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    attraction_id = _path_id(request)
    # Not _found: mypy infers ``object`` for ``T`` when ``T | None`` meets a union.
    who = state.catalog.attraction(attraction_id)
    if who is None:
        raise _not_found(attraction_id)
    return web.json_response(attraction_json(state, who))


async def venue(request: web.Request) -> web.Response:
    venue_id = _path_id(request)
    found = _found(request.app[SIM_STATE].catalog.venue_by_id(venue_id), venue_id)
    return web.json_response(venue_json(found))


def add_routes(app: web.Application) -> None:
    for suffix in (".json", ""):
        app.router.add_get(f"{PREFIX}/events{suffix}", events)
        app.router.add_get(f"{PREFIX}/attractions{suffix}", attractions)
    app.router.add_get(PREFIX + "/events/{id}", event)
    app.router.add_get(PREFIX + "/attractions/{id}", attraction)
    app.router.add_get(PREFIX + "/venues/{id}", venue)
