"""kill -9 of the daemon in the middle of an import's song phase: after a restart the job resumes
from its checkpoint, completes, and no row is duplicated."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import urllib.request
from typing import Any

import asyncpg

from tests.plugins.daemon import DaemonFactory, daemon_base
from tests.plugins.simulator import UNTHROTTLED_CONFIG, UNTHROTTLED_ENV

BASE = (
    daemon_base(grace_seconds=5)
    + """[upstream.simulator]
artists = 20
"""
)
# Slow enough for the kill to land in the song phase.
CONFIG = BASE + "latency_ms = 40\n[upstream.spotify]\nmax_rate_per_s = 5\n"
# The restart needs no slow phase to land in: it imports as fast as it can.
RESTART_CONFIG = BASE + "latency_ms = 0\n" + UNTHROTTLED_CONFIG


def post_json(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def test_kill_9_during_the_song_phase_then_resume(
    start_daemon: DaemonFactory, database_url: str
) -> None:
    daemon = start_daemon(CONFIG, env={"DATABASE_URL": database_url})
    daemon.wait_ready()
    sim_url = daemon.wait_for_log("simulator_started")["base_url"]
    with urllib.request.urlopen(f"{sim_url}/_sim/catalog", timeout=10) as response:
        catalog = json.loads(response.read())["artists"]
    artist = max(catalog, key=lambda a: a["counts"]["albums"])
    status, started = post_json(
        f"{daemon.base_url}/api/artists/import", {"spotifyId": artist["spotifyId"]}
    )
    assert status == 202
    job_id = started["jobId"]

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = daemon.get(f"/api/artists/import/{job_id}")[1]
        if state["stage"] == "songs":
            break
        time.sleep(0.05)
    assert state["stage"] == "songs" and state["status"] == "running", state
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.proc.wait(10)

    env = {"DATABASE_URL": database_url, **UNTHROTTLED_ENV}
    restarted = start_daemon(RESTART_CONFIG, env=env, port=daemon.port)
    restarted.wait_ready()
    restarted.wait_for_log("import_resumed")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        state = restarted.get(f"/api/artists/import/{job_id}")[1]
        if state["status"] in ("completed", "partial", "failed"):
            break
        time.sleep(0.2)
    assert state["status"] == "completed", state

    async def check() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            counts = artist["counts"]
            artist_id = await conn.fetchval(
                "SELECT id FROM artists WHERE spotify_id = $1", artist["spotifyId"]
            )
            songs = await conn.fetchval(
                "SELECT count(*) FROM songs WHERE artist_id = $1", artist_id
            )
            assert songs == counts["tracks"] - counts["duplicate_tracks"]
            assert (
                await conn.fetchval("SELECT count(*) - count(DISTINCT spotify_id) FROM songs") == 0
            )
            assert (
                await conn.fetchval("SELECT count(*) - count(DISTINCT ticketmaster_id) FROM shows")
                == 0
            )
            assert (
                await conn.fetchval("SELECT count(*) FROM import_status WHERE status = 'running'")
                == 0
            )
            seqs = [
                r["seq"]
                for r in await conn.fetch(
                    "SELECT seq FROM import_events WHERE job_id = $1 ORDER BY seq", started["jobId"]
                )
            ]
            assert seqs == list(range(1, len(seqs) + 1))
        finally:
            await conn.close()

    asyncio.run(check())
