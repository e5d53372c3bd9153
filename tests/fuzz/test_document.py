"""``/api/openapi.json`` against real answers: the mismatches the fuzz found, each pinned down.

Each answer is validated with ``jsonschema`` against the component schema the document names for
it (Draft 2020-12, the dialect of OpenAPI 3.1), over the real application and a real Postgres.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator

from theset_daemon import config
from theset_daemon.app import build_app
from theset_daemon.appkeys import DATABASE
from theset_daemon.config import SettingsHolder

CRON = {"Authorization": "Bearer doc-cron-secret"}
ADMIN = {"Authorization": "Bearer doc-admin-key"}
CONFIG = """
[log]
level = "warning"
[upstream.simulator]
artists = 3
latency_ms = 0
[auth]
cron_secret = "doc-cron-secret"
admin_api_key = "doc-admin-key"
"""


@pytest.fixture
async def client(aiohttp_client: Any, database_url: str) -> TestClient:
    settings = config.parse(CONFIG, {"DATABASE_URL": database_url})
    client: TestClient = await aiohttp_client(build_app(SettingsHolder(settings, Path("x.toml"))))
    return client


async def document(client: TestClient) -> dict[str, Any]:
    doc: dict[str, Any] = await (await client.get("/api/openapi.json")).json()
    return doc


def validator(doc: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A validator for ``schema`` whose ``$ref``s resolve inside the document's components."""
    return Draft202012Validator({**schema, "components": doc["components"]})


def component(doc: dict[str, Any], name: str) -> Draft202012Validator:
    return validator(doc, {"$ref": f"#/components/schemas/{name}"})


def events(stream: bytes) -> list[dict[str, str]]:
    """The events of an SSE body, as Schemathesis reads them: field -> value."""
    found = []
    for block in stream.decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "data" in fields:
            found.append(fields)
    return found


async def test_cron_health_keeps_the_nulls_of_a_running_job(client: TestClient) -> None:
    # Regression: the answer was dumped with exclude_none, which dropped the documented nulls
    # (a running job's finishedAt and durationMs, a job without runs' averages) along with the
    # parts not asked for.
    await client.app[DATABASE].pool.execute(
        "INSERT INTO cron_logs (job_name, trigger, status) "
        "VALUES ('update-active-artists', 'http', 'running')"
    )
    doc = await document(client)
    response = await client.get(
        "/api/monitoring/cron-health?includeMetrics=true&includeReport=true", headers=ADMIN
    )
    body = await response.json()
    assert response.status == 200, body
    component(doc, "CronHealth").validate(body)
    last_run = body["jobs"][0]["lastRun"]
    assert last_run["status"] == "running"
    assert last_run["finishedAt"] is None and last_run["durationMs"] is None
    assert body["metrics"]["calculate-trending"]["avgDurationMs"] is None

    plain = await (await client.get("/api/monitoring/cron-health", headers=ADMIN)).json()
    component(doc, "CronHealth").validate(plain)
    assert "metrics" not in plain and "report" not in plain
    assert plain["jobs"][0]["lastRun"]["finishedAt"] is None


async def test_the_openapi_document_is_documented_as_an_object(client: TestClient) -> None:
    # Regression: every response without a model was documented as a string, this JSON one too.
    doc = await document(client)
    answers = doc["paths"]["/api/openapi.json"]["get"]["responses"]["200"]["content"]
    validator(doc, answers["application/json"]["schema"]).validate(doc)
    metrics = doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert metrics == {"text/plain; version=0.0.4": {"schema": {"type": "string"}}}


async def test_a_show_start_time_is_documented_as_local_time(client: TestClient) -> None:
    # Regression: dt.time made pydantic claim JSON Schema's "time" format (RFC 3339, an offset
    # required), but the column is the venue's wall-clock time, sent as "21:00:00".
    pool = client.app[DATABASE].pool
    artist_id = uuid.uuid4()
    await pool.execute(
        "INSERT INTO artists (id, name, slug) VALUES ($1, 'Night Shift', 'night-shift')",
        artist_id,
    )
    await pool.execute(
        """INSERT INTO shows (headliner_artist_id, slug, name, date, start_time, status)
           VALUES ($1, 'night-shift-live', 'Night Shift live', current_date + 7, '21:00',
                   'upcoming')""",
        artist_id,
    )
    doc = await document(client)
    start_time = doc["components"]["schemas"]["ShowSummary"]["properties"]["startTime"]
    assert "format" not in json.dumps(start_time)
    response = await client.get("/api/artists/night-shift")
    page = await response.json()
    assert response.status == 200, page
    assert page["upcomingShows"][0]["startTime"] == "21:00:00"
    component(doc, "ArtistPage").validate(page)


async def test_event_streams_are_documented_event_by_event(client: TestClient) -> None:
    # Regression: the streams were documented as {"type": "string"}, which OpenAPI 3.1 tools read
    # as the schema of each event; each event is now documented with its data's schema.
    doc = await document(client)
    streams = {
        "/api/artists/import/progress/{jobId}": (
            "ImportStatus",
            ["progress", "complete", "failed"],
        ),
        "/api/cron/runs/{runId}/events": ("Run", ["progress", "complete", "failed"]),
        "/status/events": ("Snapshot", ["snapshot"]),
    }
    for path, (model, names) in streams.items():
        operation = doc["paths"][path]["get"]
        event = operation["responses"]["200"]["content"]["text/event-stream"]["schema"]
        assert event["properties"]["event"]["enum"] == names
        data = event["properties"]["data"]
        assert data["contentMediaType"] == "application/json"
        assert data["contentSchema"] == {"$ref": f"#/components/schemas/{model}"}
    for path, header in (
        ("/api/artists/import/progress/{jobId}", "Last-Event-ID"),
        ("/api/cron/runs/{runId}/events", "Last-Event-ID"),
        ("/api/artists/{idOrSlug}", "If-None-Match"),
        ("/api/trending/artists", "If-None-Match"),
    ):
        parameters = doc["paths"][path]["get"]["parameters"]
        assert {"name": header, "in": "header", "required": False} in [
            {k: p[k] for k in ("name", "in", "required")} for p in parameters
        ]

    # A finished run's stream: every event and its data as documented.
    run = await (await client.post("/api/cron/calculate-trending?wait=true", headers=CRON)).json()
    response = await client.get(
        f"/api/cron/runs/{run['runId']}/events", headers={**CRON, "Last-Event-ID": "0"}
    )
    assert response.status == 200
    run_events = events(await response.read())
    assert [e["event"] for e in run_events] == ["progress", "progress", "complete"]
    schema = doc["paths"]["/api/cron/runs/{runId}/events"]["get"]["responses"]["200"]
    event_validator = validator(doc, schema["content"]["text/event-stream"]["schema"])
    for event in run_events:
        event_validator.validate(event)
        component(doc, "Run").validate(json.loads(event["data"]))

    # The status page's stream: the first snapshot is whole (checkedAt included).
    async with client.get("/status/events", headers=ADMIN) as response:
        assert response.status == 200
        chunk = b""
        while b"event: snapshot" not in chunk or not chunk.endswith(b"\n\n"):
            chunk += await response.content.readany()
    (snapshot,) = events(chunk)
    component(doc, "Snapshot").validate(json.loads(snapshot["data"]))
    assert "checkedAt" in json.loads(snapshot["data"])
