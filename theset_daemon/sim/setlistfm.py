"""setlist.fm REST API 1.0 under ``/rest/1.0``.

Decisions where the sources leave room:

- the ``x-api-key`` header is required: missing or rejected answers **403** with the error body
  ``{code, status, message, timestamp}`` (the API sits behind AWS API Gateway, whose answer to a
  missing or unknown key is 403 Forbidden);
- content negotiation: ``Accept`` naming ``application/json`` gets JSON; no ``Accept``, ``*/*``
  or an XML type gets XML (setlist.fm's default; a simple rendering: scalars as attributes,
  objects and lists as elements), so a client that forgets the header fails to parse, as it
  would live; any other ``Accept`` gets 406;
- artist search: 30 per page (the fixtures'), ``sort`` ``sortName`` (default) or ``relevance``; no
  match, or a page past the last, is 404;
- setlists: 20 per page, newest first, ``p`` 1-based; a page past the last (or an artist without
  setlists) is 404; sets are nested as ``"sets": {"set": [...]}`` and may be empty;
- ``search/setlists``: the same pages, over the whole catalog (``setlist_search.py`` says which
  parameters it serves and in what order it answers);
- 429 comes from API Gateway: ``{"message": "Too Many Requests"}`` with ``x-amzn-ErrorType``, no
  ``Retry-After``; an exhausted daily quota is API Gateway's ``{"message": "Limit Exceeded"}``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any
from xml.etree import ElementTree

from aiohttp import web

from theset_daemon.sim.auth import accepted
from theset_daemon.sim.gate import ProviderError
from theset_daemon.sim.limits import Provider
from theset_daemon.sim.names import normalize, slug
from theset_daemon.sim.people import ArtistProfile, Guest
from theset_daemon.sim.setlist_search import SetlistQuery
from theset_daemon.sim.setlists import Setlist, SetSong, setlist_url
from theset_daemon.sim.state import SIM_STATE, SimState

Json = dict[str, Any]
PREFIX = "/rest/1.0"
SETLISTS_PER_PAGE = 20
ARTISTS_PER_PAGE = 30
_REASONS: Mapping[int, str] = MappingProxyType(
    {
        400: "Bad Request",
        403: "Forbidden",
        404: "Not Found",
        405: "Method Not Allowed",
        500: "Internal Server Error",
    }
)


def _timestamp() -> str:
    now = dt.datetime.now(dt.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


def wants_json(request: web.Request) -> bool | None:
    """True: JSON; False: XML; None: neither is acceptable (406)."""
    accept = request.headers.get("Accept", "").lower()
    if "application/json" in accept:
        return True
    if not accept.strip() or "*/*" in accept or "xml" in accept or "application/*" in accept:
        return False
    return None


def _to_xml(root: str, body: Json) -> bytes:
    def fill(element: ElementTree.Element, value: Json) -> None:
        for key, item in value.items():
            if isinstance(item, dict):
                fill(ElementTree.SubElement(element, key), item)
            elif isinstance(item, list):
                for entry in item:
                    child = ElementTree.SubElement(element, key)
                    if isinstance(entry, dict):
                        fill(child, entry)
                    else:
                        child.text = str(entry)
            elif isinstance(item, bool):
                element.set(key, "true" if item else "false")
            elif item is not None:
                element.set(key, str(item))

    element = ElementTree.Element(root)
    fill(element, body)
    xml: bytes = ElementTree.tostring(element, encoding="utf-8", xml_declaration=True)
    return xml


def respond(request: web.Request, root: str, body: Json, status: int = 200) -> web.Response:
    if wants_json(request) is False:
        return web.Response(
            status=status, body=_to_xml(root, body), content_type="application/xml", charset="utf-8"
        )
    return web.json_response(body, status=status)


def error(request: web.Request, status: int, message: str) -> web.Response:
    body = {
        "code": status,
        "status": _REASONS.get(status, "Error"),
        "message": message,
        "timestamp": _timestamp(),
    }
    return respond(request, "error", body, status)


def _fail(request: web.Request, status: int, message: str) -> ProviderError:
    return ProviderError(error(request, status, message))


def _gateway(status: int, message: str, error_type: str) -> web.Response:
    return web.json_response(
        {"message": message},
        status=status,
        headers={"x-amzn-RequestId": str(uuid.uuid4()), "x-amzn-ErrorType": error_type},
    )


class SetlistfmFrontend:
    @property
    def provider(self) -> Provider:
        return "setlistfm"

    def owns(self, path: str) -> bool:
        return path.startswith(f"{PREFIX}/")

    def rate_limited(self, state: SimState, retry_after_s: int) -> web.Response:
        return _gateway(429, "Too Many Requests", "TooManyRequestsException")

    def quota_exceeded(self, state: SimState, now: dt.datetime) -> web.Response:
        return _gateway(429, "Limit Exceeded", "LimitExceededException")

    def fault(self, state: SimState, status: int, retry_after_s: int | None) -> web.Response:
        if status == 429:
            response = _gateway(429, "Too Many Requests", "TooManyRequestsException")
        elif status == 503:
            response = _gateway(503, "Service Unavailable", "ServiceUnavailableException")
        else:
            body = {
                "code": status,
                "status": _REASONS.get(status, "Error"),
                "message": "internal error",
                "timestamp": _timestamp(),
            }
            response = web.json_response(body, status=status)
        if retry_after_s is not None:
            response.headers["Retry-After"] = str(retry_after_s)
        return response

    def authenticate(self, request: web.Request, state: SimState) -> web.Response | None:
        key = request.headers.get("x-api-key")
        if key is None:
            return error(request, 403, "missing API key")
        if not accepted(key):
            return error(request, 403, "invalid API key")
        if wants_json(request) is None:
            return web.Response(status=406, text="Not Acceptable")
        return None

    def not_found(self, request: web.Request) -> web.Response:
        return error(request, 404, "not found")

    def method_not_allowed(self, request: web.Request) -> web.Response:
        return error(request, 405, f"Request method '{request.method}' not supported")

    def finish(self, response: web.StreamResponse, state: SimState, now: dt.datetime) -> None:
        return None


# --- rendering ---------------------------------------------------------------------------------


def artist_json(who: ArtistProfile | Guest) -> Json:
    if isinstance(who, ArtistProfile):
        return {
            "mbid": who.mbid,
            "name": who.name,
            "sortName": who.sort_name,
            "disambiguation": who.disambiguation,
            "url": f"https://www.setlist.fm/setlists/{who.slug}-{who.setlistfm_key}.html",
        }
    return {
        "mbid": who.mbid,
        "name": who.name,
        "sortName": who.name,
        "disambiguation": "",
        "url": f"https://www.setlist.fm/setlists/{slug(who.name)}-{who.mbid[:8]}.html",
    }


def _song_json(song: SetSong) -> Json:
    body: Json = {"name": song.name}
    if song.with_ is not None:
        body["with"] = artist_json(song.with_)
    if song.cover is not None:
        body["cover"] = artist_json(song.cover)
    if song.info is not None:
        body["info"] = song.info
    if song.tape:
        body["tape"] = True
    return body


def setlist_json(profile: ArtistProfile, setlist: Setlist) -> Json:
    city = setlist.venue.city
    city_json: Json = {"id": city.geo_id, "name": city.name}
    if city.state is not None:
        city_json |= {"state": city.state, "stateCode": city.state_code}
    city_json |= {
        "coords": {"lat": city.latitude, "long": city.longitude},
        "country": {"code": city.country_code, "name": city.country_fm},
    }
    venue = setlist.venue
    venue_json = {
        "id": venue.id,
        "name": venue.name,
        "city": city_json,
        "url": (
            f"https://www.setlist.fm/venue/{slug(venue.name)}-{slug(city.name)}-"
            f"{city.country_code.lower()}-{venue.id}.html"
        ),
    }
    item: Json = {
        "id": setlist.id,
        "versionId": setlist.version_id,
        "eventDate": f"{setlist.date:%d-%m-%Y}",
        "lastUpdated": setlist.last_updated.strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{setlist.last_updated.microsecond // 1000:03d}+0000",
        "artist": artist_json(profile),
        "venue": venue_json,
    }
    if setlist.tour is not None:
        item["tour"] = {"name": setlist.tour}
    sets = []
    for part in setlist.sets:
        set_json: Json = {}
        if part.name is not None:
            set_json["name"] = part.name
        if part.encore is not None:
            set_json["encore"] = part.encore
        set_json["song"] = [_song_json(song) for song in part.songs]
        sets.append(set_json)
    item["sets"] = {"set": sets}
    if setlist.info is not None:
        item["info"] = setlist.info
    item["url"] = setlist_url(profile, setlist)
    return item


def _setlists_body(page: int, total: int, items: list[Json]) -> Json:
    return {
        "type": "setlists",
        "itemsPerPage": SETLISTS_PER_PAGE,
        "page": page,
        "total": total,
        "setlist": items,
    }


def setlists_page(state: SimState, profile: ArtistProfile, page: int) -> Json | None:
    setlists = state.catalog.setlists(profile.index)
    chosen = setlists[(page - 1) * SETLISTS_PER_PAGE : page * SETLISTS_PER_PAGE]
    if not chosen:
        return None
    items = [setlist_json(profile, setlist) for setlist in chosen]
    return _setlists_body(page, len(setlists), items)


# --- handlers ----------------------------------------------------------------------------------


def _page(request: web.Request) -> int:
    raw = request.query.get("p", "1")
    try:
        page = int(raw)
    except ValueError:
        raise _fail(request, 400, f"invalid value for parameter p: {raw}") from None
    if page < 1:
        raise _fail(request, 400, "parameter p must be at least 1")
    return page


def _artist(request: web.Request, state: SimState) -> ArtistProfile | Guest:
    who = state.catalog.by_mbid(request.match_info["mbid"])
    if who is None:
        raise _fail(request, 404, "unknown mbid")
    return who


async def search_artists(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    page = _page(request)
    sort = request.query.get("sort", "sortName")
    if sort not in ("sortName", "relevance"):
        raise _fail(request, 400, f"invalid value for parameter sort: {sort}")
    name = request.query.get("artistName")
    mbid = request.query.get("artistMbid")
    if not name and not mbid:
        raise _fail(
            request, 400, "at least one of artistMbid, artistName or artistTmid is required"
        )
    found: list[ArtistProfile | Guest] = []
    if mbid:
        who = state.catalog.by_mbid(mbid)
        found = [who] if who is not None else []
        if name:
            found = [
                w for w in found if all(t in normalize(w.name) for t in normalize(name).split())
            ]
    else:
        indices = state.catalog.search(name or "")  # relevance order
        profiles = [state.catalog.profile(index) for index in indices]
        if sort == "sortName":
            profiles.sort(key=lambda p: (p.sort_name.casefold(), p.index))
        found = list(profiles)
    chosen = found[(page - 1) * ARTISTS_PER_PAGE : page * ARTISTS_PER_PAGE]
    if not chosen:
        raise _fail(request, 404, "not found")
    body = {
        "type": "artists",
        "itemsPerPage": ARTISTS_PER_PAGE,
        "page": page,
        "total": len(found),
        "artist": [artist_json(who) for who in chosen],
    }
    return respond(request, "artists", body)


async def artist(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    return respond(request, "artist", artist_json(_artist(request, state)))


async def artist_setlists(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    who = _artist(request, state)
    page = _page(request)
    body = setlists_page(state, who, page) if isinstance(who, ArtistProfile) else None
    if body is None:
        raise _fail(request, 404, "not found")
    return respond(request, "setlists", body)


async def search_setlists(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    page = _page(request)
    try:
        query = SetlistQuery.parse(request.query)
    except ValueError as exc:
        raise _fail(request, 400, str(exc)) from None
    found = state.setlist_finder.find(state.catalog, query)
    chosen = found[(page - 1) * SETLISTS_PER_PAGE : page * SETLISTS_PER_PAGE]
    if not chosen:
        raise _fail(request, 404, "not found")
    catalog = state.catalog
    items = [
        setlist_json(catalog.profile(ref.artist), catalog.setlists(ref.artist)[ref.position])
        for ref in chosen
    ]
    return respond(request, "setlists", _setlists_body(page, len(found), items))


def add_routes(app: web.Application) -> None:
    app.router.add_get(f"{PREFIX}/search/artists", search_artists)
    app.router.add_get(f"{PREFIX}/search/setlists", search_setlists)
    app.router.add_get(PREFIX + "/artist/{mbid}", artist)
    app.router.add_get(PREFIX + "/artist/{mbid}/setlists", artist_setlists)
