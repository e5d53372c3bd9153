"""What the import tests share: the app on a simulator and a real Postgres, and three reads."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, NamedTuple
from uuid import UUID

import aiohttp
import asyncpg
from aiohttp.test_utils import TestClient

from tests.plugins.simulator import UNTHROTTLED_CONFIG
from theset_daemon import config
from theset_daemon.app import build_app
from theset_daemon.appkeys import UPSTREAMS
from theset_daemon.config import SettingsHolder

CONFIG = """
[log]
level = "warning"
[server]
cors_origins = ["https://theset.live"]
[upstream.simulator]
artists = 30
latency_ms = 0
[import]
per_client_per_minute = 1000
# These tests import an artist again to see what a second import does: no reuse of the first.
reuse_within_s = 0
"""
# No test here measures upstream rates: the clients send as fast as the config allows, to a
# simulator that admits any rate (the ``unthrottled_simulator`` fixture).
UNTHROTTLED = CONFIG + UNTHROTTLED_CONFIG


async def app_client(aiohttp_client: Any, database_url: str, text: str = UNTHROTTLED) -> TestClient:
    """The whole daemon's app with the config ``text``, served by aiohttp's test server."""
    settings = config.parse(text, {"DATABASE_URL": database_url})
    app = build_app(SettingsHolder(settings, Path("unused.toml")))
    client: TestClient = await aiohttp_client(app)
    return client


async def sim_catalog(client: TestClient) -> list[dict[str, Any]]:
    base = client.app[UPSTREAMS].simulator_url
    async with aiohttp.ClientSession() as session, session.get(f"{base}/_sim/catalog") as r:
        artists: list[dict[str, Any]] = (await r.json())["artists"]
        return artists


async def wait_done(client: TestClient, job_id: str, timeout_s: float = 60) -> dict[str, Any]:
    async with asyncio.timeout(timeout_s):
        while True:
            response = await client.get(f"/api/artists/import/{job_id}")
            status: dict[str, Any] = await response.json()
            if status["status"] in ("completed", "partial", "failed"):
                return status
            await asyncio.sleep(0.1)


class StoredSongs(NamedTuple):
    songs: int
    live: int
    duplicated_titles: int  # studio titles stored more than once (an import merges them)


async def stored_songs(db: asyncpg.Connection | asyncpg.Pool, artist_id: UUID) -> StoredSongs:
    """An artist's songs as stored, to be checked against the simulator's counts."""
    songs = await db.fetchval("SELECT count(*) FROM songs WHERE artist_id = $1", artist_id)
    live = await db.fetchval(
        "SELECT count(*) FROM songs WHERE artist_id = $1 AND is_live", artist_id
    )
    duplicated = await db.fetchval(
        """SELECT count(*) FROM (SELECT normalized_title FROM songs
           WHERE artist_id = $1 AND NOT is_live GROUP BY 1 HAVING count(*) > 1) d""",
        artist_id,
    )
    return StoredSongs(songs, live, duplicated)
