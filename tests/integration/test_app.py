"""The composed application over a real Postgres: health, readiness, OpenAPI, the error envelope,
request ids, body limits, bearer auth and CORS, through the real aiohttp server."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pydantic import Field

from theset_daemon import config
from theset_daemon.app import ROUTE_TABLES, build_app
from theset_daemon.config import SettingsHolder
from theset_daemon.db.migrate import discover
from theset_daemon.web.api import RouteTable, read_body
from theset_daemon.web.models import RequestModel

ADMIN_KEY = "admin-key-0123456789"
CRON_SECRET = "cron-secret-0123456789"
ORIGIN = "https://theset.live"


class EchoBody(RequestModel):
    limit: int = Field(50, ge=1, le=1000)
    name: str = "x"


probe_routes = RouteTable()


@probe_routes.route("POST", "/probe/echo", summary="echo", responses={200: EchoBody}, body=EchoBody,
                    cors=True)  # fmt: skip
async def echo(request: web.Request) -> web.Response:
    body = await read_body(request, EchoBody)
    return web.json_response(body.model_dump())


@probe_routes.route(
    "GET", "/probe/admin", summary="admin only", responses={200: None}, auth="admin"
)
async def admin_only(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


@probe_routes.route("GET", "/probe/either", summary="either", responses={200: None},
                    auth="cron_or_admin")  # fmt: skip
async def either(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


@probe_routes.route("GET", "/probe/crash", summary="raises", responses={200: None})
async def crash(request: web.Request) -> web.Response:
    raise RuntimeError("postgresql://u:hunter2@db/x exploded")


def make_settings(database_url: str, **env: str) -> config.Settings:
    text = f'[server]\ncors_origins = ["{ORIGIN}"]\n[log]\nlevel = "warning"\n'
    return config.parse(text, {"DATABASE_URL": database_url, **env})


@pytest.fixture
async def client(aiohttp_client, database_url: str) -> TestClient:  # type: ignore[no-untyped-def]
    settings = make_settings(database_url, ADMIN_API_KEY=ADMIN_KEY, CRON_SECRET=CRON_SECRET)
    holder = SettingsHolder(settings, Path("unused.toml"))
    app = build_app(holder, (*ROUTE_TABLES, probe_routes))
    return await aiohttp_client(app)


async def test_healthz_and_readyz(client: TestClient) -> None:
    response = await client.get("/healthz")
    assert response.status == 200 and await response.json() == {"status": "ok"}
    response = await client.get("/readyz")
    body = await response.json()
    assert response.status == 200, body
    assert body["status"] == "ready"
    assert body["components"]["database"]["status"] == "up"
    details = body["components"]["database"]["details"]
    assert details["migrationsApplied"] == details["migrationsExpected"] >= 3


async def test_readyz_is_503_while_a_migration_is_missing(
    client: TestClient, database_url: str
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "DELETE FROM schema_migrations WHERE name = '0003_performance_optimizations.sql'"
        )
    finally:
        await conn.close()
    response = await client.get("/readyz")
    body = await response.json()
    expected = len(discover())
    assert response.status == 503
    assert body["components"]["database"] == {
        "status": "down",
        "message": "migrations pending",
        "details": {"migrationsApplied": expected - 1, "migrationsExpected": expected},
    }


async def test_openapi_documents_every_route(client: TestClient) -> None:
    response = await client.get("/api/openapi.json")
    doc = await response.json()
    assert doc["openapi"].startswith("3.")
    assert {"/healthz", "/readyz", "/api/openapi.json", "/probe/echo"} <= set(doc["paths"])
    echo_op = doc["paths"]["/probe/echo"]["post"]
    ref = echo_op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/EchoBody"
    assert doc["components"]["schemas"]["EchoBody"]["properties"]["limit"]["maximum"] == 1000
    admin_op = doc["paths"]["/probe/admin"]["get"]
    assert admin_op["security"] == [{"adminKey": []}]
    assert "401" in admin_op["responses"]
    assert "Readiness" in doc["components"]["schemas"]


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/nope", 404, "not_found"),
        ("DELETE", "/healthz", 405, "method_not_allowed"),
        ("GET", "/probe/echo", 405, "method_not_allowed"),
    ],
)
async def test_router_errors_use_the_envelope(
    client: TestClient, method: str, path: str, status: int, code: str
) -> None:
    response = await client.request(method, path)
    assert response.status == status
    body = await response.json()
    assert body["error"]["code"] == code and body["error"]["message"]
    if status == 405:
        assert "GET" in response.headers["Allow"] or "POST" in response.headers["Allow"]


async def test_request_ids_are_echoed_or_made(client: TestClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-Id": "req-123"})
    assert response.headers["X-Request-Id"] == "req-123"
    response = await client.get("/healthz")
    assert len(response.headers["X-Request-Id"]) == 32
    response = await client.get("/healthz", headers={"X-Request-Id": "bad id\twith junk"})
    assert response.headers["X-Request-Id"] != "bad id\twith junk"
    response = await client.get("/nope", headers={"X-Request-Id": "req-404"})
    assert response.headers["X-Request-Id"] == "req-404"


@pytest.mark.parametrize(
    ("data", "headers", "field"),
    [
        (b"{not json", {"Content-Type": "application/json"}, None),
        (b'{"limit": 0}', {"Content-Type": "application/json"}, "limit"),
        (b'{"limit": "many"}', {"Content-Type": "application/json"}, "limit"),
        (b'{"limit": 1e400}', {"Content-Type": "application/json"}, "limit"),
        (b'{"colour": "red"}', {"Content-Type": "application/json"}, "colour"),
        (b"[1, 2]", {"Content-Type": "application/json"}, None),
        (b'{"name": "\xff\xfe"}', {"Content-Type": "application/json"}, None),
        (b"limit=5", {"Content-Type": "application/x-www-form-urlencoded"}, None),
        (b"[" * 100_00 + b"]" * 100_00, {"Content-Type": "application/json"}, None),
    ],
)
async def test_bad_bodies_are_400_naming_the_field(
    client: TestClient, data: bytes, headers: dict[str, str], field: str | None
) -> None:
    response = await client.post("/probe/echo", data=data, headers=headers)
    body = await response.json()
    assert response.status == 400, body
    assert body["error"]["code"] == "invalid_request"
    if field:
        assert body["error"]["message"].startswith(field)


async def test_empty_body_means_defaults(client: TestClient) -> None:
    response = await client.post("/probe/echo")
    assert response.status == 200
    assert await response.json() == {"limit": 50, "name": "x"}


async def test_oversized_bodies_are_413(client: TestClient) -> None:
    big = b'{"name": "' + b"a" * 70_000 + b'"}'
    response = await client.post(
        "/probe/echo", data=big, headers={"Content-Type": "application/json"}
    )
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "payload_too_large"

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(20):
            yield b"a" * 8192

    response = await client.post(
        "/probe/echo", data=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize(
    ("path", "authorization", "status"),
    [
        ("/probe/admin", None, 401),
        ("/probe/admin", f"Bearer {ADMIN_KEY}", 200),
        ("/probe/admin", f"bearer {ADMIN_KEY}", 200),
        ("/probe/admin", f"  Bearer   {ADMIN_KEY}  ", 200),
        ("/probe/admin", "Bearer ", 401),
        ("/probe/admin", f"Bearer {ADMIN_KEY[:-1]}", 401),
        ("/probe/admin", f"Bearer {ADMIN_KEY}x", 401),
        ("/probe/admin", f"Bearer {CRON_SECRET}", 401),
        ("/probe/admin", f"Token {ADMIN_KEY}", 401),
        ("/probe/either", f"Bearer {CRON_SECRET}", 200),
        ("/probe/either", f"Bearer {ADMIN_KEY}", 200),
        ("/probe/either", "Bearer nope", 401),
    ],
)
async def test_bearer_auth(
    client: TestClient, path: str, authorization: str | None, status: int
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = await client.get(path, headers=headers)
    assert response.status == status
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await response.json())["error"]["code"] == "unauthorized"


async def test_routes_are_refused_when_their_secret_is_unset(
    aiohttp_client,
    database_url: str,  # type: ignore[no-untyped-def]
) -> None:
    holder = SettingsHolder(make_settings(database_url), Path("unused.toml"))
    client = await aiohttp_client(build_app(holder, (*ROUTE_TABLES, probe_routes)))
    response = await client.get("/probe/admin", headers={"Authorization": "Bearer "})
    assert response.status == 401
    assert "not configured" in (await response.json())["error"]["message"]


async def test_unexpected_errors_are_500_without_details(client: TestClient) -> None:
    response = await client.get("/probe/crash", headers={"X-Request-Id": "crash-1"})
    assert response.status == 500
    body = await response.json()
    assert body["error"]["code"] == "internal"
    assert "crash-1" in body["error"]["message"]
    text = str(body)
    assert "hunter2" not in text and "Traceback" not in text and "RuntimeError" not in text


async def test_cors_for_listed_origins_only(client: TestClient) -> None:
    response = await client.post("/probe/echo", headers={"Origin": ORIGIN})
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    response = await client.post("/probe/echo", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers
    response = await client.get("/readyz", headers={"Origin": ORIGIN})  # not a public route
    assert "Access-Control-Allow-Origin" not in response.headers

    response = await client.options(
        "/probe/echo",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert response.headers["Access-Control-Allow-Headers"] == "content-type"
