"""A browser on another origin follows an import: the page, served from its own origin, POSTs the
import (a CORS preflight, since the body is JSON) and follows ``progressUrl`` with ``EventSource``
to ``complete``. A page on an origin not in ``server.cors_origins`` is refused by the browser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser

from theset_daemon import config
from theset_daemon.app import build_app
from theset_daemon.appkeys import UPSTREAMS
from theset_daemon.config import SettingsHolder

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>follow an import</title>
<script>
window.seen = [];
window.outcome = null;
async function follow(daemon, name) {
  let started;
  try {
    const response = await fetch(daemon + "/api/artists/import", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({name}),
    });
    started = await response.json();
  } catch (error) {
    window.outcome = "blocked: " + error.name;
    return;
  }
  const stream = new EventSource(daemon + started.progressUrl);
  for (const name of ["progress", "complete", "failed"]) {
    stream.addEventListener(name, (event) => {
      const status = JSON.parse(event.data);
      window.seen.push({event: name, id: Number(event.lastEventId), progress: status.progress});
      if (name !== "progress") {
        stream.close();
        window.outcome = name;
      }
    });
  }
}
</script>
"""


async def page_server(aiohttp_server: Any) -> TestServer:
    async def page(_request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    server: TestServer = await aiohttp_server(app)
    return server


async def test_eventsource_on_another_origin_follows_an_import_to_complete(
    aiohttp_server: Any, browser: Browser, database_url: str
) -> None:
    allowed = await page_server(aiohttp_server)
    refused = await page_server(aiohttp_server)
    allowed_origin = str(allowed.make_url("")).rstrip("/")
    settings = config.parse(
        f"""
        [log]
        level = "warning"
        [server]
        cors_origins = ["{allowed_origin}"]
        [upstream.simulator]
        artists = 5
        latency_ms = 5
        """,
        {"DATABASE_URL": database_url},
    )
    daemon: TestServer = await aiohttp_server(build_app(SettingsHolder(settings, Path("unused"))))
    daemon_url = str(daemon.make_url("")).rstrip("/")
    # The simulator's first artist, by name: the page knows no ids.
    sim_names = await _artist_names(daemon)

    page = await browser.new_page()
    await page.goto(str(allowed.make_url("/")))
    await page.evaluate("([daemon, name]) => follow(daemon, name)", [daemon_url, sim_names[0]])
    await page.wait_for_function("window.outcome !== null", timeout=60_000)
    outcome = await page.evaluate("window.outcome")
    seen: list[dict[str, Any]] = await page.evaluate("window.seen")
    assert outcome == "complete", seen
    ids = [event["id"] for event in seen]
    assert ids == sorted(set(ids)), "event ids arrive once each, in order"
    assert seen[-1]["event"] == "complete" and seen[-1]["progress"] == 100

    stranger = await browser.new_page()
    await stranger.goto(str(refused.make_url("/")))
    await stranger.evaluate("([daemon, name]) => follow(daemon, name)", [daemon_url, sim_names[1]])
    await stranger.wait_for_function("window.outcome !== null", timeout=10_000)
    assert await stranger.evaluate("window.outcome") == "blocked: TypeError"


async def _artist_names(daemon: TestServer) -> list[str]:
    base = daemon.app[UPSTREAMS].simulator_url
    async with aiohttp.ClientSession() as session, session.get(f"{base}/_sim/catalog") as r:
        return [artist["name"] for artist in (await r.json())["artists"]]
