"""The three clients against the built-in simulator, configured the way an operator would point
``upstream.mode = "live"`` at a ``theset-daemon simulate`` process, except for the rates: no test
here measures them (``test_http.py`` does, against a scripted server), so the simulator's
per-second limits are out of the way and the clients send as fast as the config allows."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from tests.plugins.simulator import UNTHROTTLED_LIMITS, UNTHROTTLED_RATE_PER_S
from theset_daemon import config
from theset_daemon.config import SettingsHolder, SimulatorSettings
from theset_daemon.sim import SIM_CREDENTIALS, SimLimits, running_simulator
from theset_daemon.upstream.clients import Upstreams, open_clients


@dataclass
class SimHarness:
    base_url: str
    upstreams: Upstreams
    holder: SettingsHolder
    registry: CollectorRegistry
    control: aiohttp.ClientSession

    async def get(self, path: str) -> Any:
        async with self.control.get(self.base_url + path) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def stats(self) -> dict[str, Any]:
        body: dict[str, Any] = (await self.get("/_sim/stats"))["providers"]
        return body

    async def reset_stats(self) -> None:
        async with self.control.delete(self.base_url + "/_sim/stats") as response:
            assert response.status in (200, 204)

    async def fault(self, **fault: Any) -> None:
        async with self.control.post(self.base_url + "/_sim/faults", json=fault) as response:
            assert response.status in (200, 201, 204), await response.text()

    async def catalog(self, limit: int = 100) -> list[dict[str, Any]]:
        artists: list[dict[str, Any]] = (await self.get(f"/_sim/catalog?limit={limit}"))["artists"]
        return artists


def live_config(base_url: str, extra: str = "") -> str:
    c = SIM_CREDENTIALS
    return f"""
[upstream]
mode = "live"
[upstream.spotify]
api_base_url = "{base_url}/v1"
accounts_base_url = "{base_url}"
client_id = "{c.spotify_client_id}"
client_secret = "{c.spotify_client_secret}"
max_rate_per_s = {UNTHROTTLED_RATE_PER_S}
[upstream.spotify.retry]
base_delay_s = 0.05
[upstream.ticketmaster]
base_url = "{base_url}/discovery/v2"
api_key = "{c.ticketmaster_api_key}"
max_rate_per_s = {UNTHROTTLED_RATE_PER_S}
[upstream.ticketmaster.retry]
base_delay_s = 0.05
[upstream.setlistfm]
base_url = "{base_url}/rest/1.0"
api_key = "{c.setlistfm_api_key}"
max_rate_per_s = {UNTHROTTLED_RATE_PER_S}
[upstream.setlistfm.retry]
base_delay_s = 0.05
{extra}
"""


@contextlib.asynccontextmanager
async def sim_harness(
    limits: SimLimits | None = None, *, artists: int = 40, extra_config: str = ""
) -> AsyncIterator[SimHarness]:
    """The simulator with ``limits`` (their per-second rates replaced: see the module's
    docstring) and the clients aimed at it."""
    limits = dataclasses.replace(
        limits or SimLimits(),
        spotify_per_s=UNTHROTTLED_LIMITS.spotify_per_s,
        ticketmaster_per_s=UNTHROTTLED_LIMITS.ticketmaster_per_s,
        setlistfm_per_s=UNTHROTTLED_LIMITS.setlistfm_per_s,
    )
    sim_settings = SimulatorSettings(seed=7, artists=artists, latency_ms=0)
    async with running_simulator(sim_settings, limits) as base_url:
        text = live_config(base_url, extra_config)
        if limits.spotify_mode == "development":
            text = text.replace(
                "[upstream.spotify]\n", '[upstream.spotify]\napi_mode = "development"\n'
            )
        holder = SettingsHolder(config.parse(text, {}), Path("unused.toml"))
        registry = CollectorRegistry()
        async with (
            open_clients(holder, registry) as upstreams,
            aiohttp.ClientSession() as control,
        ):
            yield SimHarness(base_url, upstreams, holder, registry, control)


@pytest.fixture
async def sim() -> AsyncIterator[SimHarness]:
    async with sim_harness() as harness:
        yield harness


# --- a scripted provider (the HTTP stack's own tests) ------------------------------------

Reply = Callable[[], web.StreamResponse]


@dataclass
class ScriptedServer:
    """Answers from a script (then ``default``), and records when each request arrived."""

    default: Callable[[], Any] = lambda: web.json_response({"ok": True})
    script: deque[Callable[[], Any]] = field(default_factory=deque)
    arrivals: list[float] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.arrivals.append(time.monotonic())
        reply = self.script.popleft() if self.script else self.default
        result = reply()
        if asyncio.iscoroutine(result):
            result = await result
        assert isinstance(result, web.StreamResponse)
        return result


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    scripted = ScriptedServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", scripted.handle)
    # A handler still running at the end (a hang under test) is cancelled, not waited for.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    scripted.url = f"http://{host}:{port}/x"
    yield scripted
    await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def json_reply(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Reply:
    return lambda: web.json_response(body or {}, status=status, headers=headers)
