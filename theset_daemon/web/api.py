"""Route tables that describe themselves: one declaration drives routing, auth, CORS and OpenAPI.

A route module declares ``routes = RouteTable()`` and decorates its handlers with
``@routes.route(...)``, naming the request and response models. :func:`install` adds every table to
the application, and ``/api/openapi.json`` is generated from the same declarations, so a new route
appears in the document without anyone editing it. (Hand-written because the aiohttp OpenAPI
packages are built on marshmallow/apispec or are thinly maintained; pydantic already produces the
JSON Schemas and this glue is small.)
"""

from __future__ import annotations

import json
import math
import re
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from theset_daemon.web.errors import CODES, ApiError
from theset_daemon.web.models import ErrorEnvelope

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Auth = Literal["cron", "admin", "cron_or_admin"]
M = TypeVar("M", bound=BaseModel)

#: A response that is not JSON: (media type, description).
RawResponse = tuple[str, str]


@dataclass(frozen=True, slots=True)
class EventStream:
    """A ``text/event-stream`` response whose events each carry one JSON ``data`` document.

    Documented as the schema of one event (``event``, ``data``, ``id``, ``retry``), with ``data``
    a JSON string described by ``contentSchema``: what OpenAPI 3.2 calls ``itemSchema``, and what
    an OpenAPI 3.1 ``schema`` on an event stream is read as by tools (Schemathesis among them).
    """

    description: str
    data: type[BaseModel]
    events: tuple[str, ...]


ResponseDoc = type[BaseModel] | RawResponse | EventStream | None

#: Request headers a route may declare it reads (documented as optional header parameters).
REQUEST_HEADERS: dict[str, str] = {
    "Last-Event-ID": "resume the stream after this event id (0 replays every stored event)",
    "If-None-Match": "ETags from earlier answers: 304 without a body when one still matches",
}


@dataclass(frozen=True, slots=True)
class RouteSpec:
    method: str
    path: str
    handler: Handler
    summary: str
    responses: dict[int, ResponseDoc]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    auth: Auth | None = None
    # Browsers on server.cors_origins may call it (the public routes: import, streams, reads).
    cors: bool = False
    tags: tuple[str, ...] = ()
    # Also HTTP Basic with the secret as password (the status page, so a browser can open it).
    basic_auth: bool = False
    # Request headers it reads, from REQUEST_HEADERS.
    headers: tuple[str, ...] = ()


@dataclass(slots=True)
class RouteTable:
    routes: list[RouteSpec] = field(default_factory=list)

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        responses: dict[int, ResponseDoc],
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        auth: Auth | None = None,
        cors: bool = False,
        tags: tuple[str, ...] = (),
        basic_auth: bool = False,
        headers: tuple[str, ...] = (),
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append(
                RouteSpec(
                    method, path, handler, summary, responses, body, query, auth, cors, tags,
                    basic_auth, headers,
                )
            )  # fmt: skip
            return handler

        return register


ROUTE_SPECS = web.AppKey("route_specs", dict[Handler, RouteSpec])
OPENAPI_DOCUMENT = web.AppKey("openapi_document", dict[str, Any])
#: Set on a CORS preflight request: the methods its route allows.
PREFLIGHT_METHODS = web.RequestKey("cors_preflight_methods", str)


def install(
    app: web.Application, tables: Iterable[RouteTable], *, title: str, version: str
) -> None:
    """Add every route, a preflight ``OPTIONS`` for the CORS ones, and the OpenAPI document."""
    specs: dict[Handler, RouteSpec] = {}
    cors_methods: dict[str, list[str]] = {}
    for table in tables:
        for spec in table.routes:
            app.router.add_route(spec.method, spec.path, spec.handler)
            specs[spec.handler] = spec
            if spec.cors:
                cors_methods.setdefault(spec.path, []).append(spec.method)
    for path, methods in cors_methods.items():
        app.router.add_route("OPTIONS", path, _preflight_handler(methods))
    app[ROUTE_SPECS] = specs
    app[OPENAPI_DOCUMENT] = openapi_document(list(specs.values()), title=title, version=version)


def _preflight_handler(methods: list[str]) -> Handler:
    allowed = ", ".join(sorted({*methods, "OPTIONS"}))

    async def preflight(request: web.Request) -> web.Response:
        # The CORS headers themselves are added on response-prepare, once, for every response.
        request[PREFLIGHT_METHODS] = allowed
        return web.Response(status=204)

    return preflight


def spec_of(request: web.Request) -> RouteSpec | None:
    """The declaration of the matched route (None for aiohttp's own 404/405 routes)."""
    handler = request.match_info.route.handler
    return request.app[ROUTE_SPECS].get(handler)


# --- request parsing -------------------------------------------------------------------------


def _field_errors(exc: ValidationError) -> ApiError:
    problems = [
        {"field": ".".join(str(p) for p in err["loc"]) or "<body>", "problem": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]
    first = problems[0]
    if exc.errors()[0]["type"] == "extra_forbidden":
        first = {**first, "problem": "unknown field"}
        problems[0] = first
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return ApiError(400, f"{first['field']}: {first['problem']}{more}", details=problems)


def _parse_int(text: str) -> int | float:
    # Python refuses to convert integers of more than 4300 digits (a ValueError that would read as
    # "not JSON"); such a number is out of range for every field, as an infinite one is, so
    # validation names the field, as it does for 1e400.
    if len(text) > sys.get_int_max_str_digits() > 0:
        return -math.inf if text.startswith("-") else math.inf
    return int(text)


async def read_body(request: web.Request, model: type[M]) -> M:
    """The JSON body validated as ``model``; an empty body means all defaults."""
    raw = await request.read()  # bounded by the app's client_max_size (413 past it)
    if not raw.strip():
        data: Any = {}
    else:
        ctype = request.content_type
        if ctype not in ("application/json", "application/octet-stream") and not ctype.endswith(
            "+json"
        ):
            raise ApiError(
                400, f"the body must be JSON (Content-Type: application/json), not {ctype}"
            )
        try:
            data = json.loads(raw.decode("utf-8"), parse_int=_parse_int)
        except UnicodeDecodeError:
            raise ApiError(400, "the body is not valid UTF-8") from None
        except (ValueError, RecursionError):
            raise ApiError(400, "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _field_errors(exc) from None


def path_uuid(request: web.Request, name: str, what: str) -> uuid.UUID:
    """The path parameter ``name`` as a UUID. A malformed one is the same 404 (``no such
    {what}``) as an unknown one: a client cannot tell which ids are well formed."""
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError:
        raise ApiError(404, f"no such {what}") from None


def read_query(request: web.Request, model: type[M]) -> M:
    """The query string validated as ``model``; a repeated parameter is an error."""
    data: dict[str, str] = {}
    for key, value in request.query.items():
        if key in data:
            raise ApiError(400, f"{key}: given more than once")
        data[key] = value
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _field_errors(exc) from None


# --- OpenAPI -----------------------------------------------------------------------------------

_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")
_SECURITY: dict[Auth, list[dict[str, list[str]]]] = {
    "cron": [{"cronSecret": []}],
    "admin": [{"adminKey": []}],
    "cron_or_admin": [{"cronSecret": []}, {"adminKey": []}],
}


def openapi_document(specs: list[RouteSpec], *, title: str, version: str) -> dict[str, Any]:
    models: set[type[BaseModel]] = {ErrorEnvelope}
    for spec in specs:
        models.update(m for m in spec.responses.values() if isinstance(m, type))
        models.update(m.data for m in spec.responses.values() if isinstance(m, EventStream))
        if spec.body is not None:
            models.add(spec.body)
    keys, schema = models_json_schema(
        [(m, "serialization") for m in sorted(models, key=lambda m: m.__name__)],
        ref_template="#/components/schemas/{model}",
    )
    refs: dict[Any, dict[str, Any]] = {model: ref for (model, _mode), ref in keys.items()}

    paths: dict[str, dict[str, Any]] = {}
    for spec in specs:
        path = _PARAM.sub(r"{\1}", spec.path)
        operation: dict[str, Any] = {
            "summary": spec.summary,
            "operationId": spec.handler.__name__,
            "responses": {
                str(status): _response_doc(status, model, refs)
                for status, model in sorted(spec.responses.items())
            },
        }
        if spec.tags:
            operation["tags"] = list(spec.tags)
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PARAM.findall(spec.path)
        ]
        if spec.query is not None:
            query_schema = spec.query.model_json_schema(mode="validation")
            required = set(query_schema.get("required", []))
            for name, prop in query_schema.get("properties", {}).items():
                parameters.append(
                    {"name": name, "in": "query", "required": name in required, "schema": prop}
                )
        parameters.extend(
            {
                "name": name,
                "in": "header",
                "required": False,
                "description": REQUEST_HEADERS[name],
                "schema": {"type": "string"},
            }
            for name in spec.headers
        )
        if parameters:
            operation["parameters"] = parameters
        if spec.body is not None:
            operation["requestBody"] = {
                "required": False,
                "content": {"application/json": {"schema": refs[spec.body]}},
            }
        if spec.auth is not None:
            operation["security"] = _SECURITY[spec.auth] + (
                [{"adminBasic": []}] if spec.basic_auth else []
            )
            operation["responses"].setdefault("401", _response_doc(401, ErrorEnvelope, refs))
        paths.setdefault(path, {})[spec.method.lower()] = operation

    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": schema.get("$defs", {}),
            "securitySchemes": {
                "cronSecret": {"type": "http", "scheme": "bearer", "description": "CRON_SECRET"},
                "adminKey": {"type": "http", "scheme": "bearer", "description": "ADMIN_API_KEY"},
                "adminBasic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "any user name, ADMIN_API_KEY as the password",
                },
            },
        },
    }


def _response_doc(
    status: int, model: ResponseDoc, refs: dict[Any, dict[str, Any]]
) -> dict[str, Any]:
    description = CODES.get(status, "success") if status >= 400 else "success"
    if model is None:
        return {"description": description}
    if isinstance(model, EventStream):
        return {
            "description": model.description,
            "content": {"text/event-stream": {"schema": _event_schema(model, refs)}},
        }
    if isinstance(model, tuple):
        media_type, text = model
        # A JSON document without a model (the OpenAPI document itself) is an object; anything
        # else (HTML, the Prometheus text format) is text.
        raw = {"type": "object"} if media_type == "application/json" else {"type": "string"}
        return {"description": text, "content": {media_type: {"schema": raw}}}
    return {"description": description, "content": {"application/json": {"schema": refs[model]}}}


def _event_schema(stream: EventStream, refs: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "object",
        "description": "one event of the stream",
        "required": ["event", "data"],
        "properties": {
            "event": {"type": "string", "enum": list(stream.events)},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": refs[stream.data],
            },
            "id": {"type": "string", "pattern": "^[0-9]+$"},
            "retry": {"type": "integer", "minimum": 0},
        },
    }
