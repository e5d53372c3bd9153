"""The one middleware every provider request passes: count, delay, limit, fault, authenticate.

Order, for a request to a provider (``/v1``, ``/api/token``, ``/discovery/v2``, ``/rest/1.0``):

1. statistics: counted, with its arrival time, under ``"<METHOD> <route pattern>"`` (the token
   endpoint ``/api/token`` is a Spotify request like any other: a client's limiter that sends it
   through the same provider sees the same count);
2. the per-second window decides at arrival (see ``limits.py``);
3. ``latency_ms`` of the settings passes (every provider answer waits, errors included);
4. a window rejection is answered with the provider's 429;
5. a queued fault for the provider is taken: its latency passes, and a fault with a status is the
   answer (a fault replaces whatever the request would have got, so "the next n requests" means
   exactly that, authenticated or not);
6. authentication (the provider's own 400/401/403);
7. the daily quota (Ticketmaster, setlist.fm), for authenticated requests only;
8. the handler; unknown routes get the provider's own 404/405;
9. a malformed or truncated fault mangles the answer;
10. an answer carrying ``Retry-After`` opens a window, timed as it leaves, inside which a request
    from the client counts as ``inside_retry_after`` (``limits.py``).

``/_sim`` routes skip all of it: no latency, no limits, not counted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Protocol

from aiohttp import web
from aiohttp.typedefs import Handler

from theset_daemon.sim.limits import Provider
from theset_daemon.sim.state import SIM_STATE, SimState


class Frontend(Protocol):
    """What the gate needs to know about one provider: its paths and its error answers."""

    @property
    def provider(self) -> Provider: ...

    def owns(self, path: str) -> bool: ...

    def rate_limited(self, state: SimState, retry_after_s: int) -> web.Response: ...

    def quota_exceeded(self, state: SimState, now: dt.datetime) -> web.Response: ...

    def fault(self, state: SimState, status: int, retry_after_s: int | None) -> web.Response: ...

    def authenticate(self, request: web.Request, state: SimState) -> web.Response | None: ...

    def not_found(self, request: web.Request) -> web.Response: ...

    def method_not_allowed(self, request: web.Request) -> web.Response: ...

    def finish(self, response: web.StreamResponse, state: SimState, now: dt.datetime) -> None:
        """Last touches on an answer (Ticketmaster's quota headers)."""


FRONTENDS = web.AppKey("sim_frontends", tuple[Frontend, ...])


class ProviderError(Exception):
    """Raised by a provider handler: ``response`` is the provider's own error answer.

    (Not an ``aiohttp.web.HTTPException``: the gate turns those into the provider's generic
    404/405, and must not mistake a handler's "unknown id" 404 for an unknown route.)
    """

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def endpoint_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    pattern = resource.canonical if resource is not None else "(unmatched)"
    return f"{request.method} {pattern}"


@web.middleware
async def provider_gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    frontend = next((f for f in request.app[FRONTENDS] if f.owns(request.path)), None)
    if frontend is None:
        return await handler(request)
    state = request.app[SIM_STATE]
    response = await _gated(request, handler, frontend, state)
    if (retry_after_s := _retry_after_s(response)) is not None:
        state.stats[frontend.provider].announce_retry_after(state.monotonic(), retry_after_s)
    return response


def _retry_after_s(response: web.StreamResponse) -> int | None:
    """The simulator's Retry-After, always whole seconds; None when the answer has none."""
    value = response.headers.get("Retry-After", "")
    return int(value) if value.isdigit() else None


async def _gated(
    request: web.Request, handler: Handler, frontend: Frontend, state: SimState
) -> web.StreamResponse:
    provider = frontend.provider
    arrived = state.monotonic()
    stats = state.stats[provider]
    stats.record(endpoint_of(request), arrived)
    window = state.windows[provider]
    admitted = window.admit(arrived)
    retry_after_s = 0 if admitted else window.retry_after_s(arrived)
    if state.settings.latency_ms:
        await asyncio.sleep(state.settings.latency_ms / 1000)
    if not admitted:
        stats.rate_limited += 1
        return frontend.rate_limited(state, retry_after_s)

    fault = state.faults.take(provider)
    if fault is not None and fault.latency_ms:
        await asyncio.sleep(fault.latency_ms / 1000)
    if fault is not None and fault.status is not None:
        if fault.status == 429:
            stats.rate_limited += 1
        return frontend.fault(state, fault.status, fault.retry_after_s)

    response = await _answer(request, handler, frontend, state)
    if fault is not None and fault.malformed:
        return _malformed(response)
    if fault is not None and fault.truncated:
        return await _truncated(request, response)
    return response


async def _answer(
    request: web.Request, handler: Handler, frontend: Frontend, state: SimState
) -> web.StreamResponse:
    denied = frontend.authenticate(request, state)
    if denied is not None:
        return denied
    now = state.utc_now()
    quota = state.quotas.get(frontend.provider)
    if quota is not None and not quota.take(now):
        state.stats[frontend.provider].rate_limited += 1
        return frontend.quota_exceeded(state, now)
    try:
        response = await handler(request)
    except ProviderError as exc:
        response = exc.response
    except web.HTTPNotFound:
        response = frontend.not_found(request)
    except web.HTTPMethodNotAllowed:
        response = frontend.method_not_allowed(request)
    frontend.finish(response, state, now)
    return response


def _body_of(response: web.StreamResponse) -> bytes:
    body = response.body if isinstance(response, web.Response) else None
    return body if isinstance(body, bytes) else b"{}"


def _malformed(response: web.StreamResponse) -> web.Response:
    """200 with the first half of the real body: JSON that does not parse."""
    body = _body_of(response)
    return web.Response(
        status=200, body=body[: max(1, len(body) // 2)], content_type="application/json"
    )


async def _truncated(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """The real status and headers, a Content-Length for the whole body, half the body, close."""
    body = _body_of(response)
    cut = web.StreamResponse(status=response.status, reason=response.reason)
    for name, value in response.headers.items():
        if name.lower() not in ("content-length", "content-type"):
            cut.headers[name] = value
    cut.content_type = response.content_type
    cut.content_length = len(body)
    cut.force_close()  # the connection ends after the half body: the client sees it cut short
    await cut.prepare(request)
    await cut.write(body[: len(body) // 2])
    return cut
