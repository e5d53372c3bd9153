"""Hand-written hostile inputs against the real application: the real aiohttp server on a TCP port,
a real Postgres, the built-in simulator. Each input gets the contract's answer (status and error
code), writes nothing it should not, and the daemon serves normally afterwards.

Requests whose exact bytes matter (raw header bytes, un-normalised paths, bare line feeds) go
through a plain socket; aiohttp's client would normalise or refuse them.

Answers decided here, where the contract leaves a reading open:

- Auth (CONTRACT.md section 2, ``Authorization: Bearer <token>``). The scheme is case-insensitive
  (RFC 7235), the scheme and token may be separated by several spaces (``1*SP``), and the optional
  whitespace around a header value is not part of it (RFC 9110): all accepted. Anything else that is
  not exactly the secret is 401 with ``WWW-Authenticate``: ``Bearer`` alone or with an empty token,
  a token one byte off, longer or shorter, in another case, another route's secret, HTTP Basic where
  only Bearer is taken, bytes that are not UTF-8. A token with a trailing newline cannot be a header
  value: sent raw, the bare LF is broken framing, which aiohttp's parser refuses with 400 before any
  route runs; either way it is never accepted.
- Oversized headers (over aiohttp's 8190-byte line and field limits, or too many fields) are refused
  with 400 by the HTTP parser, before the application sees a request: that answer has neither the
  JSON envelope nor ``X-Request-Id`` (aiohttp writes it itself), so only the status, the closed
  connection and the daemon's health afterwards are asserted.
- ``../`` in a path is resolved by the HTTP layer before routing (RFC 3986 dot segments): the
  request names another path, which here is no route (404 ``not_found``). Encoded forms
  (``%2e%2e%2f``, ``..%2f``, double encoding, backslashes) stay inside the id segment: an id that is
  not a UUID is an unknown job or run (404, as the contract says for malformed ids) and an artist
  reference that is neither a UUID nor a slug is 400 ``invalid_request`` naming ``idOrSlug``.
- A ``Last-Event-ID`` that is not ASCII digits is no id at all (the stream starts from the latest
  event); one past the last event, however large, gets the contract's 204 on a finished stream.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from multidict import CIMultiDict

from tests.plugins.simulator import UNTHROTTLED_CONFIG
from theset_daemon import config
from theset_daemon.app import build_app
from theset_daemon.appkeys import DATABASE, UPSTREAMS
from theset_daemon.config import SettingsHolder

CRON_SECRET = "hostile-cron-secret-0123456789"
ADMIN_KEY = "hostile-admin-key-0123456789"
CRON = {"Authorization": f"Bearer {CRON_SECRET}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
MAX_BODY_BYTES = 65536
CONFIG = f"""
[log]
level = "warning"
[server]
max_body_bytes = {MAX_BODY_BYTES}
[upstream.simulator]
artists = 3
latency_ms = 0
[import]
per_client_per_minute = 1000
[auth]
cron_secret = "{CRON_SECRET}"
admin_api_key = "{ADMIN_KEY}"
{UNTHROTTLED_CONFIG}"""
#: The tables a request could write to; their row counts must not move on a refused request.
DATA_TABLES = (
    "artists",
    "venues",
    "shows",
    "songs",
    "import_status",
    "import_events",
    "cron_logs",
    "cron_run_events",
)


@pytest.fixture
async def client(aiohttp_client: Any, database_url: str, unthrottled_simulator: None) -> TestClient:
    """The real application; no test here measures upstream rates."""
    settings = config.parse(CONFIG, {"DATABASE_URL": database_url})
    client: TestClient = await aiohttp_client(build_app(SettingsHolder(settings, Path("x.toml"))))
    return client


# --- helpers -----------------------------------------------------------------------------------


@dataclass
class Raw:
    status: int
    headers: CIMultiDict[str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def send_raw(
    client: TestClient,
    method: str,
    target: bytes,
    headers: Iterable[tuple[bytes, bytes]] = (),
    body: bytes = b"",
) -> Raw:
    """One request written byte for byte on a fresh connection; the answer read to its close."""
    lines = [b"%s %s HTTP/1.1" % (method.encode(), target), b"Host: test", b"Connection: close"]
    lines += [name + b": " + value for name, value in headers]
    if body:
        lines.append(b"Content-Length: %d" % len(body))
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        async with asyncio.timeout(10):
            data = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, payload = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    answer_headers: CIMultiDict[str] = CIMultiDict()
    for line in header_lines:
        name, _, value = line.partition(":")
        answer_headers.add(name.strip(), value.strip())
    if answer_headers.get("Transfer-Encoding") == "chunked":
        payload = dechunk(payload)
    return Raw(int(status_line.split()[1]), answer_headers, payload)


def dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2 :]
    return out


def assert_error(
    status: int, body: Any, expected: int, code: str, field: str | None = None
) -> None:
    assert status == expected, body
    assert set(body) >= {"error"} and body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    if field is not None:
        assert body["error"]["message"].startswith(f"{field}:"), body


async def db_state(client: TestClient) -> dict[str, Any]:
    pool = client.app[DATABASE].pool
    tables = await pool.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    )
    state: dict[str, Any] = {"tables": [row["tablename"] for row in tables]}
    for table in DATA_TABLES:
        state[table] = await pool.fetchval(f"SELECT count(*) FROM {table}")
    state["artist_names"] = sorted(await pool.fetch("SELECT name, slug FROM artists"))
    return state


async def assert_still_serving(client: TestClient) -> None:
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200, await ready.text()
    trending = await client.get("/api/trending/artists")
    assert trending.status == 200, await trending.text()


async def sim_artist(client: TestClient) -> dict[str, Any]:
    base = client.app[UPSTREAMS].simulator_url
    async with client.session.get(f"{base}/_sim/catalog?limit=1") as response:
        artist: dict[str, Any] = (await response.json())["artists"][0]
        return artist


async def finished_run(client: TestClient) -> str:
    response = await client.post("/api/cron/calculate-trending?wait=true", headers=CRON)
    run = await response.json()
    assert response.status == 200, run
    run_id: str = run["runId"]
    return run_id


# --- body size ---------------------------------------------------------------------------------

SIZE_ROUTES = [
    ("POST", "/api/artists/import", {}),
    ("POST", "/api/cron/update-active-artists", CRON),
    ("POST", "/api/monitoring/cron-health", ADMIN),
    ("GET", "/healthz", {}),
]


async def test_a_body_over_max_body_bytes_is_413(
    client: TestClient, subtests: pytest.Subtests
) -> None:
    before = await db_state(client)
    big = b'{"name": "' + b"a" * MAX_BODY_BYTES + b'"}'

    async def chunks():  # type: ignore[no-untyped-def]  # no Content-Length: read() must stop it
        for _ in range(MAX_BODY_BYTES // 4096 + 2):
            yield b"a" * 4096

    for method, path, auth in SIZE_ROUTES:
        with subtests.test(method=method, path=path):
            headers = {**auth, "Content-Type": "application/json"}
            response = await client.request(method, path, data=big, headers=headers)
            assert_error(response.status, await response.json(), 413, "payload_too_large")
            assert response.headers["X-Request-Id"]
            # Without a declared length the size is known only by reading, and a route that
            # takes no body (GET /healthz) never reads one: it answers, the body is discarded.
            response = await client.request(method, path, data=chunks(), headers=headers)
            if method == "POST":
                assert_error(response.status, await response.json(), 413, "payload_too_large")
            else:
                assert response.status == 200
    assert await db_state(client) == before
    await assert_still_serving(client)


async def test_a_body_of_exactly_max_body_bytes_is_read(client: TestClient) -> None:
    prefix, suffix = b'{"name": "', b'"}'
    body = prefix + b"a" * (MAX_BODY_BYTES - len(prefix) - len(suffix)) + suffix
    assert len(body) == MAX_BODY_BYTES
    response = await client.post(
        "/api/artists/import", data=body, headers={"Content-Type": "application/json"}
    )
    # Read and judged: too long a name, not too large a body.
    assert_error(response.status, await response.json(), 400, "invalid_request", "name")


# --- headers ------------------------------------------------------------------------------------


OVERSIZED_HEADERS: dict[str, tuple[bytes, list[tuple[bytes, bytes]]]] = {
    "long field": (b"/api/artists/import", [(b"X-Big", b"a" * 9000)]),
    "many fields": (b"/api/artists/import", [(b"X-Header-%d" % i, b"v") for i in range(200)]),
    "long authorization": (b"/api/artists/import", [(b"Authorization", b"Bearer " + b"a" * 9000)]),
    "long request line": (b"/api/artists/" + b"a" * 9000, []),
}


async def test_oversized_headers_are_refused_by_the_http_parser(
    client: TestClient, subtests: pytest.Subtests
) -> None:
    before = await db_state(client)
    for case, (target, headers) in OVERSIZED_HEADERS.items():
        with subtests.test(case=case):
            answer = await send_raw(
                client,
                "POST",
                target,
                [(b"Content-Type", b"application/json"), *headers],
                b'{"name": "Robert"}',
            )
            assert answer.status == 400  # and the connection closed: send_raw read to its end
    assert await db_state(client) == before
    await assert_still_serving(client)


# --- bodies -------------------------------------------------------------------------------------

BODY_ROUTES = [
    ("/api/artists/import", {}),
    ("/api/cron/update-active-artists", CRON),
    ("/api/monitoring/cron-health", ADMIN),
]


NOT_UTF8 = [
    b'{"name": "\xff\xfe"}',  # bytes that never occur in UTF-8
    b'{"name": "\xc0\xaf"}',  # an overlong encoding of "/"
    b'{"name": "\xed\xa0\x80"}',  # an encoded UTF-16 surrogate
    b'{"name": "caf\xe9"}',  # Latin-1
    '{"name": "x"}'.encode("utf-16"),  # UTF-16 with its BOM
    b'{"name": "\xe2\x82"}',  # a sequence cut short
]


async def test_bodies_that_are_not_utf8_are_400(
    client: TestClient, subtests: pytest.Subtests
) -> None:
    before = await db_state(client)
    for path, auth in BODY_ROUTES:
        for body in NOT_UTF8:
            with subtests.test(path=path, body=body):
                response = await client.post(
                    path, data=body, headers={**auth, "Content-Type": "application/json"}
                )
                answer = await response.json()
                assert_error(response.status, answer, 400, "invalid_request")
                assert answer["error"]["message"] == "the body is not valid UTF-8"
    assert await db_state(client) == before
    await assert_still_serving(client)


async def test_a_json_escaped_lone_surrogate_is_400_naming_the_field(client: TestClient) -> None:
    response = await client.post(
        "/api/artists/import",
        data=b'{"name": "\\ud800"}',
        headers={"Content-Type": "application/json"},
    )
    assert_error(response.status, await response.json(), 400, "invalid_request", "name")


DEEP = 30_000  # far past the interpreter's recursion limit, inside 64 KiB
TOO_DEEP = [
    b"[" * DEEP + b"]" * DEEP,
    b'{"a":' * (DEEP // 6) + b"1" + b"}" * (DEEP // 6),
    b'{"name": ' + b"[" * DEEP + b"]" * DEEP + b"}",
]


async def test_deeply_nested_json_is_400(client: TestClient, subtests: pytest.Subtests) -> None:
    before = await db_state(client)
    fields = {
        "/api/artists/import": "name",
        "/api/cron/update-active-artists": "limit",
        "/api/monitoring/cron-health": "action",
    }
    for path, auth in BODY_ROUTES:
        headers = {**auth, "Content-Type": "application/json"}
        for body in TOO_DEEP:
            with subtests.test(path=path, body=body[:12]):
                response = await client.post(path, data=body, headers=headers)
                assert_error(response.status, await response.json(), 400, "invalid_request")
        with subtests.test(path=path, body="500 deep"):
            # Nested but within reach: parsed, and the field that holds it is named.
            field = fields[path]
            body = b'{"%s": ' % field.encode() + b"[" * 500 + b"]" * 500 + b"}"
            response = await client.post(path, data=body, headers=headers)
            assert_error(response.status, await response.json(), 400, "invalid_request", field)
    assert await db_state(client) == before
    await assert_still_serving(client)


HUGE_NUMBERS = [
    b"1e309",
    b"-1e309",
    b"Infinity",
    b"-Infinity",
    b"NaN",
    b"18446744073709551616",  # 2**64
    b"9223372036854775808",  # 2**63, past a Postgres bigint
    b"-9223372036854775809",
    b"1" * 5000,  # more digits than Python converts to an int
    b"-" + b"9" * 5000,
    b"1e-400",  # rounds to 0.0
    b"1000.5",
]


async def test_huge_numbers_in_bodies_are_400_naming_the_field(
    client: TestClient, subtests: pytest.Subtests
) -> None:
    before = await db_state(client)
    for path, field in (
        ("/api/cron/update-active-artists", "limit"),
        ("/api/cron/trending-artist-sync", "limit"),
        ("/api/cron/complete-catalog-sync", "maxArtists"),
    ):
        for number in HUGE_NUMBERS:
            with subtests.test(path=path, number=number[:24]):
                body = b'{"%s": %s}' % (field.encode(), number)
                response = await client.post(
                    path, data=body, headers={**CRON, "Content-Type": "application/json"}
                )
                assert_error(response.status, await response.json(), 400, "invalid_request",
                             field)  # fmt: skip
    assert await db_state(client) == before  # no run was started
    await assert_still_serving(client)


async def test_huge_numbers_in_queries_are_400_naming_the_field(
    client: TestClient, subtests: pytest.Subtests
) -> None:
    before = await db_state(client)
    for method, path, auth, field in (
        ("GET", "/api/trending/artists?limit={}", {}, "limit"),
        ("GET", "/api/cron/runs?limit={}", CRON, "limit"),
        ("POST", "/api/cron/update-active-artists?wait={}", CRON, "wait"),
        ("GET", "/api/monitoring/cron-health?includeMetrics={}", ADMIN, "includeMetrics"),
    ):
        headers = [(k.encode(), v.encode()) for k, v in auth.items()]
        for number in ("1e309", "18446744073709551616", "9" * 5000, "-" + "1" * 5000, "NaN"):
            with subtests.test(path=path, number=number[:24]):
                answer = await send_raw(client, method, path.format(number).encode(), headers)
                assert_error(answer.status, answer.json(), 400, "invalid_request", field)
    assert await db_state(client) == before
    await assert_still_serving(client)


# --- names and references: data, never code ----------------------------------------------------

HOSTILE_NAMES = [
    "Robert'); DROP TABLE artists;--",
    "x' OR '1'='1",
    '"; DELETE FROM import_status; --',
    "$1; SELECT pg_sleep(10)",
    "فرقة الصخرة الزرقاء",  # right-to-left script
    "\u202eZzyzx Trio\u202c",  # a right-to-left override around Latin text
    "\U0001f3b8\U0001f525\U0001f918",  # emoji only
    "Z\u0335\u0321a\u0336l\u0338g\u0334o\u0337",  # stacked combining characters
    "\u200b\u200dQqzx\ufeff",  # zero-width characters and a BOM
]


async def test_sql_and_unicode_artist_names_are_data(client: TestClient) -> None:
    before = await db_state(client)
    for name in HOSTILE_NAMES:
        response = await client.post("/api/artists/import", json={"name": name})
        answer = await response.json()
        # No simulator artist carries these words: upstream has no such artist.
        assert_error(response.status, answer, 404, "not_found")
        assert answer["error"]["message"] == f"no Spotify artist matches {name.strip()!r}"
    assert await db_state(client) == before
    await assert_still_serving(client)


async def test_a_real_name_wrapped_in_hostile_unicode_imports_the_upstream_artist(
    client: TestClient,
) -> None:
    artist = await sim_artist(client)
    before = await db_state(client)
    # Combining accents, SQL punctuation, an emoji, a right-to-left override and a zero-width
    # space: the upstream search (case, accent and punctuation blind, like Spotify's) still finds
    # the artist. The artist is stored as upstream spells it; the request, as sent, with its job.
    accented = "".join(ch + "\u0301" for ch in artist["name"])
    decorated = f"\u200b{accented}'\"); --\\ \U0001f3b8\u202e"
    response = await client.post("/api/artists/import", json={"name": decorated})
    body = await response.json()
    assert response.status == 202, body
    assert body["artist"]["name"] == artist["name"]
    assert body["artist"]["spotifyId"] == artist["spotifyId"]
    state = await db_state(client)
    assert [row["name"] for row in state["artist_names"]] == [artist["name"]]
    stored = await client.app[DATABASE].pool.fetchval(
        "SELECT request->>'name' FROM import_status WHERE job_id = $1", uuid.UUID(body["jobId"])
    )
    assert stored == decorated
    assert state["tables"] == before["tables"]
    await assert_still_serving(client)


async def test_a_nul_in_a_name_is_400_naming_the_field(client: TestClient) -> None:
    # Regression: Postgres cannot store U+0000; a name that found an artist upstream used to
    # write the artist row and then fail with 500 storing the request with its job.
    artist = await sim_artist(client)
    before = await db_state(client)
    for name in (artist["name"] + "\u0000", "\u0000", "Zq\u0000x"):
        response = await client.post("/api/artists/import", json={"name": name})
        assert_error(response.status, await response.json(), 400, "invalid_request", "name")
    assert await db_state(client) == before
    await assert_still_serving(client)


HOSTILE_REFERENCES = [
    ("Robert'%29%3B%20DROP%20TABLE%20artists%3B--", 400, "invalid_request"),
    ("x'%20OR%20'1'='1", 400, "invalid_request"),
    ("%D9%81%D8%B1%D9%82%D8%A9", 404, "not_found"),  # Arabic letters: a possible slug
    ("%EF%BD%92%EF%BD%8F%EF%BD%82", 404, "not_found"),  # fullwidth letters
    ("%F0%9F%8E%B8", 400, "invalid_request"),  # an emoji
    ("a%00b", 400, "invalid_request"),
    ("e%CC%81", 400, "invalid_request"),  # a combining accent
    ("a" * 201, 400, "invalid_request"),
    ("%E2%80%AEevil", 400, "invalid_request"),  # a right-to-left override
]


async def test_hostile_artist_references_are_refused_or_unknown(
    client: TestClient, subtests: pytest.Subtests
) -> None:
    before = await db_state(client)
    for reference, status, code in HOSTILE_REFERENCES:
        with subtests.test(reference=reference[:40]):
            answer = await send_raw(client, "GET", f"/api/artists/{reference}".encode())
            field = "idOrSlug" if status == 400 else None
            assert_error(answer.status, answer.json(), status, code, field)
    assert await db_state(client) == before
    await assert_still_serving(client)


SQL_PARAMETERS: list[tuple[str, str, dict[str, str], dict[str, str] | None, str]] = [
    ("GET", "/api/trending/artists?period=week'%3B%20DROP%20TABLE%20artists%3B--", {},
     None, "period"),
    ("GET", "/api/cron/runs?job=x'%20OR%20'1'='1", CRON, None, "job"),
    ("GET", "/api/monitoring/cron-health?jobName=%3B%20DELETE%20FROM%20cron_logs", ADMIN,
     None, "jobName"),
    ("POST", "/api/monitoring/cron-health", ADMIN,
     {"action": "getMetrics", "jobName": "x'; DROP TABLE cron_logs;--"}, "jobName"),
    ("POST", "/api/monitoring/cron-health", ADMIN,
     {"action": "triggerHealthCheck'; DROP TABLE cron_alerts;--"}, "action"),
]  # fmt: skip


async def test_sql_in_parameters_is_400_naming_the_field(
    client: TestClient, subtests: pytest.Subtests
) -> None:
    before = await db_state(client)
    for method, target, auth, body, field in SQL_PARAMETERS:
        with subtests.test(target=target, body=body):
            response = await client.request(method, target, headers=auth, json=body)
            assert_error(response.status, await response.json(), 400, "invalid_request", field)
    assert await db_state(client) == before
    await assert_still_serving(client)


# --- path traversal in ids ----------------------------------------------------------------------

#: Every route with an id segment: (path with {} for the id, suffix, auth, answer to a bad id).
ID_ROUTES = [
    ("/api/artists/{}", {}, 400, "invalid_request"),
    ("/api/artists/import/{}", {}, 404, "not_found"),
    ("/api/artists/import/progress/{}", {}, 404, "not_found"),
    ("/api/cron/runs/{}", CRON, 404, "not_found"),
    ("/api/cron/runs/{}/events", CRON, 404, "not_found"),
]
ENCODED_TRAVERSALS = [
    "%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%2E%2E%2F%2E%2E%2Fhealthz",
    "..%2f..%2f..%2fetc%2fpasswd",
    "..%2F..%2Fapi%2Fcron%2Fruns",
    "%252e%252e%252fetc%252fpasswd",  # encoded twice
    "..%5c..%5cwindows%5cwin.ini",  # backslashes
    "%2e%2e",
    ".%2e",
    "%2e%2e%00",
    "..%c0%af..%c0%afetc",  # overlong "/"
]


async def test_encoded_traversal_stays_inside_the_id(
    client: TestClient, subtests: pytest.Subtests
) -> None:
    before = await db_state(client)
    for route, auth, status, code in ID_ROUTES:
        headers = [(k.encode(), v.encode()) for k, v in auth.items()]
        for traversal in ENCODED_TRAVERSALS:
            target = route.format(traversal)
            with subtests.test(target=target):
                answer = await send_raw(client, "GET", target.encode(), headers)
                field = "idOrSlug" if status == 400 else None
                assert_error(answer.status, answer.json(), status, code, field)
    assert await db_state(client) == before
    await assert_still_serving(client)


async def test_dot_segments_name_another_path_that_is_no_route(
    client: TestClient, subtests: pytest.Subtests
) -> None:
    for route, auth, _status, _code in ID_ROUTES:
        headers = [(k.encode(), v.encode()) for k, v in auth.items()]
        for traversal in (
            "../../../../etc/passwd",
            "../../../../../../healthz/x",
            "..\\..\\x/../..",
        ):
            target = route.format(traversal)
            with subtests.test(target=target):
                answer = await send_raw(client, "GET", target.encode(), headers)
                assert_error(answer.status, answer.json(), 404, "not_found")
                assert answer.json()["error"]["message"] == "no such route"
    await assert_still_serving(client)


# --- content types ------------------------------------------------------------------------------


async def test_a_json_body_under_another_content_type_is_400(client: TestClient) -> None:
    before = await db_state(client)
    artist = await sim_artist(client)
    good = json.dumps({"name": artist["name"]}).encode()
    for content_type, body in (
        ("text/plain", good),
        ("text/html", good),
        ("application/xml", b"<name>x</name>"),
        ("application/x-www-form-urlencoded", b"name=" + artist["name"].encode()),
        ("multipart/form-data; boundary=xx",
         b'--xx\r\nContent-Disposition: form-data; name="name"\r\n\r\nx\r\n--xx--\r\n'),
        ("application/jsonx", good),
        ("application/json; charset=utf-16", json.dumps({"name": "x"}).encode("utf-16")),
        ("image/png", b"\x89PNG\r\n\x1a\n"),
    ):  # fmt: skip
        response = await client.post(
            "/api/artists/import", data=body, headers={"Content-Type": content_type}
        )
        assert_error(response.status, await response.json(), 400, "invalid_request")
        for path, auth in (
            ("/api/cron/update-active-artists", CRON),
            ("/api/monitoring/cron-health", ADMIN),
        ):
            response = await client.post(
                path, data=body, headers={**auth, "Content-Type": content_type}
            )
            assert_error(response.status, await response.json(), 400, "invalid_request")
    assert await db_state(client) == before
    # The same body as JSON (with a charset, or a +json type) is read.
    for content_type in ("application/json; charset=utf-8", "application/vnd.api+json"):
        response = await client.post(
            "/api/artists/import", data=good, headers={"Content-Type": content_type}
        )
        assert response.status in (200, 202), await response.text()
    await assert_still_serving(client)


# --- auth ---------------------------------------------------------------------------------------


def basic(user: str, password: str) -> bytes:
    return b"Basic " + base64.b64encode(f"{user}:{password}".encode())


ADMIN_BYTES = ADMIN_KEY.encode()
ONE_OFF = ADMIN_BYTES[:-1] + bytes([ADMIN_BYTES[-1] ^ 1])
AUTH_VARIANTS: list[tuple[str, bytes | None, int]] = [
    ("exact", b"Bearer " + ADMIN_BYTES, 200),
    ("lower-case scheme", b"bearer " + ADMIN_BYTES, 200),
    ("upper-case scheme", b"BEARER " + ADMIN_BYTES, 200),
    ("spaces between", b"Bearer    " + ADMIN_BYTES, 200),
    ("spaces around", b"   Bearer " + ADMIN_BYTES + b"   ", 200),
    ("tab after", b"Bearer " + ADMIN_BYTES + b"\t", 200),
    ("missing", None, 401),
    ("empty", b"", 401),
    ("scheme alone", b"Bearer", 401),
    ("empty token", b"Bearer ", 401),
    ("one byte off", b"Bearer " + ONE_OFF, 401),
    ("one byte short", b"Bearer " + ADMIN_BYTES[:-1], 401),
    ("one byte long", b"Bearer " + ADMIN_BYTES + b"x", 401),
    ("token in upper case", b"Bearer " + ADMIN_BYTES.upper(), 401),
    ("token twice", b"Bearer " + ADMIN_BYTES + b" " + ADMIN_BYTES, 401),
    ("tab as separator", b"Bearer\t" + ADMIN_BYTES, 401),
    ("no scheme", ADMIN_BYTES, 401),
    ("another scheme", b"Token " + ADMIN_BYTES, 401),
    ("basic where bearer is required", basic("admin", ADMIN_KEY), 401),
    ("the cron secret", b"Bearer " + CRON_SECRET.encode(), 401),
    ("bytes that are not UTF-8", b"Bearer \xff\xfe" + ADMIN_BYTES, 401),
    ("a token in Latin-1", b"Bearer " + ADMIN_BYTES + b"\xe9", 401),
    ("a literal backslash-n", b"Bearer " + ADMIN_BYTES + b"\\n", 401),
    ("trailing newline (bare LF)", b"Bearer " + ADMIN_BYTES + b"\n", 400),
    ("a NUL", b"Bearer " + ADMIN_BYTES + b"\x00", 400),
]


async def test_authorization_variants_on_an_admin_route(
    client: TestClient, subtests: pytest.Subtests
) -> None:
    for name, authorization, status in AUTH_VARIANTS:
        with subtests.test(variant=name):
            headers = [] if authorization is None else [(b"Authorization", authorization)]
            answer = await send_raw(client, "GET", b"/metrics", headers)
            assert answer.status == status, answer.body
            if status == 200:
                assert answer.headers["Content-Type"].startswith("text/plain")
            if status == 401:
                assert answer.headers["WWW-Authenticate"] == 'Bearer realm="theset-daemon"'
                assert_error(answer.status, answer.json(), 401, "unauthorized")
    await assert_still_serving(client)


async def test_each_secret_opens_only_its_routes(client: TestClient) -> None:
    # The admin key on a cron route: 401, and no run.
    response = await client.post("/api/cron/calculate-trending", headers=ADMIN)
    assert_error(response.status, await response.json(), 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await db_state(client))["cron_logs"] == 0
    # The cron secret with a lower-case scheme: accepted.
    response = await client.post(
        "/api/cron/calculate-trending?wait=true",
        headers={"Authorization": f"bearer {CRON_SECRET}"},
    )
    assert response.status == 200, await response.text()
    # Runs take either secret; monitoring only the admin key.
    for headers, status in ((CRON, 200), (ADMIN, 200), ({"Authorization": "Bearer x"}, 401)):
        assert (await client.get("/api/cron/runs", headers=headers)).status == status
    response = await client.get("/api/monitoring/cron-health", headers=CRON)
    assert_error(response.status, await response.json(), 401, "unauthorized")
    await assert_still_serving(client)


BASIC_VARIANTS: list[tuple[bytes | None, int]] = [
    (basic("operator", ADMIN_KEY), 200),
    (basic("", ADMIN_KEY), 200),
    (b"basic " + base64.b64encode(b"x:" + ADMIN_BYTES), 200),
    (b"Bearer " + ADMIN_BYTES, 200),
    (basic("operator", ADMIN_KEY[:-1]), 401),
    (basic("operator", CRON_SECRET), 401),
    (b"Basic " + base64.b64encode(ADMIN_BYTES), 401),  # no colon: no password
    (b"Basic !!not-base64!!", 401),
    (b"Basic " + base64.b64encode(b"x:\xff" + ADMIN_BYTES), 401),
    (b"Basic", 401),
    (None, 401),
]


async def test_the_status_page_takes_basic_with_the_admin_key(
    client: TestClient, subtests: pytest.Subtests
) -> None:
    for authorization, status in BASIC_VARIANTS:
        with subtests.test(authorization=authorization):
            headers = [] if authorization is None else [(b"Authorization", authorization)]
            answer = await send_raw(client, "GET", b"/status", headers)
            assert answer.status == status, answer.body
            if status == 401:
                assert answer.headers["WWW-Authenticate"] == 'Basic realm="theset-daemon"'
                assert_error(answer.status, answer.json(), 401, "unauthorized")


# --- Last-Event-ID ------------------------------------------------------------------------------


LAST_EVENT_IDS: list[tuple[bytes, int, int | None]] = [
    (b"0", 200, 1),
    (b"1", 200, 2),
    (b"0000000000001", 200, 2),
    (b" 2 ", 200, 3),
    (b"-1", 200, 3),  # not a number: no id, the latest event
    ("²".encode(), 200, 3),  # a digit to str.isdigit, not to int()
    ("\u0661".encode(), 200, 3),  # ARABIC-INDIC DIGIT ONE: a digit, not ASCII
    (b"\xb2", 200, 3),  # not UTF-8
    (b"1.5", 200, 3),
    (b"3", 204, None),  # the terminal event
    (b"2147483647", 204, None),
    (b"2147483648", 204, None),  # past the seq column's range
    (b"18446744073709551616", 204, None),
    (b"9" * 5000, 204, None),  # more digits than int() converts
]


async def test_hostile_last_event_ids_on_a_finished_run(
    client: TestClient, subtests: pytest.Subtests
) -> None:
    run_id = await finished_run(client)  # three events: progress, progress, complete
    auth = (b"Authorization", CRON["Authorization"].encode())
    for last_event_id, status, first_id in LAST_EVENT_IDS:
        with subtests.test(last_event_id=last_event_id[:24]):
            answer = await send_raw(
                client,
                "GET",
                f"/api/cron/runs/{run_id}/events".encode(),
                [auth, (b"Last-Event-ID", last_event_id)],
            )
            assert answer.status == status, answer.body
            if status == 200:
                assert answer.headers["Content-Type"] == "text/event-stream"
                frames = answer.body.decode().split("\n\n")
                assert frames[0] == "retry: 2000"
                assert frames[1].startswith(f"id: {first_id}\n"), frames
                assert "event: complete" in frames[-2], frames
            # The unknown job is 404 JSON whatever the header says.
            answer = await send_raw(
                client,
                "GET",
                b"/api/artists/import/progress/00000000-0000-4000-8000-000000000000",
                [(b"Last-Event-ID", last_event_id)],
            )
            assert_error(answer.status, answer.json(), 404, "not_found")
    await assert_still_serving(client)
