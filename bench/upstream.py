"""Upstream figures, against the built-in simulator.

1. Requests to fetch one whole artist (Spotify catalog with popularity, Ticketmaster shows),
   against the fewest the APIs' batch and page limits allow, in both Spotify modes. Target 1.00.
2. The highest request rate the simulator saw in any 1-second window, per provider, with work
   queued far beyond the limit, against the configured ``max_rate_per_s``. It must never exceed
   the limit, and the rate sustained while work is queued must reach at least 93% of it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry

from bench.common import Row, pointed_at_simulator
from theset_daemon.config import SettingsHolder, SimulatorSettings
from theset_daemon.sim import SimLimits, running_simulator
from theset_daemon.upstream.clients import Upstreams, open_clients

RATES_PER_S = {"spotify": 10.0, "ticketmaster": 5.0, "setlistfm": 2.0}
QUEUED_S = 6  # seconds of work queued per provider in the rate run


def _settings(base_url: str, mode: str) -> SettingsHolder:
    return pointed_at_simulator(base_url, RATES_PER_S, spotify_mode=mode)


async def _control(base_url: str, method: str, path: str) -> Any:
    async with aiohttp.ClientSession() as session, session.request(method, base_url + path) as r:
        return await r.json() if r.content_type == "application/json" else None


async def _whole_artist(up: Upstreams, artist: dict[str, Any], mode: str) -> tuple[int, int, int]:
    """Fetch everything an import needs; return (spotify minimum, tm minimum, albums)."""
    await up.spotify.artist(artist["spotifyId"])
    summaries = await up.spotify.artist_albums(artist["spotifyId"])
    albums = await up.spotify.albums_with_tracks(summaries)
    tracks = [t.id for a in albums for t in a.tracks.items]
    await up.spotify.tracks(tracks)
    events = await up.ticketmaster.events_for_attraction(artist["ticketmasterId"])
    pages = [math.ceil(len(a.tracks.items) / 50) for a in albums]
    if mode == "extended":
        spotify_min = (
            2  # token + artist
            + math.ceil(len(albums) / 50)
            + math.ceil(len(albums) / 20)
            + sum(p - 1 for p in pages if p > 1)
            + math.ceil(len(tracks) / 50)
        )
    else:
        spotify_min = 2 + math.ceil(len(albums) / 10) + sum(max(1, p) for p in pages)
    return spotify_min, max(1, math.ceil(len(events) / 200)), len(albums)


async def _requests_per_artist(rows: list[Row]) -> None:
    for mode in ("extended", "development"):
        limits = SimLimits(spotify_mode=mode)  # type: ignore[arg-type]
        sim_settings = SimulatorSettings(seed=1, artists=200, latency_ms=2)
        async with running_simulator(sim_settings, limits) as base_url:
            catalog = (await _control(base_url, "GET", "/_sim/catalog?limit=200"))["artists"]
            artist = max(catalog, key=lambda a: (a["counts"]["albums"], a["counts"]["tracks"]))
            async with open_clients(_settings(base_url, mode), CollectorRegistry()) as up:
                await _control(base_url, "DELETE", "/_sim/stats")
                spotify_min, tm_min, albums = await _whole_artist(up, artist, mode)
                stats = (await _control(base_url, "GET", "/_sim/stats"))["providers"]
        used = stats["spotify"]["requests"] + stats["ticketmaster"]["requests"]
        minimum = spotify_min + tm_min
        name = f"whole artist, {mode}"
        rows.append(Row(name, f"requests ({albums} releases)", used, "requests"))
        rows.append(Row(name, "fewest the batch limits allow", minimum, "requests"))
        rows.append(Row(name, "used / fewest", used / minimum, "ratio", "1.00"))


async def _peak_rates(rows: list[Row]) -> None:
    # The simulator enforces exactly the configured limits: a send over them would be a 429.
    limits = SimLimits(
        spotify_per_s=RATES_PER_S["spotify"],
        ticketmaster_per_s=RATES_PER_S["ticketmaster"],
        setlistfm_per_s=RATES_PER_S["setlistfm"],
    )
    async with running_simulator(
        SimulatorSettings(seed=1, artists=50, latency_ms=20), limits
    ) as url:
        catalog = (await _control(url, "GET", "/_sim/catalog?limit=50"))["artists"]
        async with open_clients(_settings(url, "extended"), CollectorRegistry()) as up:
            await up.spotify.artist(catalog[0]["spotifyId"])  # the token, outside the window
            await _control(url, "DELETE", "/_sim/stats")

            def artist(i: int) -> dict[str, Any]:
                found: dict[str, Any] = catalog[i % len(catalog)]
                return found

            async def timed(calls: list[Awaitable[object]]) -> float:
                started = time.perf_counter()
                await asyncio.gather(*calls)
                return time.perf_counter() - started

            def count(provider: str) -> range:
                return range(int(RATES_PER_S[provider] * QUEUED_S))

            elapsed_s = dict(
                zip(
                    RATES_PER_S,
                    await asyncio.gather(
                        timed(
                            [up.spotify.artist(artist(i)["spotifyId"]) for i in count("spotify")]
                        ),
                        timed(
                            [
                                up.ticketmaster.attraction(artist(i)["ticketmasterId"])
                                for i in count("ticketmaster")
                            ]
                        ),
                        timed(
                            [
                                up.setlistfm.search_artists(artist(i)["name"])
                                for i in count("setlistfm")
                            ]
                        ),
                    ),
                    strict=True,
                )
            )
            stats = (await _control(url, "GET", "/_sim/stats"))["providers"]
    for provider, limit in RATES_PER_S.items():
        peak = stats[provider]["peak_rate_per_s"]
        name = f"peak rate, {provider}"
        rows.append(Row(name, "highest 1-s window", peak, "req/s", f"<= {limit:g}"))
        rows.append(Row(name, "peak / limit", peak / limit, "ratio", "0.90-1.00"))
        # n sends span n-1 gaps: the sustained rate the gate allowed while work was queued.
        sustained = (stats[provider]["requests"] - 1) / elapsed_s[provider]
        # Issue 15: one daemon alone still sustains >= 0.93 of each limit (at most 1/1.05, the
        # gate's margin for arrival jitter).
        rows.append(Row(name, "sustained / limit", sustained / limit, "ratio", ">= 0.93"))
        rows.append(Row(name, "429s served", stats[provider]["rate_limited"], "count", "0"))


async def run() -> list[Row]:
    rows: list[Row] = []
    await _requests_per_artist(rows)
    await _peak_rates(rows)
    return rows
