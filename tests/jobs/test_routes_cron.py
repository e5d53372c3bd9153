"""The cron routes over the real app: real Postgres, the real aiohttp server, the runner with the
probe job as every job's function."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.jobs.conftest import PROBE_TABLE, Knobs, job_table, probe_job, settings_for
from theset_daemon.app import build_app
from theset_daemon.appkeys import RUNNER
from theset_daemon.config import SettingsHolder

CRON = {"Authorization": "Bearer cron-secret"}
ADMIN = {"Authorization": "Bearer admin-key"}
AUTH = """
[auth]
cron_secret = "cron-secret"
admin_api_key = "admin-key"
"""


@pytest.fixture
async def client(aiohttp_client: Any, database_url: str, knobs: Knobs) -> TestClient:
    holder = SettingsHolder(settings_for(database_url, AUTH), Path("unused.toml"))
    app = build_app(holder, jobs=job_table(probe_job(knobs)))
    client: TestClient = await aiohttp_client(app)
    await client.app[RUNNER].database.pool.execute(PROBE_TABLE)
    return client


async def test_a_trigger_answers_202_and_the_run_can_be_read(client: TestClient) -> None:
    response = await client.post("/api/cron/update-active-artists", headers=CRON)
    body = await response.json()
    assert response.status == 202, body
    run_id = body["runId"]
    assert body == {
        "runId": run_id,
        "job": "update-active-artists",
        "status": "running",
        "statusUrl": f"/api/cron/runs/{run_id}",
        "eventsUrl": f"/api/cron/runs/{run_id}/events",
    }
    run = await client.app[RUNNER].wait(uuid.UUID(run_id))
    for headers in (CRON, ADMIN):
        detail = await client.get(body["statusUrl"], headers=headers)
        assert detail.status == 200
        assert await detail.json() == run
    assert run["status"] == "succeeded" and run["trigger"] == "http"
    assert run["params"] == {"limit": 50, "forceSync": False}


async def test_the_body_overrides_the_defaults_and_bad_fields_are_named(
    client: TestClient,
) -> None:
    response = await client.post(
        "/api/cron/complete-catalog-sync?wait=true",
        json={"maxArtists": 3, "includeDataCleanup": False},
        headers=CRON,
    )
    run = await response.json()
    assert response.status == 200, run
    assert run["params"] == {
        "maxArtists": 3,
        "includeDataCleanup": False,
        "performIntegrityChecks": True,
    }
    for body, field in (
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"forceSync": "perhaps"}, "forceSync"),
        ({"surprise": 1}, "surprise"),
    ):
        response = await client.post("/api/cron/update-active-artists", json=body, headers=CRON)
        error = await response.json()
        assert response.status == 400, (body, error)
        assert error["error"]["code"] == "invalid_request"
        assert error["error"]["message"].startswith(field), error
    response = await client.post(
        "/api/cron/update-active-artists",
        data=b"{nope",
        headers={**CRON, "Content-Type": "application/json"},
    )
    assert response.status == 400
    response = await client.post("/api/cron/no-such-job", headers=CRON)
    assert response.status == 404


async def test_cron_routes_want_the_cron_secret(client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, ADMIN):
        response = await client.post("/api/cron/calculate-trending", headers=headers)
        assert response.status == 401, headers
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await response.json())["error"]["code"] == "unauthorized"
    for path in ("/api/cron/runs", f"/api/cron/runs/{'0' * 8}-0000-0000-0000-{'0' * 12}"):
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            assert (await client.get(path, headers=headers)).status == 401


async def test_a_second_trigger_gets_409_with_the_running_run_id(
    client: TestClient, knobs: Knobs
) -> None:
    knobs.gate.clear()
    first = await (await client.post("/api/cron/trending-artist-sync", headers=CRON)).json()
    response = await client.post("/api/cron/trending-artist-sync", headers=CRON)
    body = await response.json()
    assert response.status == 409
    assert body["error"]["code"] == "already_running"
    assert body["runId"] == first["runId"]
    knobs.gate.set()


async def test_wait_answers_200_with_the_run_or_500_with_the_error_and_the_run(
    client: TestClient, knobs: Knobs
) -> None:
    knobs.fail_items = frozenset({2})
    response = await client.post("/api/cron/calculate-trending?wait=true", headers=CRON)
    run = await response.json()
    assert response.status == 200 and run["status"] == "partial"
    assert run["errors"] == [{"artistId": "artist-2", "message": "item 2 failed on purpose"}]

    knobs.fail_items, knobs.raise_error = frozenset(), "database on fire"
    response = await client.post("/api/cron/calculate-trending?wait=true", headers=CRON)
    body = await response.json()
    assert response.status == 500
    assert body["error"]["code"] == "internal"
    assert "database on fire" in body["error"]["message"]
    assert body["run"]["status"] == "failed" and body["run"]["job"] == "calculate-trending"
    assert body["run"]["error"] == "RuntimeError: database on fire"


async def test_trigger_cli_is_recorded(client: TestClient) -> None:
    response = await client.post("/api/cron/calculate-trending?wait=1&trigger=cli", headers=CRON)
    assert (await response.json())["trigger"] == "cli"
    response = await client.post("/api/cron/calculate-trending?trigger=schedule", headers=CRON)
    assert response.status == 400  # only http and cli come from outside


async def test_the_runs_list_newest_first_filtered_and_bounded(client: TestClient) -> None:
    for job in ("calculate-trending", "update-active-artists", "calculate-trending"):
        response = await client.post(f"/api/cron/{job}?wait=true", headers=CRON)
        assert response.status == 200
    listed = await (await client.get("/api/cron/runs", headers=ADMIN)).json()
    assert [r["job"] for r in listed["runs"]] == [
        "calculate-trending",
        "update-active-artists",
        "calculate-trending",
    ]
    only = await (
        await client.get("/api/cron/runs?job=calculate-trending&limit=1", headers=CRON)
    ).json()
    assert len(only["runs"]) == 1 and only["runs"][0] == listed["runs"][0]
    for query in ("limit=0", "limit=201", "job=nope", "limit=x", "other=1"):
        response = await client.get(f"/api/cron/runs?{query}", headers=CRON)
        assert response.status == 400, query


async def test_an_unknown_or_malformed_run_id_is_404(client: TestClient) -> None:
    for run_id in ("00000000-0000-0000-0000-000000000000", "not-a-uuid"):
        for suffix in ("", "/events"):
            response = await client.get(f"/api/cron/runs/{run_id}{suffix}", headers=CRON)
            assert response.status == 404
            assert (await response.json())["error"]["code"] == "not_found"


async def test_the_events_stream_replays_through_the_terminal_event(
    client: TestClient, knobs: Knobs
) -> None:
    knobs.items, knobs.item_delay_s = 6, 0.1
    started = await (await client.post("/api/cron/complete-catalog-sync", headers=CRON)).json()
    # live: connect while it runs and read to the end
    response = await client.get(
        started["eventsUrl"], headers={**ADMIN, "Last-Event-ID": "0"}, timeout=None
    )
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/event-stream"
    text = await asyncio.wait_for(response.text(), 20)
    frames = [f for f in text.split("\n\n") if f.startswith("id:")]
    ids = [int(f.split("\n")[0].removeprefix("id: ")) for f in frames]
    assert ids == list(range(1, len(ids) + 1))
    assert frames[-1].split("\n")[1] == "event: complete"
    assert '"status":"succeeded"' in frames[-1]
    # replay after the end: everything again, then close; past the end: 204
    again = await client.get(started["eventsUrl"], headers={**CRON, "Last-Event-ID": "0"})
    assert [f for f in (await again.text()).split("\n\n") if f.startswith("id:")] == frames
    done = await client.get(started["eventsUrl"], headers={**CRON, "Last-Event-ID": str(ids[-1])})
    assert done.status == 204


async def test_the_cron_routes_are_in_the_openapi_document(client: TestClient) -> None:
    document = await (await client.get("/api/openapi.json")).json()
    paths = document["paths"]
    for job in ("update-active-artists", "trending-artist-sync", "complete-catalog-sync"):
        operation = paths[f"/api/cron/{job}"]["post"]
        assert operation["security"] == [{"cronSecret": []}]
        assert {"202", "200", "400", "401", "409", "500"} <= set(operation["responses"])
        assert "requestBody" in operation
    schema = document["components"]["schemas"]["UpdateActiveArtistsParams"]
    assert set(schema["properties"]) == {"limit", "forceSync"}
    assert paths["/api/cron/runs"]["get"]["security"] == [{"cronSecret": []}, {"adminKey": []}]
    assert "/api/cron/runs/{runId}/events" in paths
    assert "Run" in document["components"]["schemas"]
