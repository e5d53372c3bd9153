"""``GET /api/monitoring/upstream`` through the real app on the simulator and a real Postgres: its
shape and auth, today's figures by class read fresh from the shared ledger, no daily quota for
Spotify, the forecast measured from real runs, the status snapshot, and a public ``/readyz`` that
never names the quota (CONTRACT.md sections 5 and 9)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.importer.support import app_client, sim_catalog, wait_done
from tests.plugins.simulator import UNTHROTTLED_RATE_PER_S
from theset_daemon.appkeys import DATABASE, UPSTREAMS
from theset_daemon.upstream.request_class import interactive

ADMIN = {"Authorization": "Bearer admin-key"}
CRON = {"Authorization": "Bearer cron-secret"}
RATE = UNTHROTTLED_RATE_PER_S
CONFIG = f"""
[auth]
admin_api_key = "admin-key"
cron_secret = "cron-secret"
[log]
level = "warning"
[upstream.simulator]
artists = 5
latency_ms = 0
[upstream.spotify]
max_rate_per_s = {RATE}
[upstream.ticketmaster]
max_rate_per_s = {RATE}
daily_quota = 400
interactive_reserve = 0.25
[upstream.setlistfm]
max_rate_per_s = {RATE}
[jobs.trending-artist-sync]
delay_s = 0
[jobs.complete-catalog-sync]
delay_s = 0
"""
PROVIDER_KEYS = {
    "maxRatePerS", "dailyQuota", "interactiveReserve", "usedToday", "remainingToday", "resetsAt",
    "limiter", "liveDaemons", "breaker", "forecast",
}  # fmt: skip


@pytest.fixture
async def client(aiohttp_client: Any, database_url: str, unthrottled_simulator: None) -> TestClient:
    return await app_client(aiohttp_client, database_url, CONFIG)


async def budget(client: TestClient) -> dict[str, Any]:
    response = await client.get("/api/monitoring/upstream", headers=ADMIN)
    body: dict[str, Any] = await response.json()
    assert response.status == 200, body
    return body


def next_midnight() -> str:
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    return f"{tomorrow.isoformat()}T00:00:00Z"


async def test_the_route_needs_the_admin_key_and_is_documented(client: TestClient) -> None:
    response = await client.get("/api/monitoring/upstream")
    assert response.status == 401 and "WWW-Authenticate" in response.headers
    assert (await client.get("/api/monitoring/upstream", headers=CRON)).status == 401
    doc = await (await client.get("/api/openapi.json")).json()
    operation = doc["paths"]["/api/monitoring/upstream"]["get"]
    assert operation["security"] == [{"adminKey": []}]
    schemas = doc["components"]["schemas"]
    assert set(schemas["ProviderBudget"]["properties"]) == PROVIDER_KEYS
    assert set(schemas["UpstreamProviders"]["required"]) == {"spotify", "ticketmaster", "setlistfm"}


async def test_todays_figures_by_class_fresh_from_the_shared_ledger(client: TestClient) -> None:
    upstreams = client.app[UPSTREAMS]
    await upstreams.ticketmaster.search_attractions("a")  # a job's request: background
    with interactive():  # an import's
        await upstreams.ticketmaster.search_attractions("b")
        await upstreams.ticketmaster.search_attractions("c")
        await upstreams.spotify.search_artists("d")

    body = await budget(client)
    assert set(body) == {"checkedAt", "providers"}
    assert abs(datetime.fromisoformat(body["checkedAt"]) - datetime.now(UTC)) < timedelta(minutes=1)
    providers = body["providers"]
    assert set(providers) == {"spotify", "ticketmaster", "setlistfm"}
    assert all(set(figures) == PROVIDER_KEYS for figures in providers.values())
    assert providers["ticketmaster"] == {
        "maxRatePerS": RATE,
        "dailyQuota": 400,
        "interactiveReserve": 0.25,
        "usedToday": {"interactive": 2, "background": 1},
        "remainingToday": 397,
        "resetsAt": next_midnight(),
        "limiter": "split",  # no [redis] url
        "liveDaemons": 1,
        "breaker": "closed",
        "forecast": {"requestsPerDay": 0.0, "daysToRefreshAll": 0.0},  # no run measured yet
    }
    spotify = providers["spotify"]
    assert spotify["dailyQuota"] == 0
    assert spotify["remainingToday"] is None and spotify["resetsAt"] is None
    # the search, and the token it waited on: both for the import
    assert spotify["usedToday"]["interactive"] >= 1 and spotify["usedToday"]["background"] == 0
    setlistfm = providers["setlistfm"]
    assert setlistfm["usedToday"] == {"interactive": 0, "background": 0}
    assert setlistfm["remainingToday"] == setlistfm["dailyQuota"] == 1440
    assert setlistfm["resetsAt"] == next_midnight()

    # Another daemon on the database counts meanwhile: read fresh, not this daemon's last view.
    await client.app[DATABASE].pool.execute(
        """UPDATE upstream_quota_days SET background = background + 10
           WHERE provider = 'ticketmaster' AND day = (now() AT TIME ZONE 'UTC')::date"""
    )
    ticketmaster = (await budget(client))["providers"]["ticketmaster"]
    assert ticketmaster["usedToday"] == {"interactive": 2, "background": 11}
    assert ticketmaster["remainingToday"] == 387


async def test_the_forecast_is_measured_from_the_jobs_runs(client: TestClient) -> None:
    artist = (await sim_catalog(client))[0]
    started = await client.post("/api/artists/import", json={"spotifyId": artist["spotifyId"]})
    assert started.status == 202, await started.text()
    assert (await wait_done(client, (await started.json())["jobId"]))["status"] == "completed"
    for job, body in (
        ("trending-artist-sync", {"limit": 5, "skipRecentlyUpdated": False}),
        ("complete-catalog-sync", {"maxArtists": 5}),
    ):
        response = await client.post(f"/api/cron/{job}?wait=true", json=body, headers=CRON)
        run = await response.json()
        assert response.status == 200 and run["status"] == "succeeded", run

    pool = client.app[DATABASE].pool
    runs = {
        row["job_name"]: row
        for row in await pool.fetch(
            """SELECT l.job_name, l.progress_done, m.api_calls
               FROM cron_logs l JOIN cron_metrics m ON m.run_id = l.id"""
        )
    }
    # The jobs refresh the artists with a Spotify id (not the support acts the import stored).
    catalog = await pool.fetchval("SELECT count(*) FROM artists WHERE spotify_id IS NOT NULL")
    # trending-artist-sync went once through each artist with a Spotify id; complete-catalog-sync
    # twice through each stale artist (artist-sync, show-sync), plus two maintenance items.
    walked = {
        "trending-artist-sync": runs["trending-artist-sync"]["progress_done"],
        "complete-catalog-sync": (runs["complete-catalog-sync"]["progress_done"] - 2) / 2,
    }
    assert all(n >= 1 for n in walked.values()), walked
    per_artist = {
        job: {p: n / walked[job] for p, n in runs[job]["api_calls"].items()} for job in walked
    }
    providers = (await budget(client))["providers"]
    for name, share in (
        ("spotify", RATE * 86_400 * 0.8),
        ("ticketmaster", 400 * 0.75),
        ("setlistfm", 1440 * 0.8),
    ):
        # trending-artist-sync once a day (0 2 * * *) over up to 100 artists, complete-catalog-
        # sync weekly over up to 500: at most the catalog, at the cost per artist measured
        expected_per_day = (
            per_artist["trending-artist-sync"].get(name, 0) * min(100, catalog)
            + per_artist["complete-catalog-sync"].get(name, 0) * min(500, catalog) / 7
        )
        costliest = max(cost.get(name, 0) for cost in per_artist.values())
        forecast = providers[name]["forecast"]
        assert forecast["requestsPerDay"] == pytest.approx(expected_per_day, rel=1e-3), name
        assert forecast["daysToRefreshAll"] == pytest.approx(
            catalog * costliest / share, rel=1e-3
        ), name
    assert all(p["forecast"]["requestsPerDay"] > 0 for p in providers.values())
    assert all(p["forecast"]["daysToRefreshAll"] > 0 for p in providers.values())
    # the import was interactive, the runs background
    assert providers["ticketmaster"]["usedToday"]["interactive"] >= 1
    assert providers["ticketmaster"]["usedToday"]["background"] >= 1


async def test_the_status_snapshot_carries_the_same_budget(client: TestClient) -> None:
    with interactive():
        await client.app[UPSTREAMS].ticketmaster.search_attractions("a")
    response = await client.get("/status/snapshot", headers=ADMIN)
    snapshot = await response.json()
    assert response.status == 200, snapshot
    assert set(snapshot["upstream"]) == {"spotify", "ticketmaster", "setlistfm"}
    ticketmaster = snapshot["upstream"]["ticketmaster"]
    assert set(ticketmaster) == PROVIDER_KEYS
    assert ticketmaster["usedToday"] == {"interactive": 1, "background": 0}
    assert ticketmaster["remainingToday"] == 399


async def test_readyz_names_each_breaker_and_never_the_quota(client: TestClient) -> None:
    upstreams = client.app[UPSTREAMS]
    await upstreams.ticketmaster.search_attractions("a")
    with interactive():
        await upstreams.setlistfm.search_artists("b")
    response = await client.get("/readyz")  # public: no key
    text = await response.text()
    assert response.status == 200, text
    components = json.loads(text)["components"]
    for name in ("spotify", "ticketmaster", "setlistfm"):
        assert components[name] == {"status": "up", "details": {"breaker": "closed"}}
    for word in ("quota", "remaining", "usedToday", "interactive", "background", "400", "1440"):
        assert word not in text, word
