"""The status page's dashboard routes over plain HTTP, through the real app and a real Postgres:
the page's CSRF token and Content-Security-Policy, its assets, ``/status/history`` over a seeded
week of runs, and ``POST /status/jobs/<job>/run``: started through the job runner as an ``http``
run, refused (403 ``forbidden``) from another origin or without the token, 409
``already_running`` with the current run (CONTRACT.md section 5). The same page in a browser:
``tests/browser/test_dashboard.py``."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.importer.support import app_client
from tests.monitoring.week_of_runs import in_week, running_elsewhere, seed_week
from theset_daemon.appkeys import DATABASE, RUNNER
from theset_daemon.web import routes_dashboard
from theset_daemon.web.same_origin import csrf_token

ADMIN_KEY = "dashboard-admin-key"
CRON_SECRET = "dashboard-cron-secret"
BASIC = "Basic " + base64.b64encode(f"operator:{ADMIN_KEY}".encode()).decode()
CONFIG = f"""
[auth]
admin_api_key = "{ADMIN_KEY}"
cron_secret = "{CRON_SECRET}"
[log]
level = "warning"
[upstream.simulator]
artists = 3
latency_ms = 0
"""
JOBS = ["update-active-artists", "trending-artist-sync", "complete-catalog-sync",
        "calculate-trending"]  # fmt: skip
# No scheduled run may add to what a test counts (a fire at the top of the hour).
CONFIG += "".join(f"[jobs.{job}]\nenabled = false\n" for job in JOBS)


@pytest.fixture
async def client(aiohttp_client: Any, database_url: str) -> TestClient:
    return await app_client(aiohttp_client, database_url, CONFIG)


def origin_of(client: TestClient) -> str:
    return str(client.make_url("/")).rstrip("/")


def page_headers(client: TestClient, **extra: str) -> dict[str, str]:
    """What the page's own fetch sends: Basic, its origin, and the token it was served."""
    return {
        "Authorization": BASIC,
        "Origin": origin_of(client),
        "Sec-Fetch-Site": "same-origin",
        "X-CSRF-Token": csrf_token(ADMIN_KEY, BASIC),
        **extra,
    }


async def assert_refused(response: Any, status: int, code: str) -> dict[str, Any]:
    body: dict[str, Any] = await response.json()
    assert response.status == status, body
    assert body["error"]["code"] == code and body["error"]["message"], body
    return body


async def test_the_page_carries_its_token_and_a_policy_of_its_own_origin(
    client: TestClient,
) -> None:
    response = await client.get("/status", headers={"Authorization": BASIC})
    assert response.status == 200
    page = await response.text()
    (token,) = re.findall(r'<meta name="csrf-token" content="([^"]*)">', page)
    assert token == csrf_token(ADMIN_KEY, BASIC) and "__CSRF_TOKEN__" not in page
    # Tied to the session's credentials: another operator name gets another token.
    other = "Basic " + base64.b64encode(f"someone:{ADMIN_KEY}".encode()).decode()
    assert csrf_token(ADMIN_KEY, other) != token
    assert csrf_token("rotated-key", BASIC) != token
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    # Nothing inline for the policy to refuse, and nothing from another origin.
    assert "<style" not in page and not re.search(r"<script(?![^>]*\bsrc=)", page)
    assert not re.search(r"(src|href)=\"(https?:)?//", page)

    for name, media_type in routes_dashboard.ASSETS.items():
        asset = await client.get(f"/status/{name}", headers={"Authorization": BASIC})
        assert asset.status == 200 and asset.content_type == media_type, name
        source = await asset.text()
        foreign = re.search(r"https?://(?!www\.w3\.org/2000/svg\b)", source)
        assert foreign is None, f"{name} loads nothing from another origin"
        # Data reaches the DOM as text only: no markup parsed from a string, no eval.
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(",
                             source), name  # fmt: skip
        assert (await client.get(f"/status/{name}")).status == 401


async def test_history_is_each_jobs_week_of_runs_by_day_and_outcome(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await client.get("/status/history")).status == 401
    now = datetime.now(UTC)
    await seed_week(client.app[DATABASE].pool, now)
    response = await client.get("/status/history", headers={"Authorization": BASIC})
    history = await response.json()
    assert response.status == 200, history
    assert response.headers["Cache-Control"] == "no-store"
    assert list(history["jobs"]) == JOBS
    expected = in_week(now)
    for job in JOBS:
        listed = history["jobs"][job]
        days = listed["days"]
        assert len(days) == 7 and days[-1]["day"] == now.date().isoformat()
        assert sum(sum(day["runs"].values()) for day in days) == expected[job]
        assert len(listed["runs"]) == expected[job] and not listed["capped"]
        started = [run["startedAt"] for run in listed["runs"]]
        assert started == sorted(started, reverse=True)
    trending = history["jobs"]["calculate-trending"]
    assert [run["durationMs"] for run in trending["runs"]] == [1_200, 900, 300, 1_500]
    assert [run["status"] for run in trending["runs"]][:3] == ["succeeded", "succeeded", "failed"]
    assert history["jobs"]["complete-catalog-sync"] == {
        "runs": [],
        "days": [{"day": day["day"], "runs": {}} for day in trending["days"]],
        "capped": False,
    }
    failed = [d["runs"].get("failed", 0) for j in history["jobs"].values() for d in j["days"]]
    assert sum(failed) == 2  # the two seeded failures of the week

    # Bounded: past the cap, the newest runs are listed and the days still count them all.
    monkeypatch.setattr(routes_dashboard, "HISTORY_RUNS_PER_JOB", 2)
    capped = await (await client.get("/status/history", headers={"Authorization": BASIC})).json()
    trending = capped["jobs"]["calculate-trending"]
    assert [run["durationMs"] for run in trending["runs"]] == [1_200, 900] and trending["capped"]
    assert sum(sum(day["runs"].values()) for day in trending["days"]) == 4


async def test_run_now_starts_the_job_as_an_http_run(client: TestClient) -> None:
    url = "/status/jobs/calculate-trending/run"
    response = await client.post(url, headers=page_headers(client))
    started = await response.json()
    assert response.status == 202, started
    assert started["job"] == "calculate-trending" and started["status"] == "running"
    run = await client.app[RUNNER].wait(uuid.UUID(started["runId"]))
    assert run["trigger"] == "http" and run["status"] in ("succeeded", "partial"), run
    assert started["statusUrl"] == f"/api/cron/runs/{started['runId']}"
    # A bearer admin session has a token too (its user name is empty).
    bearer = f"Bearer {ADMIN_KEY}"
    headers = page_headers(client, Authorization=bearer)
    headers["X-CSRF-Token"] = csrf_token(ADMIN_KEY, bearer)
    response = await client.post(url, headers=headers)
    assert response.status == 202, await response.text()
    await client.app[RUNNER].wait(uuid.UUID((await response.json())["runId"]))


async def test_run_now_while_it_runs_elsewhere_is_409_with_the_current_run(
    client: TestClient,
) -> None:
    pool = client.app[DATABASE].pool
    run_id = await running_elsewhere(pool, "trending-artist-sync")
    response = await client.post(
        "/status/jobs/trending-artist-sync/run", headers=page_headers(client)
    )
    body = await assert_refused(response, 409, "already_running")
    assert body["runId"] == str(run_id)


REFUSALS: list[tuple[str, dict[str, str | None]]] = [
    ("no Origin and no Sec-Fetch-Site", {"Origin": None, "Sec-Fetch-Site": None}),
    ("a cross-site fetch", {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}),
    ("another site, Sec-Fetch-Site not sent", {"Origin": "https://evil.example",
                                               "Sec-Fetch-Site": None}),
    ("a same-site page on another port", {"Origin": "http://127.0.0.1:1",
                                          "Sec-Fetch-Site": "same-site"}),
    ("another origin claiming same-origin", {"Origin": "http://127.0.0.1:1"}),
    ("an opaque origin", {"Origin": "null", "Sec-Fetch-Site": None}),
    ("no token", {"X-CSRF-Token": None}),
    ("an empty token", {"X-CSRF-Token": ""}),
    ("a wrong token", {"X-CSRF-Token": "x" * 43}),
    ("another session's token", {"X-CSRF-Token": csrf_token(ADMIN_KEY, "Basic b3RoZXI6eA==")}),
]  # fmt: skip


async def test_run_now_is_refused_from_another_origin_or_without_the_token(
    client: TestClient, subtests: pytest.Subtests
) -> None:
    pool = client.app[DATABASE].pool
    for why, changes in REFUSALS:
        with subtests.test(why):
            headers = page_headers(client)
            for name, value in changes.items():
                headers.pop(name)
                if value is not None:
                    headers[name] = value
            response = await client.post("/status/jobs/calculate-trending/run", headers=headers)
            await assert_refused(response, 403, "forbidden")
    ran = await pool.fetchval("SELECT count(*) FROM cron_logs WHERE trigger = 'http'")
    assert ran == 0, "nothing ran"
    # The admin key comes first, as on every /status route; an unknown job is a 404.
    response = await client.post(
        "/status/jobs/calculate-trending/run",
        headers=page_headers(client, Authorization=f"Bearer {CRON_SECRET}"),
    )
    await assert_refused(response, 401, "unauthorized")
    response = await client.post("/status/jobs/no-such-job/run", headers=page_headers(client))
    await assert_refused(response, 404, "not_found")
    # A CORS preflight from another site gets no permission to send the token header.
    preflight = await client.options(
        "/status/jobs/calculate-trending/run",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "x-csrf-token"},
    )  # fmt: skip
    assert "Access-Control-Allow-Origin" not in preflight.headers


async def test_the_routes_are_documented(client: TestClient) -> None:
    doc = await (await client.get("/api/openapi.json")).json()
    run_now = doc["paths"]["/status/jobs/{job}/run"]["post"]
    assert set(run_now["responses"]) >= {"202", "401", "403", "404", "409"}
    assert {"adminBasic": []} in run_now["security"]
    assert "RunHistory" in doc["components"]["schemas"]
    assert "get" in doc["paths"]["/status/history"]
