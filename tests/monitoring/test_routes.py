"""The cron health API through the real app: shapes, auth, triggerHealthCheck and getMetrics."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.plugins.receivers import Channels, holder_for
from tests.waiting import eventually
from theset_daemon import config
from theset_daemon.app import build_app
from theset_daemon.appkeys import DATABASE
from theset_daemon.monitoring.terminal import print_status

ADMIN = {"Authorization": "Bearer admin-key-for-tests"}
JOB = "calculate-trending"


async def make_client(
    aiohttp_client: Any, channels: Channels, database_url: str
) -> TestClient[Any, Any]:
    holder = holder_for(
        channels,
        extra='[auth]\nadmin_api_key = "admin-key-for-tests"\ncron_secret = "cron-secret"\n'
        '[log]\nlevel = "warning"\n[upstream.simulator]\nartists = 3\n',
        env={"DATABASE_URL": database_url},
    )
    client: TestClient[Any, Any] = await aiohttp_client(build_app(holder))
    return client


async def plant_failures(client: TestClient[Any, Any], count: int) -> None:
    start = datetime.now(UTC) - timedelta(minutes=30)
    for n in range(count):
        started = start + timedelta(minutes=n)
        await client.app[DATABASE].pool.execute(
            """INSERT INTO cron_logs (job_name, trigger, status, started_at, finished_at,
                                      duration_ms, error)
               VALUES ($1, 'http', 'failed', $2, $3, 1000, 'upstream down')""",
            JOB,
            started,
            started + timedelta(seconds=1),
        )


async def test_cron_health_needs_the_admin_key(
    aiohttp_client: Any, channels: Channels, database_url: str
) -> None:
    client = await make_client(aiohttp_client, channels, database_url)
    response = await client.get("/api/monitoring/cron-health")
    assert response.status == 401 and "WWW-Authenticate" in response.headers
    wrong = {"Authorization": "Bearer cron-secret"}
    assert (await client.get("/api/monitoring/cron-health", headers=wrong)).status == 401


async def test_a_healthy_daemon_reports_every_job(
    aiohttp_client: Any, channels: Channels, database_url: str
) -> None:
    client = await make_client(aiohttp_client, channels, database_url)
    response = await client.get(
        "/api/monitoring/cron-health?includeMetrics=true&includeReport=true", headers=ADMIN
    )
    body = await response.json()
    assert response.status == 200, body
    assert body["status"] == "healthy" and body["activeAlerts"] == []
    names = [job["name"] for job in body["jobs"]]
    assert names == [
        "update-active-artists",
        "trending-artist-sync",
        "complete-catalog-sync",
        "calculate-trending",
    ]
    weekly = body["jobs"][2]
    assert weekly["schedule"] == "0 3 * * 0" and weekly["state"] == "never_run"
    assert datetime.fromisoformat(weekly["nextRunAt"]).weekday() == 6  # Sunday
    assert body["metrics"][JOB]["runs"] == 0
    assert set(body["report"]["jobs"]) == set(names)


async def test_trigger_health_check_fires_and_get_metrics_counts(
    aiohttp_client: Any, channels: Channels, database_url: str
) -> None:
    client = await make_client(aiohttp_client, channels, database_url)
    await plant_failures(client, 3)
    response = await client.post(
        "/api/monitoring/cron-health", json={"action": "triggerHealthCheck"}, headers=ADMIN
    )
    body = await response.json()
    assert response.status == 200, body
    assert body["status"] == "unhealthy"
    rules = sorted(alert["rule"] for alert in body["alerts"])
    assert rules == ["consecutive_failures", "error_rate"]
    assert {alert["job"] for alert in body["alerts"]} == {JOB}
    await eventually(  # the notifications go out in the background
        lambda: channels.pagerduty.bodies and channels.slack.bodies and channels.inbox.messages,
        what="PagerDuty, Slack and email notified",
    )
    assert len(channels.pagerduty.bodies) == len(channels.slack.bodies) == 1

    health = await (
        await client.get(f"/api/monitoring/cron-health?jobName={JOB}", headers=ADMIN)
    ).json()
    assert [job["name"] for job in health["jobs"]] == [JOB]
    assert health["jobs"][0]["state"] == "failing"
    assert health["jobs"][0]["consecutiveFailures"] == 3
    assert len(health["activeAlerts"]) == 2

    report = (
        await (
            await client.get("/api/monitoring/cron-health?includeReport=true", headers=ADMIN)
        ).json()
    )["report"]["jobs"][JOB]
    assert report["byStatus"] == {"failed": 3} and report["successRate"] == 0.0
    assert report["avgDurationMs"] == 1000.0
    assert report["alertsFired"] == {"consecutive_failures": 1, "error_rate": 1}

    metrics = await (
        await client.post(
            "/api/monitoring/cron-health",
            json={"action": "getMetrics", "jobName": JOB},
            headers=ADMIN,
        )
    ).json()
    assert metrics["job"] == JOB
    assert metrics["metrics"]["runs"] == 3 and metrics["metrics"]["errorRate"] == 1.0


async def test_bad_actions_are_400_naming_the_field(
    aiohttp_client: Any, channels: Channels, database_url: str
) -> None:
    client = await make_client(aiohttp_client, channels, database_url)
    for body, field in (
        ({"action": "reboot"}, "action"),
        ({"action": "getMetrics"}, "jobName"),
        ({"action": "getMetrics", "jobName": "nope"}, "jobName"),
    ):
        response = await client.post("/api/monitoring/cron-health", json=body, headers=ADMIN)
        error = (await response.json())["error"]
        assert response.status == 400 and error["code"] == "invalid_request"
        assert error["message"].startswith(field), error
    response = await client.get("/api/monitoring/cron-health?includeMetrics=maybe", headers=ADMIN)
    assert response.status == 400


async def test_metrics_parse_and_count_what_happened(
    aiohttp_client: Any, channels: Channels, database_url: str
) -> None:
    client = await make_client(aiohttp_client, channels, database_url)
    assert (await client.get("/metrics")).status == 401
    ran = await client.post(
        f"/api/cron/{JOB}?wait=true", headers={"Authorization": "Bearer cron-secret"}
    )
    assert ran.status == 200, await ran.text()
    response = await client.get("/metrics", headers=ADMIN)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(await response.text())}
    for name in (
        "theset_upstream_requests",
        "theset_sse_streams_open",
        "theset_event_loop_lag_seconds",
        "theset_db_pool_connections",
        "theset_job_run_duration_seconds",
        "theset_cache_hit_ratio",
    ):
        assert name in families, sorted(families)
    runs = {
        (s.labels["job"], s.labels["status"]): s.value
        for s in families["theset_job_runs"].samples
        if s.name == "theset_job_runs_total"
    }
    assert runs == {(JOB, "succeeded"): 1.0}
    pool = {s.labels["state"]: s.value for s in families["theset_db_pool_connections"].samples}
    assert pool["max"] == 10 and pool["in_use"] >= 0
    # The scrape ran in the daemon's loop, which holds at least the scrape's own handler task.
    assert families["theset_asyncio_tasks"].samples[0].value >= 1


async def test_the_status_command_prints_the_job_table(
    aiohttp_client: Any, channels: Channels, database_url: str
) -> None:
    client = await make_client(aiohttp_client, channels, database_url)
    await plant_failures(client, 3)
    await client.post(
        "/api/monitoring/cron-health", json={"action": "triggerHealthCheck"}, headers=ADMIN
    )
    settings = config.parse(
        f'[server]\nport = {client.port}\n[auth]\nadmin_api_key = "admin-key-for-tests"\n', {}
    )
    out = io.StringIO()
    assert await print_status(settings, out) == 1  # unhealthy: a failing job
    lines = out.getvalue().splitlines()
    assert lines[0].endswith(": unhealthy")
    assert lines[1].split()[:3] == ["JOB", "STATE", "LAST"]
    row = next(line for line in lines if line.startswith(JOB))
    assert row.split()[1:3] == ["failing", "failed"] and row.split()[-2:] == ["3", "100%"]
    assert any("consecutive_failures" in line for line in lines)

    wrong = config.parse(f'[server]\nport = {client.port}\n[auth]\nadmin_api_key = "nope"\n', {})
    assert await print_status(wrong, io.StringIO()) == 2
