"""Spotify: the accounts service's ``/api/token`` and the Web API under ``/v1``.

Shapes follow Spotify's OpenAPI and the samples in ``../shared/upstream``. Two access levels
(``SimLimits.spotify_mode``, switchable at run time by ``POST /_sim/spotify-mode``):

- ``extended``: every endpoint, full objects; search and artist-albums ``limit`` up to 50.
- ``development`` (February 2026 rules): batch ``/albums``, ``/tracks``, ``/artists`` and
  ``/artists/{id}/top-tracks`` answer 403; search and artist-albums ``limit`` up to 10 (default
  5); artists lose ``followers`` and ``popularity``, albums ``album_group``,
  ``available_markets``, ``label`` and ``popularity``, tracks ``available_markets`` and
  ``popularity``.

Every ``href``, ``next`` and ``previous`` is an absolute URL on the host the request came to, so a
client that follows ``next`` stays on the simulator. ``market`` is accepted and ignored. The
objects themselves are written by ``spotify_json.py``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TypeVar

from aiohttp import web

from theset_daemon.sim.auth import accepted
from theset_daemon.sim.catalog import Catalog
from theset_daemon.sim.gate import ProviderError
from theset_daemon.sim.ids import is_spotify_id
from theset_daemon.sim.limits import Provider, SpotifyMode
from theset_daemon.sim.params import query_int
from theset_daemon.sim.people import ArtistProfile, Credit, Guest
from theset_daemon.sim.releases import COUNTED_GROUPS, AlbumGroup, Track
from theset_daemon.sim.spotify_json import Json, Renderer
from theset_daemon.sim.state import SIM_STATE, SimState

ALL_GROUPS: tuple[AlbumGroup, ...] = ("album", "single", "compilation", "appears_on")
SEARCH_TYPES = ("album", "artist", "playlist", "track", "show", "episode", "audiobook")
# (default, maximum) of ``limit`` per mode.
LIST_LIMITS: Mapping[SpotifyMode, tuple[int, int]] = MappingProxyType(
    {"extended": (20, 50), "development": (5, 10)}
)
ALBUM_TRACKS_LIMITS = (20, 50)
MAX_BATCH: Mapping[str, int] = MappingProxyType({"albums": 20, "tracks": 50, "artists": 50})
SEARCH_MAX_OFFSET = 1000

T = TypeVar("T")


def error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"error": {"status": status, "message": message}}, status=status, headers=headers
    )


def _fail(status: int, message: str) -> ProviderError:
    return ProviderError(error(status, message))


class SpotifyFrontend:
    """The gate's view of Spotify: paths, 429s, faults, bearer tokens."""

    @property
    def provider(self) -> Provider:
        return "spotify"

    def owns(self, path: str) -> bool:
        return path == "/api/token" or path == "/v1" or path.startswith("/v1/")

    def rate_limited(self, state: SimState, retry_after_s: int) -> web.Response:
        return error(429, "API rate limit exceeded", {"Retry-After": str(retry_after_s)})

    def quota_exceeded(self, state: SimState, now: dt.datetime) -> web.Response:
        # Never sent: no daily quota is enforced for Spotify. The July-2026 dev-mode body.
        body = {
            "error": {"status": 429, "message": "Too many requests", "reason": "QUOTA_EXCEEDED"}
        }
        return web.json_response(body, status=429)

    def fault(self, state: SimState, status: int, retry_after_s: int | None) -> web.Response:
        if status == 429:  # Spotify always says when to come back
            return self.rate_limited(state, retry_after_s or 1)
        headers = {"Retry-After": str(retry_after_s)} if retry_after_s is not None else None
        message = {500: "Server error.", 503: "Service unavailable"}.get(status, "Server error.")
        return error(status, message, headers)

    def authenticate(self, request: web.Request, state: SimState) -> web.Response | None:
        if request.path == "/api/token":
            return None  # the token endpoint checks client credentials itself
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return self._unauthorized("No token provided")
        verdict = state.tokens.check(token.strip(), state.monotonic())
        if verdict == "expired":
            return self._unauthorized("The access token expired")
        if verdict == "unknown":
            return self._unauthorized("Invalid access token")
        return None

    @staticmethod
    def _unauthorized(message: str) -> web.Response:
        challenge = f'Bearer realm="spotify", error="invalid_token", error_description="{message}"'
        return error(401, message, {"WWW-Authenticate": challenge})

    def not_found(self, request: web.Request) -> web.Response:
        return error(404, "Service not found")

    def method_not_allowed(self, request: web.Request) -> web.Response:
        return error(405, "Method not allowed")

    def finish(self, response: web.StreamResponse, state: SimState, now: dt.datetime) -> None:
        return None


# --- the accounts service ----------------------------------------------------------------------


def _token_error(code: str, description: str) -> web.Response:
    return web.json_response({"error": code, "error_description": description}, status=400)


async def token(request: web.Request) -> web.Response:
    """Client-credentials grant (RFC 6749 section 4.4): Basic auth or form credentials."""
    state = request.app[SIM_STATE]
    form = await request.post()
    client_id, client_secret = _basic_credentials(request.headers.get("Authorization", ""))
    if client_id is None:
        client_id = _text(form.get("client_id"))
        client_secret = _text(form.get("client_secret"))
    if not (accepted(client_id) and accepted(client_secret)):
        return _token_error("invalid_client", "Invalid client")
    grant = _text(form.get("grant_type"))
    if not grant:
        return _token_error("unsupported_grant_type", "grant_type parameter is missing")
    if grant != "client_credentials":
        return _token_error(
            "unsupported_grant_type",
            "grant_type must be client_credentials, authorization_code or refresh_token",
        )
    ttl_s = state.limits.token_ttl_s
    issued = state.tokens.issue(ttl_s, state.monotonic())
    return web.json_response({"access_token": issued, "token_type": "Bearer", "expires_in": ttl_s})


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _basic_credentials(header: str) -> tuple[str | None, str | None]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return "", ""  # present but unreadable: an invalid client, not a missing one
    client_id, _, client_secret = decoded.partition(":")
    return client_id, client_secret


# --- parameters ----------------------------------------------------------------------------------


def _int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    try:
        return query_int(request, name, default, low, high)
    except ValueError:
        raise _fail(400, f"Invalid {name}") from None


def _offset(request: web.Request, high: int = 100_000) -> int:
    return _int(request, "offset", 0, 0, high)


def _ids(request: web.Request, kind: str) -> list[str]:
    raw = request.query.get("ids", "")
    ids = raw.split(",") if raw else []
    if not ids:
        raise _fail(400, "invalid id")
    if len(ids) > MAX_BATCH[kind]:
        raise _fail(400, "Too many ids requested")
    if not all(is_spotify_id(spotify_id) for spotify_id in ids):
        raise _fail(400, "invalid id")
    return ids


def _path_id(request: web.Request) -> str:
    spotify_id = request.match_info["id"]
    if not is_spotify_id(spotify_id):
        raise _fail(400, "invalid id")
    return spotify_id


def _extended_only(state: SimState) -> None:
    if state.spotify_mode != "extended":
        raise _fail(403, "Forbidden")


def _not_found() -> ProviderError:
    return _fail(404, "Resource not found")


# --- handlers ----------------------------------------------------------------------------------

_FILTER = re.compile(r'\b(\w+):("[^"]*"|\S+)')


def _search_text(q: str) -> str:
    """The artist words of a query: ``artist:"X"`` counts, other field filters do not."""
    kept = _FILTER.sub(lambda m: m.group(2) if m.group(1) == "artist" else " ", q)
    return kept.replace('"', " ")


async def search(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    q = request.query.get("q") or request.query.get("query")  # ``next`` links use ``query``
    if not q:
        raise _fail(400, "No search query")
    types = request.query.get("type")
    if not types:
        raise _fail(400, "Missing parameter type")
    wanted = types.split(",")
    if not all(kind in SEARCH_TYPES for kind in wanted):
        raise _fail(400, "Bad search type field")
    default, maximum = LIST_LIMITS[state.spotify_mode]
    limit = _int(request, "limit", default, 1, maximum)
    offset = _offset(request, SEARCH_MAX_OFFSET)
    render = Renderer(request, state)
    extra = [("query", q), ("type", types)]
    body: Json = {}
    for kind in wanted:
        items: list[Json] = []
        total = 0
        if kind == "artist":
            found = state.catalog.search(_search_text(q))
            total = len(found)
            profiles = [state.catalog.profile(i) for i in found[offset : offset + limit]]
            items = [render.artist(profile) for profile in profiles]
        page = render.page("/search", extra, items, offset, limit, total)
        if offset + limit > SEARCH_MAX_OFFSET:
            page["next"] = None  # the next page would be past the deepest offset allowed
        body[f"{kind}s"] = page
    return web.json_response(body)


def _found(value: T | None) -> T:
    """What an id named, or Spotify's 404."""
    if value is None:
        raise _not_found()
    return value


def _several(
    request: web.Request,
    kind: str,
    lookup: Callable[[Catalog, str], T | None],
    render: Callable[[Renderer, T], Json],
) -> web.Response:
    """A batch endpoint (extended mode only): each id's object, null for an id naming nothing."""
    state = request.app[SIM_STATE]
    _extended_only(state)
    renderer = Renderer(request, state)
    found = [lookup(state.catalog, spotify_id) for spotify_id in _ids(request, kind)]
    return web.json_response({kind: [None if f is None else render(renderer, f) for f in found]})


# Spelled out for artists: mypy infers ``object`` for ``T`` when ``T | None`` meets a union.
def _artist(state: SimState, spotify_id: str) -> ArtistProfile | Guest | Credit:
    who = state.catalog.spotify_artist(spotify_id)
    if who is None:
        raise _not_found()
    return who


async def artist(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    who = _artist(state, _path_id(request))
    return web.json_response(Renderer(request, state).artist(who))


async def several_artists(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    _extended_only(state)
    render = Renderer(request, state)
    found = [state.catalog.spotify_artist(spotify_id) for spotify_id in _ids(request, "artists")]
    return web.json_response({"artists": [None if w is None else render.artist(w) for w in found]})


def _groups(request: web.Request) -> tuple[AlbumGroup, ...]:
    raw = request.query.get("include_groups")
    if not raw:
        return ALL_GROUPS
    chosen = []
    for part in raw.split(","):
        group = next((g for g in ALL_GROUPS if g == part.strip()), None)
        if group is None:
            raise _fail(400, "Invalid include_groups value")
        chosen.append(group)
    return tuple(chosen)


async def artist_albums(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    spotify_id = _path_id(request)
    who = _artist(state, spotify_id)
    groups = _groups(request)
    default, maximum = LIST_LIMITS[state.spotify_mode]
    limit = _int(request, "limit", default, 1, maximum)
    offset = _offset(request)
    releases = (
        state.catalog.discography(who.index).listed(groups)
        if isinstance(who, ArtistProfile)
        else []
    )
    render = Renderer(request, state)
    items = [render.album(r, with_group=True) for r in releases[offset : offset + limit]]
    extra = (
        [("include_groups", request.query["include_groups"])]
        if "include_groups" in request.query
        else []
    )
    return web.json_response(
        render.page(f"/artists/{spotify_id}/albums", extra, items, offset, limit, len(releases))
    )


async def album(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    release = _found(state.catalog.spotify_album(_path_id(request)))
    return web.json_response(Renderer(request, state).full_album(release))


async def several_albums(request: web.Request) -> web.Response:
    return _several(request, "albums", Catalog.spotify_album, Renderer.full_album)


async def album_tracks(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    release = _found(state.catalog.spotify_album(_path_id(request)))
    default, maximum = ALBUM_TRACKS_LIMITS
    limit = _int(request, "limit", default, 1, maximum)
    offset = _offset(request)
    return web.json_response(Renderer(request, state).track_page(release, offset, limit))


async def track(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    found = _found(state.catalog.spotify_track(_path_id(request)))
    return web.json_response(Renderer(request, state).track(found, full=True))


def _full_track(render: Renderer, track: Track) -> Json:
    return render.track(track, full=True)


async def several_tracks(request: web.Request) -> web.Response:
    return _several(request, "tracks", Catalog.spotify_track, _full_track)


async def top_tracks(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    _extended_only(state)
    who = _artist(state, _path_id(request))
    chosen: list[Track] = []
    if isinstance(who, ArtistProfile):
        seen: set[int] = set()
        tracks = [
            t
            for t in state.catalog.discography(who.index).tracks
            if t.counted and t.release.album_group in COUNTED_GROUPS
        ]
        for candidate in sorted(tracks, key=lambda t: (-t.popularity, t.local)):
            if candidate.song_key not in seen:
                seen.add(candidate.song_key)
                chosen.append(candidate)
            if len(chosen) == 10:
                break
    render = Renderer(request, state)
    return web.json_response({"tracks": [render.track(t, full=True) for t in chosen]})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/token", token)
    app.router.add_get("/v1/search", search)
    app.router.add_get("/v1/artists", several_artists)
    app.router.add_get("/v1/artists/{id}", artist)
    app.router.add_get("/v1/artists/{id}/albums", artist_albums)
    app.router.add_get("/v1/artists/{id}/top-tracks", top_tracks)
    app.router.add_get("/v1/albums", several_albums)
    app.router.add_get("/v1/albums/{id}", album)
    app.router.add_get("/v1/albums/{id}/tracks", album_tracks)
    app.router.add_get("/v1/tracks", several_tracks)
    app.router.add_get("/v1/tracks/{id}", track)
