"""``GET /api/monitoring/upstream`` through the real app on the simulator and a real Postgres: its
shape and auth, today's figures by class read fresh from the shared ledger, no daily quota for
Spotify, the forecast from the refresh plan over artists seeded in known tiers, the status
snapshot with its plan against budget, and a public ``/readyz`` that never names the quota
(CONTRACT.md sections 5 and 9)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from tests.importer.support import app_client
from tests.plugins.simulator import UNTHROTTLED_RATE_PER_S
from theset_daemon.appkeys import DATABASE, MONITOR, UPSTREAMS
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
        "forecast": {"requestsPerDay": 0.0, "daysToRefreshAll": 0.0},  # no artist to keep
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


async def artist(pool: asyncpg.Pool, name: str, **columns: object) -> UUID:
    names = ", ".join(["name", "slug", "spotify_id", *columns])
    places = ", ".join(f"${n}" for n in range(1, len(columns) + 4))
    artist_id: UUID = await pool.fetchval(
        f"INSERT INTO artists ({names}) VALUES ({places}) RETURNING id",
        name, name.lower().replace(" ", "-"), f"{name.lower():0>22}", *columns.values(),
    )  # fmt: skip
    return artist_id


async def show(pool: asyncpg.Pool, artist_id: UUID, days_from_today: int) -> None:
    await pool.execute(
        """INSERT INTO shows (headliner_artist_id, slug, name, date)
           VALUES ($1, $2, 'Show', current_date + $3::int)""",
        artist_id,
        f"show-{artist_id}-{days_from_today}",
        days_from_today,
    )


async def seed_known_tiers(pool: asyncpg.Pool) -> None:
    """10 artists the jobs refresh, in known tiers, and a support act they do not."""
    for n in range(2):  # active: viewed now; an attraction each
        viewed = await artist(pool, f"Active {n}", ticketmaster_id=f"KA{n}")
        await pool.execute("INSERT INTO page_views (artist_id) VALUES ($1)", viewed)
    # touring: upcoming shows (4 within 30 days), or trending; one without an attraction
    touring = await artist(pool, "Touring", ticketmaster_id="KT0")
    for days in (-2, 3, 10, 20):  # played 2 days ago, setlists never read
        await show(pool, touring, days)
    keyword = await artist(pool, "Keyword only", setlists_synced_at=datetime.now(UTC))
    for days in (-3, 5, 40):  # played 3 days ago, setlists read since: not due
        await show(pool, keyword, days)
    await artist(pool, "Trending", ticketmaster_id="KT2", trending_score=5.0)
    for n in range(5):  # everyone else: an attraction each
        quiet = await artist(
            pool, f"Quiet {n}", ticketmaster_id=f"KQ{n}",
            setlists_synced_at=datetime.now(UTC) - timedelta(days=20),
        )  # fmt: skip
        if n == 0:  # played 10 days ago, after its last setlist read: due
            await show(pool, quiet, -10)
    await pool.execute("INSERT INTO artists (name, slug) VALUES ('Support', 'support')")


async def test_the_forecast_is_the_refresh_plans(client: TestClient) -> None:
    pool = client.app[DATABASE].pool
    await seed_known_tiers(pool)
    client.app[MONITOR].plan.forget()  # computed before the seed (cached a minute)

    providers = (await budget(client))["providers"]
    # Worked by hand, at the default [plan] (6 h, 1 day, 7 days; setlists one a show played):
    # Ticketmaster: 2 active * 4 a day / 25 (grouped by attraction) + 2 touring with an
    # attraction * 1 / 25 + "Keyword only" * 1 (a keyword search) + 5 quiet / 7 / 25;
    # one refresh: 9 attractions / 25 + 1 keyword search, within 400 * (1 - 0.25) = 300 a day.
    ticketmaster = providers["ticketmaster"]["forecast"]
    assert ticketmaster["requestsPerDay"] == pytest.approx(8 / 25 + 2 / 25 + 1 + 5 / 7 / 25, 1e-3)
    assert ticketmaster["daysToRefreshAll"] == pytest.approx((9 / 25 + 1) / 300, rel=1e-3)
    # Spotify: one request a refresh: 2 * 4 + 3 * 1 + 5 / 7; 10 for one refresh of all, within
    # 80% of what the rate allows in a day (no daily quota).
    spotify = providers["spotify"]["forecast"]
    assert spotify["requestsPerDay"] == pytest.approx(8 + 3 + 5 / 7, rel=1e-3)
    assert spotify["daysToRefreshAll"] == pytest.approx(10 / (RATE * 86_400 * 0.8), rel=1e-3)
    # setlist.fm: the 4 shows of the next 30 days over 30 days; one refresh: the 4 artists whose
    # setlists were never read (Active 0 and 1, Touring, Trending) and Quiet 0, who played since
    # its last read, within 1440 * 0.8 a day.
    setlistfm = providers["setlistfm"]["forecast"]
    assert setlistfm["requestsPerDay"] == pytest.approx(4 / 30, rel=1e-3)
    assert setlistfm["daysToRefreshAll"] == pytest.approx(5 / 1152, rel=1e-3)

    # The status page's plan against budget: the same figures, with the share and whether it fits.
    snapshot = await (await client.get("/status/snapshot", headers=ADMIN)).json()
    assert snapshot["plan"]["ticketmaster"] == {
        "requestsPerDay": pytest.approx(1.43, abs=0.05),
        "backgroundSharePerDay": 300.0,
        "daysToRefreshAll": pytest.approx((9 / 25 + 1) / 300, abs=1e-3),
        "fits": True,
    }
    assert set(snapshot["plan"]) == {"spotify", "ticketmaster", "setlistfm"}


async def test_trigger_health_check_judges_each_providers_quota(client: TestClient) -> None:
    # 100 artists viewed today, no attraction: 400 keyword searches a day, over 300 (400 less
    # the reserve of a quarter).
    pool = client.app[DATABASE].pool
    await pool.execute(
        """WITH made AS (
               INSERT INTO artists (name, slug, spotify_id)
               SELECT 'Artist ' || n, 'artist-' || n, lpad(n::text, 22, '0')
               FROM generate_series(1, 100) AS n RETURNING id)
           INSERT INTO page_views (artist_id) SELECT id FROM made"""
    )
    client.app[MONITOR].plan.forget()
    response = await client.post(
        "/api/monitoring/cron-health", json={"action": "triggerHealthCheck"}, headers=ADMIN
    )
    checked = await response.json()
    assert response.status == 200, checked
    (alert,) = checked["alerts"]
    assert (alert["job"], alert["rule"]) == ("upstream:ticketmaster", "quota_insufficient")
    assert checked["status"] == "degraded"  # a warning
    health = await (await client.get("/api/monitoring/cron-health", headers=ADMIN)).json()
    assert [a["id"] for a in health["activeAlerts"]] == [alert["id"]]
    snapshot = await (await client.get("/status/snapshot", headers=ADMIN)).json()
    assert snapshot["plan"]["ticketmaster"]["fits"] is False
    assert [a["rule"] for a in snapshot["activeAlerts"]] == ["quota_insufficient"]


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
    for name in ("ticketmaster", "setlistfm"):
        assert components[name] == {"status": "up", "details": {"breaker": "closed"}}
    assert components["spotify"] == {
        "status": "up",
        "details": {"breaker": "closed", "accessLevel": "extended"},
    }
    for word in ("quota", "remaining", "usedToday", "interactive", "background", "400", "1440"):
        assert word not in text, word
