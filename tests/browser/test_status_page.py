"""The status page in headless Chromium: it asks for the admin key (Basic), shows the jobs, and
an import started elsewhere appears on it live, without a reload, its requests in the upstream
budget panel with the refresh plan against the jobs' share; it fits a laptop and a phone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser

from theset_daemon import config
from theset_daemon.app import build_app
from theset_daemon.appkeys import UPSTREAMS
from theset_daemon.config import SettingsHolder

ADMIN_KEY = "status-page-admin-key"


async def start_daemon(aiohttp_server: Any, database_url: str) -> TestServer:
    settings = config.parse(
        f"""
        [auth]
        admin_api_key = "{ADMIN_KEY}"
        [log]
        level = "warning"
        [upstream.simulator]
        artists = 5
        latency_ms = 40
        """,
        {"DATABASE_URL": database_url},
    )
    server: TestServer = await aiohttp_server(build_app(SettingsHolder(settings, Path("unused"))))
    return server


async def test_the_status_page_shows_jobs_and_a_live_import(
    aiohttp_server: Any, browser: Browser, database_url: str, tmp_path: Path
) -> None:
    daemon = await start_daemon(aiohttp_server, database_url)
    url = str(daemon.make_url("/status"))
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as refused:
            assert refused.status == 401
            assert refused.headers["WWW-Authenticate"].startswith("Basic")
        async with session.get(f"{daemon.app[UPSTREAMS].simulator_url}/_sim/catalog") as r:
            artist = (await r.json())["artists"][0]

        context = await browser.new_context(
            http_credentials={"username": "operator", "password": ADMIN_KEY},
            viewport={"width": 1280, "height": 900},
        )
        page = await context.new_page()
        await page.goto(url)
        # (a function: the page's Content-Security-Policy refuses the eval() of an expression)
        await page.wait_for_function("() => document.body.dataset.jobs === '4'", timeout=15_000)
        jobs = await page.locator("#jobs tbody tr td:first-child").all_inner_texts()
        assert jobs == [
            "update-active-artists",
            "trending-artist-sync",
            "complete-catalog-sync",
            "calculate-trending",
        ]
        await page.evaluate("window.notReloaded = true")

        started = await session.post(
            str(daemon.make_url("/api/artists/import")), json={"spotifyId": artist["spotifyId"]}
        )
        assert started.status == 202, await started.text()
        imports = page.locator("#imports tbody")
        await imports.get_by_text(artist["name"]).wait_for(timeout=15_000)
        assert await page.evaluate("window.notReloaded === true")

        # The upstream budget: the import's requests appear as interactive, live.
        assert await page.evaluate("document.body.dataset.providers") == "3"
        budget = page.locator("#upstream tbody")
        rows = await budget.locator("tr td:first-child").all_inner_texts()
        assert rows == ["spotify", "ticketmaster", "setlistfm"]
        spotify_today = budget.locator("tr[data-provider=spotify] td:nth-child(2)")
        await page.wait_for_function(
            "() => !document.querySelector('#upstream tr[data-provider=spotify] td:nth-child(2)')"
            ".textContent.includes(' 0 imports')",
            timeout=15_000,
        )
        assert "(no daily quota)" in await spotify_today.inner_text()
        ticketmaster = budget.locator("tr[data-provider=ticketmaster]")
        assert "of 5000" in await ticketmaster.locator("td:nth-child(2)").inner_text()
        assert await ticketmaster.locator(".quota .reserve").count() == 1
        assert await ticketmaster.locator("td:nth-child(7)").inner_text() == "closed"
        # The refresh plan against the jobs' share of the day (5000 less the 20% reserve).
        plan = await ticketmaster.locator("td:nth-child(8)").inner_text()
        assert "of 4,000 req/day" in plan and "fits" in plan, plan
        assert "every artist refreshed in" in plan, plan
        assert await ticketmaster.locator("td:nth-child(8) .bar.plan.fits").count() == 1
        await page.screenshot(path=str(tmp_path / "status-1280.png"), full_page=True)
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
            "no sideways scrolling at 1280 px"
        )

        await page.set_viewport_size({"width": 390, "height": 844})
        await page.screenshot(path=str(tmp_path / "status-390.png"), full_page=True)
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
            "no sideways scrolling on a phone"
        )
        await context.close()
