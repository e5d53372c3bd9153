"""Control routes under ``/_sim`` for tests and benchmarks (CONTRACT.md sections 7 and 8).

- ``GET /_sim/stats``, ``DELETE /_sim/stats``: requests per provider and endpoint, 429s served
  (window, quota and injected), the highest request rate seen in any window, the answers that
  announced a Retry-After window and the requests that arrived inside one
  (``retry_after_windows``, ``inside_retry_after``; see ``limits.py``), and for Ticketmaster and
  setlist.fm ``quota_used_today``; the DELETE zeroes all of it, the day's quota use included;
- ``POST /_sim/faults``, ``GET /_sim/faults``, ``DELETE /_sim/faults[?provider=]``: faults for the
  next n requests to a provider (``status`` 429/500/503 with ``retryAfter``; ``latencyMs`` alone is
  a slow success; ``malformed``: 200 with a cut-off JSON body; ``truncated``: a Content-Length
  longer than the body sent, then the connection closes);
- ``GET /_sim/catalog?offset=&limit=``: artists, their ids on each provider and the counts a
  correct import must store; ``POST /_sim/catalog``: changes to an artist for a sync to find
  (new albums, upcoming shows, played shows with their setlists, cancelled shows; see
  ``Catalog.change``), answered with the artist's entry and, under ``changed``, the ids of what
  it made, so a test knows what to look for;
- ``GET``/``POST /_sim/spotify-mode``: the Spotify access level in force.

Bodies are validated strictly; a bad one is a 400 in the daemon's own error envelope
(CONTRACT.md section 2), naming the field. The envelope is written out here rather than taken from
the daemon's web layer: the simulator stands alone and imports none of the daemon's parts.
"""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from theset_daemon.sim.limits import PROVIDERS, Fault, Provider, SpotifyMode
from theset_daemon.sim.params import query_int
from theset_daemon.sim.state import SIM_STATE

CATALOG_PAGE_MAX = 1000
CHANGES_MAX = 1000  # of each kind per POST /_sim/catalog (CONTRACT.md section 7)

#: HTTP status -> the contract's error code, for the statuses a control route can answer.
CODES: dict[int, str] = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


class ControlError(Exception):
    """A refused control request; :func:`control_errors` renders it as the envelope."""

    def __init__(self, status: int, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details


def envelope(status: int, message: str, details: Any = None) -> web.Response:
    """``{"error": {"code", "message", "details"?}}``, the daemon's error shape."""
    error: dict[str, Any] = {"code": CODES.get(status, "internal"), "message": message}
    if details is not None:
        error["details"] = details
    return web.json_response({"error": error}, status=status)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class FaultRequest(_Body):
    provider: Provider
    status: Literal[429, 500, 503] | None = None
    count: int = Field(1, ge=1, le=1_000_000)
    retry_after: int | None = Field(None, alias="retryAfter", ge=0, le=86_400)
    latency_ms: float = Field(0, alias="latencyMs", ge=0, le=600_000)
    malformed: bool = False
    truncated: bool = False

    @model_validator(mode="after")
    def _one_effect(self) -> FaultRequest:
        if self.status is None and not (self.latency_ms or self.malformed or self.truncated):
            raise ValueError("give status, latencyMs, malformed or truncated")
        if self.status is not None and (self.malformed or self.truncated):
            raise ValueError("status cannot be combined with malformed or truncated")
        if self.malformed and self.truncated:
            raise ValueError("malformed and truncated are two different faults; post two")
        return self


class CatalogChangeRequest(_Body):
    artist_name: str = Field(alias="artistName", min_length=1, max_length=200)
    new_albums: int = Field(0, alias="newAlbums", ge=0, le=CHANGES_MAX)
    new_shows: int = Field(0, alias="newShows", ge=0, le=CHANGES_MAX)
    new_setlists: int = Field(0, alias="newSetlists", ge=0, le=CHANGES_MAX)
    cancel_shows: int = Field(0, alias="cancelShows", ge=0, le=CHANGES_MAX)


class ModeRequest(_Body):
    mode: SpotifyMode


def _problems(exc: ValidationError) -> ControlError:
    details = []
    for problem in exc.errors():
        field = ".".join(str(part) for part in problem["loc"]) or "<body>"
        details.append({"field": field, "message": problem["msg"]})
    first = details[0]
    return ControlError(400, f"{first['field']}: {first['message']}", details=details)


async def _body(request: web.Request, model: type[_Body]) -> Any:
    text = await request.text()
    try:
        return model.model_validate_json(text or "{}")
    except ValidationError as exc:
        if any(problem["type"] == "json_invalid" for problem in exc.errors()):
            raise ControlError(400, "the body is not valid JSON") from None
        raise _problems(exc) from None


def _query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    try:
        return query_int(request, name, default, low, high)
    except ValueError as exc:
        raise ControlError(400, f"{name}: {exc}") from None


async def get_stats(request: web.Request) -> web.Response:
    """Per provider: the counters, and ``quota_used_today`` where a daily quota is enforced
    (Ticketmaster, setlist.fm): the authenticated requests counted against today's quota, the
    ones refused for it not included."""
    state = request.app[SIM_STATE]
    now = state.utc_now()
    providers: dict[str, dict[str, object]] = {}
    for provider in PROVIDERS:
        providers[provider] = state.stats[provider].as_json()
        if (quota := state.quotas.get(provider)) is not None:
            providers[provider]["quota_used_today"] = quota.used_today(now)
    return web.json_response({"providers": providers})


async def delete_stats(request: web.Request) -> web.Response:
    """Zeroes the counters and the daily quotas' use (today starts over, so a test or a benchmark
    starts from a fresh simulator without building another); answers the zeroed stats. Queued
    faults, tokens, the catalog and the per-second admission windows are left as they are."""
    state = request.app[SIM_STATE]
    for stats in state.stats.values():
        stats.reset()
    for quota in state.quotas.values():
        quota.reset()
    return await get_stats(request)


async def post_fault(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    wanted: FaultRequest = await _body(request, FaultRequest)
    fault = Fault(
        status=wanted.status,
        retry_after_s=wanted.retry_after,
        latency_ms=wanted.latency_ms,
        malformed=wanted.malformed,
        truncated=wanted.truncated,
    )
    state.faults.add(wanted.provider, fault, wanted.count)
    return web.json_response({"faults": state.faults.as_json()}, status=201)


async def get_faults(request: web.Request) -> web.Response:
    return web.json_response({"faults": request.app[SIM_STATE].faults.as_json()})


async def delete_faults(request: web.Request) -> web.Response:
    provider = request.query.get("provider")
    if provider is not None and provider not in PROVIDERS:
        raise ControlError(400, f"provider: must be one of {', '.join(PROVIDERS)}")
    request.app[SIM_STATE].faults.clear(next((p for p in PROVIDERS if p == provider), None))
    return await get_faults(request)


def _catalog_entry(request: web.Request, index: int) -> dict[str, Any]:
    catalog = request.app[SIM_STATE].catalog
    profile = catalog.profile(index)
    return {
        "name": profile.name,
        "spotifyId": profile.spotify_id,
        "ticketmasterId": profile.ticketmaster_id,
        "mbid": profile.mbid,
        "counts": catalog.counts(index).as_json(),
    }


async def get_catalog(request: web.Request) -> web.Response:
    catalog = request.app[SIM_STATE].catalog
    offset = _query_int(request, "offset", 0, 0, catalog.size)
    limit = _query_int(request, "limit", 100, 1, CATALOG_PAGE_MAX)
    indices = range(offset, min(catalog.size, offset + limit))
    artists = [_catalog_entry(request, index) for index in indices]
    return web.json_response({"artists": artists, "total": catalog.size})


async def post_catalog(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    wanted: CatalogChangeRequest = await _body(request, CatalogChangeRequest)
    index = state.catalog.find_name(wanted.artist_name)
    if index is None:
        raise ControlError(404, f"no artist named {wanted.artist_name!r} in the catalog")
    try:
        change = state.catalog.change(
            index,
            now=state.utc_now(),
            albums=wanted.new_albums,
            shows=wanted.new_shows,
            setlists=wanted.new_setlists,
            cancel=wanted.cancel_shows,
        )
    except ValueError as exc:
        raise ControlError(400, f"cancelShows: {exc}") from None
    changed = {
        "setlistIds": list(change.setlist_ids),
        "playedEventIds": list(change.played_event_ids),
        "cancelledEventIds": list(change.cancelled_event_ids),
    }
    return web.json_response({**_catalog_entry(request, index), "changed": changed})


async def get_mode(request: web.Request) -> web.Response:
    return web.json_response({"mode": request.app[SIM_STATE].spotify_mode})


async def post_mode(request: web.Request) -> web.Response:
    wanted: ModeRequest = await _body(request, ModeRequest)
    request.app[SIM_STATE].spotify_mode = wanted.mode
    return web.json_response({"mode": wanted.mode})


@web.middleware
async def control_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The daemon's error envelope for everything that is not a provider's path."""
    try:
        return await handler(request)
    except ControlError as exc:
        return envelope(exc.status, exc.message, exc.details)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = {404: "no such route", 405: f"{request.method} is not allowed here"}
        return envelope(exc.status, message.get(exc.status, exc.reason))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/_sim/stats", get_stats)
    app.router.add_delete("/_sim/stats", delete_stats)
    app.router.add_get("/_sim/faults", get_faults)
    app.router.add_post("/_sim/faults", post_fault)
    app.router.add_delete("/_sim/faults", delete_faults)
    app.router.add_get("/_sim/catalog", get_catalog)
    app.router.add_post("/_sim/catalog", post_catalog)
    app.router.add_get("/_sim/spotify-mode", get_mode)
    app.router.add_post("/_sim/spotify-mode", post_mode)
