"""Middleware: request ids, the error envelope, the body-size limit, bearer auth and CORS, and
the registry of handlers in flight (the stop waits for them).

The order is fixed inside :func:`request_middleware`: the request id exists before anything can
fail, errors are rendered for everything after it, and the size check and auth run before a
handler reads a byte of the body.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import re
import secrets

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from theset_daemon.appkeys import IN_FLIGHT, SETTINGS
from theset_daemon.db.pool import DATABASE_UNREACHABLE
from theset_daemon.log import get_logger
from theset_daemon.web.api import PREFLIGHT_METHODS, Auth, RouteSpec, spec_of
from theset_daemon.web.errors import CODES, ApiError

log = get_logger(__name__)

REQUEST_ID_HEADER = "X-Request-Id"
# An id we echo goes into our logs and headers: keep it short and printable.
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Readiness probes every few seconds; a restarted Postgres is usually back within this.
DATABASE_RETRY_AFTER_S = 5
REQUEST_ID = web.RequestKey("request_id", str)
#: The matched route's declaration, looked up once per request (auth and CORS both need it).
ROUTE = web.RequestKey("route_spec", RouteSpec)


def middlewares() -> list[Middleware]:
    # One middleware, not four: every layer costs a coroutine frame per request, and on the
    # cached read routes the plumbing was half of the whole request's cost.
    return [request_middleware]


@web.middleware
async def request_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id and its log context, then the guards, then the handler; any error becomes the
    envelope."""
    sent = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = sent if _CLIENT_REQUEST_ID.match(sent) else secrets.token_hex(16)
    request[REQUEST_ID] = request_id
    tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
    in_flight = request.app[IN_FLIGHT]
    task = in_flight.enter(request)
    try:
        _check_body_size(request)
        spec = spec_of(request)
        if spec is not None:
            request[ROUTE] = spec
        if spec is not None and spec.auth is not None:
            check_auth(request, spec.auth, allow_basic=spec.basic_auth)
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # redirects and the like are answers, not errors
        return _envelope_for_http_exception(exc)
    except asyncio.CancelledError:
        raise
    except DATABASE_UNREACHABLE as exc:
        # An outage, not a bug: the client may retry shortly (readiness says 503 meanwhile).
        log.warning(
            "request_database_unreachable",
            method=request.method,
            path=request.path,
            error=f"{type(exc).__name__}: {exc}",
        )
        return ApiError(
            503,
            "the database is unreachable; try again shortly",
            code="database_unavailable",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
            extra={"requestId": request_id},
        ).response()
    except Exception:
        log.exception("request_failed", method=request.method, path=request.path)
        return ApiError(
            500,
            f"internal error; quote request id {request_id} to find it in the logs",
            extra={"requestId": request_id},
        ).response()
    finally:
        in_flight.leave(task)
        structlog.contextvars.reset_contextvars(**tokens)


def _check_body_size(request: web.Request) -> None:
    # aiohttp's client_max_size bounds what read() accepts (chunked bodies included); refusing a
    # declared oversize length here answers before any of it is read.
    limit = request.app[SETTINGS].current.server.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"the request body is larger than {limit} bytes")


def _envelope_for_http_exception(exc: web.HTTPException) -> web.Response:
    messages = {
        404: "no such route",
        405: "method not allowed on this route",
        413: "the request body is too large",
    }
    message = messages.get(exc.status) or (exc.text or exc.reason)
    headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
    return ApiError(exc.status, message, code=CODES.get(exc.status), headers=headers).response()


def _secrets_for(request: web.Request, auth: Auth) -> list[bytes]:
    config = request.app[SETTINGS].current.auth
    names = {"cron": ("cron",), "admin": ("admin",), "cron_or_admin": ("cron", "admin")}[auth]
    values = {
        "cron": config.cron_secret.get_secret_value(),
        "admin": config.admin_api_key.get_secret_value(),
    }
    return [values[name].encode() for name in names if values[name]]


def check_auth(request: web.Request, auth: Auth, *, allow_basic: bool) -> None:
    """Raise 401 unless the request carries a configured secret for ``auth``.

    ``Authorization: Bearer <token>`` (scheme case-insensitive, surrounding spaces ignored); with
    ``allow_basic`` also HTTP Basic with the secret as password, so a browser can open /status.
    Compared in constant time; an unset secret matches nothing.
    """
    challenge = 'Basic realm="theset-daemon"' if allow_basic else 'Bearer realm="theset-daemon"'
    secrets = _secrets_for(request, auth)
    if not secrets:
        raise ApiError(
            401,
            "this route is disabled: its secret is not configured on the daemon",
            headers={"WWW-Authenticate": challenge},
        )
    presented = _presented_token(request.headers.get("Authorization", ""), allow_basic)
    # Compare against every secret, always, so timing says nothing about which one nearly matched.
    matched = False
    for secret in secrets:
        matched |= presented is not None and hmac.compare_digest(presented, secret)
    if not matched:
        message = "missing bearer token" if presented is None else "invalid token"
        raise ApiError(401, message, headers={"WWW-Authenticate": challenge})


def _presented_token(header: str, allow_basic: bool) -> bytes | None:
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if not value:
        return None
    if scheme.lower() == "bearer":
        # Header bytes that are not UTF-8 arrive as surrogate escapes: compare them as sent.
        return value.encode("utf-8", "surrogateescape")
    if allow_basic and scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        _user, sep, password = decoded.partition(":")
        return password.encode() if sep else None
    return None


async def on_response_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """Headers every response gets, streams included (they are sent before a handler returns)."""
    if REQUEST_ID in request:
        response.headers[REQUEST_ID_HEADER] = request[REQUEST_ID]
    spec = request.get(ROUTE)
    preflight = request.get(PREFLIGHT_METHODS)
    if (spec is None or not spec.cors) and preflight is None:
        return
    origin = request.headers.get("Origin")
    allowed = request.app[SETTINGS].current.server.cors_origins
    if origin is None or not (origin in allowed or "*" in allowed):
        return
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers.add("Vary", "Origin")
    response.headers["Access-Control-Expose-Headers"] = "X-Request-Id, Retry-After, ETag"
    if preflight is not None:
        response.headers["Access-Control-Allow-Methods"] = preflight
        response.headers["Access-Control-Allow-Headers"] = (
            request.headers.get("Access-Control-Request-Headers")
            or "Content-Type, Last-Event-ID, If-None-Match"
        )
        response.headers["Access-Control-Max-Age"] = "600"
