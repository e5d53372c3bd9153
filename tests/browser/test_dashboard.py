"""The status page as an operator's dashboard, in headless Chromium, against a daemon with traffic:
a seeded week of runs drawn per job, each provider's rate now against its limit and today's quota
burn-down with the reserve line, a "run now" button that starts a run (and shows a 409 nicely),
and the import form followed to completion, all under the page's Content-Security-Policy with
nothing refused. The refusals of the run-now route are plain HTTP: ``tests/monitoring/
test_dashboard.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page

from tests.monitoring.week_of_runs import in_week, running_elsewhere, seed_week
from theset_daemon import config
from theset_daemon.app import build_app
from theset_daemon.appkeys import DATABASE, UPSTREAMS
from theset_daemon.config import SettingsHolder

ADMIN_KEY = "dashboard-admin-key"
TIMEOUT_MS = 20_000
# No scheduled run may add to the seeded week while the test counts it (at the top of the hour).
CONFIG = f"""
[auth]
admin_api_key = "{ADMIN_KEY}"
[log]
level = "warning"
[upstream.simulator]
artists = 5
latency_ms = 5
""" + "".join(
    f"[jobs.{job}]\nenabled = false\n"
    for job in ("update-active-artists", "trending-artist-sync", "complete-catalog-sync",
                "calculate-trending")
)  # fmt: skip


async def start_daemon(aiohttp_server: Any, database_url: str) -> TestServer:
    settings = config.parse(CONFIG, {"DATABASE_URL": database_url})
    server: TestServer = await aiohttp_server(build_app(SettingsHolder(settings, Path("unused"))))
    return server


async def wait_for(page: Page, expression: str) -> None:
    # A function, not an expression: Playwright evaluates an expression with eval(), which the
    # page's Content-Security-Policy refuses.
    await page.wait_for_function(f"() => ({expression})", timeout=TIMEOUT_MS)


async def test_the_dashboard_charts_runs_and_budgets_runs_a_job_and_follows_an_import(
    aiohttp_server: Any, browser: Browser, database_url: str, tmp_path: Path
) -> None:
    daemon = await start_daemon(aiohttp_server, database_url)
    pool = daemon.app[DATABASE].pool
    await seed_week(pool)
    expected = in_week(await pool.fetchval("SELECT now()"))
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{daemon.app[UPSTREAMS].simulator_url}/_sim/catalog") as r:
            artists = (await r.json())["artists"]
        # Upstream use before the page opens: one import's requests, interactive.
        started = await session.post(
            str(daemon.make_url("/api/artists/import")), json={"spotifyId": artists[0]["spotifyId"]}
        )
        assert started.status == 202, await started.text()

    context = await browser.new_context(
        http_credentials={"username": "operator", "password": ADMIN_KEY},
        viewport={"width": 1280, "height": 900},
    )
    # Whatever the page's policy refuses, and any script error, fails the test.
    await context.add_init_script(
        "window.refused = []; document.addEventListener('securitypolicyviolation',"
        " (e) => window.refused.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # (A refused fetch, as the 409 below, is logged as "Failed to load resource": expected.)
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    response = await page.goto(str(daemon.make_url("/status")))
    assert response is not None and response.status == 200
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    await wait_for(page, "document.body.dataset.jobs === '4' && document.body.dataset.history")

    # A week of runs, per job: one bar a run, the failures in red, the days' counts.
    for job, runs in expected.items():
        card = page.locator(f".job-history[data-job={job}]")
        assert await card.get_attribute("data-runs") == str(runs), job
        assert await card.locator("svg.durations rect").count() == runs, job
    trending = page.locator(".job-history[data-job=calculate-trending]")
    assert await trending.locator("svg.durations rect[data-status=failed]").count() == 1
    assert await trending.locator("svg.outcomes rect[data-status=failed]").count() == 1
    assert "1 failed" in await trending.locator(".summary").inner_text()
    idle = page.locator(".job-history[data-job=complete-catalog-sync]")
    assert await idle.locator("svg.durations rect").count() == 0

    # Per provider: the rate now against the limit, the breaker, the plan, and the burn-down.
    ticketmaster = page.locator("#upstream tr[data-provider=ticketmaster]")
    await wait_for(page, "document.querySelector('#upstream tr[data-provider=ticketmaster] .rate')"
                   ".dataset.rate !== ''")  # fmt: skip
    assert "of 5/s" in await ticketmaster.locator("td:nth-child(5)").inner_text()
    assert await ticketmaster.locator("td:nth-child(7)").inner_text() == "closed"
    assert "req/day" in await ticketmaster.locator("td:nth-child(8)").inner_text()
    burndown = page.locator("#burndown .card[data-provider=ticketmaster] svg.burndown")
    assert await burndown.locator(".reserve-line").count() == 1
    assert await burndown.locator(".remaining").count() == 1
    assert await burndown.locator(".projection").count() == 1
    spotify = page.locator("#burndown .card[data-provider=spotify]")
    assert "no daily quota" in await spotify.inner_text()

    # Run now: a run starts, through the runner, as an http run; the week's chart gains it.
    runs_before = expected["calculate-trending"]
    await page.locator("#jobs tr[data-job=calculate-trending] button").click()
    note = page.locator("#jobs tr[data-job=calculate-trending] .note.ok")
    await note.wait_for(timeout=TIMEOUT_MS)
    assert "started run" in await note.inner_text()
    await wait_for(page, "document.querySelector('.job-history[data-job=calculate-trending]')"
                   f".dataset.runs === '{runs_before + 1}'")  # fmt: skip
    triggers = await pool.fetch(
        "SELECT trigger FROM cron_logs WHERE job_name = 'calculate-trending' AND holder IS NOT NULL"
    )
    assert [row["trigger"] for row in triggers] == ["http"]

    # Run now while another daemon runs the job: the 409, shown as such.
    run_id = await running_elsewhere(pool, "trending-artist-sync")
    await page.locator("#jobs tr[data-job=trending-artist-sync] button").click()
    busy = page.locator("#jobs tr[data-job=trending-artist-sync] .note.warn")
    await busy.wait_for(timeout=TIMEOUT_MS)
    assert f"already running (run {str(run_id)[:8]})" in await busy.inner_text()

    # The import form: progress live to completion, and the traffic shows as a rate.
    await page.select_option("#import-kind", "name")
    await page.fill("#import-value", artists[1]["name"])
    await page.click("#import-submit")
    progress = page.locator("#import-progress")
    await wait_for(page, "document.querySelector('#import-progress').dataset.outcome")
    assert await progress.get_attribute("data-outcome") == "complete"
    assert await progress.get_attribute("data-status") == "completed"
    assert await progress.get_attribute("data-progress") == "100"
    await (
        page.locator("#imports tbody").get_by_text(artists[1]["name"]).wait_for(timeout=TIMEOUT_MS)
    )
    await wait_for(page, "Number(document.querySelector("
                   "'#upstream tr[data-provider=spotify] .rate').dataset.rate) > 0")  # fmt: skip

    await page.screenshot(path=str(tmp_path / "dashboard-1280.png"), full_page=True)
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.screenshot(path=str(tmp_path / "dashboard-390.png"), full_page=True)
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert await page.evaluate("window.refused") == []
    assert errors == []
    await context.close()
