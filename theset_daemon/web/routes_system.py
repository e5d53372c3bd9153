"""Liveness, readiness and the OpenAPI document: public, and cheap enough to poll."""

from __future__ import annotations

from aiohttp import web

from theset_daemon.appkeys import READINESS
from theset_daemon.health import Readiness
from theset_daemon.web.api import OPENAPI_DOCUMENT, RouteTable
from theset_daemon.web.models import Liveness

routes = RouteTable()
# Probed every few seconds by systemd, load balancers and monitors: encoded once.
_LIVE_BODY = Liveness().model_dump_json().encode()


@routes.route(
    "GET",
    "/healthz",
    summary="200 while the process lives",
    responses={200: Liveness},
    tags=("ops",),
)
async def healthz(request: web.Request) -> web.Response:
    return web.Response(body=_LIVE_BODY, content_type="application/json")


@routes.route(
    "GET",
    "/readyz",
    summary="200 when the database answers and every migration is applied, else 503",
    responses={200: Readiness, 503: Readiness},
    tags=("ops",),
)
async def readyz(request: web.Request) -> web.Response:
    readiness = await request.app[READINESS].run()
    status = 200 if readiness.status == "ready" else 503
    return web.json_response(
        readiness.model_dump(mode="json", exclude_none=True),
        status=status,
        headers={"Cache-Control": "no-store"},
    )


@routes.route(
    "GET",
    "/api/openapi.json",
    summary="This document",
    responses={200: ("application/json", "the OpenAPI 3.1 document")},
    tags=("ops",),
)
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI_DOCUMENT])
