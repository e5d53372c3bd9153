"""Issue 7's "done when", end to end: a job broken against the simulator (faults on every
provider) pages PagerDuty, Slack and email exactly once each; fixing it resolves the page; the
status page, open all along, shows the alert come and go without a reload.

Everything is real: the app, Postgres, the simulator, an SMTP server (aiosmtpd) and HTTP
receivers standing in for Slack's webhook and PagerDuty's Events API.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser

from tests.plugins.receivers import Channels, holder_for
from tests.waiting import eventually
from theset_daemon.app import build_app
from theset_daemon.appkeys import UPSTREAMS
from theset_daemon.upstream.breaker import BreakerState

ADMIN_KEY = "alerting-admin-key"
CRON = {"Authorization": "Bearer alerting-cron-secret"}
JOB = "update-active-artists"
PROVIDERS = ("spotify", "ticketmaster", "setlistfm")
# Fail fast: one attempt per call, and a breaker that opens at once and half-opens in 1 s.
FAST_FAILURE = "".join(
    f"""
    [upstream.{p}.retry]
    max_attempts = 1
    [upstream.{p}.breaker]
    failure_threshold = 1
    reset_timeout_s = 1
    """
    for p in PROVIDERS
)


async def run_job(session: aiohttp.ClientSession, daemon: TestServer) -> dict[str, Any]:
    url = str(daemon.make_url(f"/api/cron/{JOB}?wait=true"))
    async with session.post(url, json={"forceSync": True}, headers=CRON) as response:
        body: dict[str, Any] = await response.json()
        run: dict[str, Any] = body.get("run", body)
        return run


async def test_a_broken_job_pages_once_per_channel_and_the_fix_resolves_it(
    aiohttp_server: Any, browser: Browser, channels: Channels, database_url: str
) -> None:
    holder = holder_for(
        channels,
        extra=f"""
        [auth]
        admin_api_key = "{ADMIN_KEY}"
        cron_secret = "alerting-cron-secret"
        [log]
        level = "warning"
        [upstream.simulator]
        artists = 3
        latency_ms = 0
        {FAST_FAILURE}
        """,
        env={"DATABASE_URL": database_url},
    )
    daemon: TestServer = await aiohttp_server(build_app(holder))
    sim = daemon.app[UPSTREAMS].simulator_url
    async with aiohttp.ClientSession() as session:
        # An artist with upcoming shows: update-active-artists has something to sync.
        async with session.get(f"{sim}/_sim/catalog") as r:
            artist = (await r.json())["artists"][0]
        started = await session.post(
            str(daemon.make_url("/api/artists/import")), json={"spotifyId": artist["spotifyId"]}
        )
        job_id = (await started.json())["jobId"]
        async with asyncio.timeout(60):
            while True:
                status_url = str(daemon.make_url(f"/api/artists/import/{job_id}"))
                async with session.get(status_url) as r:
                    if (await r.json())["status"] == "completed":
                        break
                await asyncio.sleep(0.1)

        context = await browser.new_context(
            http_credentials={"username": "operator", "password": ADMIN_KEY}
        )
        page = await context.new_page()
        await page.goto(str(daemon.make_url("/status")))
        # (a function: the page's Content-Security-Policy refuses the eval() of an expression)
        await page.wait_for_function("() => document.body.dataset.jobs === '4'", timeout=15_000)
        await page.evaluate("window.notReloaded = true")

        # Break it: every provider answers 500 to everything.
        for provider in PROVIDERS:
            fault = {"provider": provider, "status": 500, "count": 10_000}
            async with session.post(f"{sim}/_sim/faults", json=fault) as r:
                assert r.status == 201
        for _ in range(3):
            run = await run_job(session, daemon)
            assert run["status"] == "failed", run

        await eventually(
            lambda: channels.pagerduty.bodies and channels.inbox.messages and channels.slack.bodies,
            timeout_s=10,
        )
        await asyncio.sleep(0.5)  # anything sent twice would have arrived by now
        assert [b["event_action"] for b in channels.pagerduty.bodies] == ["trigger"]
        assert channels.pagerduty.bodies[0]["dedup_key"] == f"theset:{JOB}:consecutive_failures"
        assert len(channels.inbox.messages) == 1  # consecutive failures are critical -> email
        assert "consecutive_failures" in channels.inbox.messages[0]["Subject"]
        assert len(channels.slack.bodies) == 1  # the error rate is a warning -> Slack
        assert "error_rate" in channels.slack.bodies[0]["text"]
        alerts = page.locator("#alerts")
        await alerts.get_by_text("the last 3 runs failed").wait_for(timeout=10_000)

        # Fix it: the faults go, the breakers half-open, a run succeeds.
        async with session.delete(f"{sim}/_sim/faults") as r:
            assert r.status == 200
        breakers = [daemon.app[UPSTREAMS].providers[p].breaker for p in PROVIDERS]
        await eventually(
            lambda: all(b.state is not BreakerState.OPEN for b in breakers),
            what="every breaker past its reset timeout",
        )
        run = await run_job(session, daemon)
        assert run["status"] == "succeeded", run
        await eventually(lambda: len(channels.pagerduty.bodies) == 2, timeout_s=10)
        resolve = channels.pagerduty.bodies[1]
        assert resolve["event_action"] == "resolve"
        assert resolve["dedup_key"] == f"theset:{JOB}:consecutive_failures"
        await eventually(lambda: len(channels.inbox.messages) == 2, timeout_s=10)
        assert "RESOLVED" in channels.inbox.messages[1]["Subject"]
        await alerts.get_by_text("the last 3 runs failed").wait_for(
            state="detached", timeout=10_000
        )
        assert await page.evaluate("window.notReloaded === true")
        await context.close()
