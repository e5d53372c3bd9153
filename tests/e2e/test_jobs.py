"""The jobs in the real process: `theset-daemon trigger`, a SIGTERM mid-run that leaves the run
`interrupted` and a restart that resumes it, and a SIGHUP that reschedules without a restart."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import urllib.request
from typing import Any

import asyncpg

from tests.plugins.daemon import Daemon, DaemonFactory
from tests.plugins.simulator import UNTHROTTLED_CONFIG, UNTHROTTLED_ENV

SECRET = "e2e-cron-secret"
BASE_CONFIG = (
    """
[server]
port = {port}
[log]
level = "info"
[shutdown]
grace_seconds = 6
[upstream.simulator]
artists = 12
latency_ms = 0
"""
    + UNTHROTTLED_CONFIG
)  # no test here measures rates (nor does the simulator: UNTHROTTLED_ENV)
SLOW_CATALOG_SYNC = """
[jobs.complete-catalog-sync]
batch_size = 1
delay_s = 30
"""
FAST_CATALOG_SYNC = """
[jobs.complete-catalog-sync]
batch_size = 4
delay_s = 0
"""


def cron_get(daemon: Daemon, path: str) -> dict[str, Any]:
    request = urllib.request.Request(
        daemon.base_url + path, headers={"Authorization": f"Bearer {SECRET}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def cli(daemon: Daemon, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "theset_daemon.cli", *args, "--config", str(daemon.config_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def wait_for_run(daemon: Daemon, run_id: str, done: Any, timeout_s: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = cron_get(daemon, f"/api/cron/runs/{run_id}")
        if done(run):
            return run
        time.sleep(0.1)
    raise AssertionError(f"run never got there: {run}")


def seed_artists(database_url: str, sim_url: str, count: int) -> None:
    with urllib.request.urlopen(f"{sim_url}/_sim/catalog?limit={count}", timeout=10) as response:
        artists = json.loads(response.read())["artists"][:count]

    async def insert() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            for n, artist in enumerate(artists):
                await conn.execute(
                    """INSERT INTO artists (name, slug, spotify_id, ticketmaster_id)
                       VALUES ($1, $2, $3, $4)""",
                    artist["name"],
                    f"seeded-{n}",
                    artist["spotifyId"],
                    artist["ticketmasterId"],
                )
        finally:
            await conn.close()

    asyncio.run(insert())


def trigger_slow_catalog_sync(
    start_daemon: DaemonFactory,
    daemon_env: dict[str, str],
    database_url: str,
    artists: int,
    *settings: str,
) -> tuple[Daemon, dict[str, str], str]:
    """A daemon whose complete-catalog-sync takes one artist per batch with 30 s between batches,
    ``artists`` artists in its database, and a run of that job (at most ``artists``, with the
    ``settings``) triggered from the CLI: the daemon, its environment and the run's id."""
    env = {"DATABASE_URL": database_url, "CRON_SECRET": SECRET, **UNTHROTTLED_ENV}
    daemon = start_daemon(BASE_CONFIG + SLOW_CATALOG_SYNC, env=env)
    daemon.wait_ready()
    seed_artists(database_url, daemon.wait_for_log("simulator_started")["base_url"], artists)
    sets = [arg for setting in (f"maxArtists={artists}", *settings) for arg in ("--set", setting)]
    started = cli(daemon, {**daemon_env, **env}, "trigger", "complete-catalog-sync", *sets)
    assert started.returncode == 0, started.stderr
    assert started.stdout.startswith("started run ")
    return daemon, env, started.stdout.split()[2]


def test_sigterm_mid_run_interrupts_it_and_the_next_start_resumes_it(
    start_daemon: DaemonFactory, daemon_env: dict[str, str], database_url: str
) -> None:
    daemon, env, run_id = trigger_slow_catalog_sync(
        start_daemon, daemon_env, database_url, 6, "performIntegrityChecks=false"
    )
    # one artist per batch and 30 s between batches: it is in its first pause soon
    run = wait_for_run(daemon, run_id, lambda r: r["progress"]["done"] >= 1, 60)
    assert run["status"] == "running" and run["trigger"] == "cli"

    stop_started = time.monotonic()
    assert daemon.stop() == 0
    assert time.monotonic() - stop_started < 6 + 5  # within the grace, with a margin for teardown
    assert [e["run_id"] for e in daemon.events("job_interrupted")] == [run_id]

    async def stored() -> asyncpg.Record:
        conn = await asyncpg.connect(database_url)
        try:
            row = await conn.fetchrow("SELECT * FROM cron_logs WHERE id = $1::uuid", run_id)
            assert row is not None
            return row
        finally:
            await conn.close()

    row = asyncio.run(stored())
    assert row["status"] == "interrupted" and row["finished_at"] is None
    assert row["progress_done"] >= 1 and row["holder"] is not None

    # The next start (no pause between batches now) resumes it from its checkpoint.
    restarted = start_daemon(BASE_CONFIG + FAST_CATALOG_SYNC, env=env, port=daemon.port)
    restarted.wait_ready()
    resumed = restarted.wait_for_log("job_resumed")
    assert resumed["run_id"] == run_id
    run = wait_for_run(restarted, run_id, lambda r: r["finishedAt"] is not None)
    assert run["status"] in ("succeeded", "partial"), run
    assert run["attempts"] == 2 and run["trigger"] == "cli"
    assert run["params"]["maxArtists"] == 6
    assert [p["name"] for p in run["summary"]["phases"]][:2] == ["artist-sync", "show-sync"]


def test_trigger_wait_prints_the_summary_and_fails_on_refusal(
    start_daemon: DaemonFactory, daemon_env: dict[str, str], database_url: str
) -> None:
    env = {"DATABASE_URL": database_url, "CRON_SECRET": SECRET, **UNTHROTTLED_ENV}
    daemon = start_daemon(BASE_CONFIG, env=env)
    daemon.wait_ready()
    done = cli(daemon, {**daemon_env, **env}, "trigger", "calculate-trending", "--wait")
    assert done.returncode == 0, done.stderr
    first_line, _, rest = done.stdout.partition("\n")
    assert first_line.startswith("run ") and " of calculate-trending: succeeded in " in first_line
    assert "artistsScored" in json.loads(rest[: rest.rindex("}") + 1])
    runs = cron_get(daemon, "/api/cron/runs?job=calculate-trending")["runs"]
    assert [r["trigger"] for r in runs] == ["cli"]

    refused = cli(daemon, {**daemon_env, **env}, "trigger", "update-active-artists",
                  "--set", "limit=0")  # fmt: skip
    assert refused.returncode == 1 and "limit" in refused.stderr
    no_secret = cli(daemon, {**daemon_env, "DATABASE_URL": database_url},
                    "trigger", "calculate-trending")  # fmt: skip
    assert no_secret.returncode == 1 and "CRON_SECRET" in no_secret.stderr


def test_sighup_reschedules_without_a_restart(
    start_daemon: DaemonFactory, database_url: str
) -> None:
    daemon = start_daemon(BASE_CONFIG, env={"DATABASE_URL": database_url, **UNTHROTTLED_ENV})
    daemon.wait_ready()
    scheduled = {e["job"]: e for e in daemon.events("job_scheduled")}
    assert scheduled["calculate-trending"]["next_run_at"].endswith(":00:00+00:00")
    assert scheduled["complete-catalog-sync"]["schedule"] == "0 3 * * 0"

    daemon.config_path.write_text(
        daemon.config_path.read_text()
        + '\n[jobs.calculate-trending]\nschedule = "17 * * * *"\n'
        + "\n[jobs.trending-artist-sync]\nenabled = false\n"
    )
    daemon.signal(signal.SIGHUP)
    daemon.wait_for_log("config_reloaded")
    changed = {e["job"]: e for e in (daemon.wait_for_log("job_rescheduled", count=2),
                                     *daemon.events("job_rescheduled"))}  # fmt: skip
    assert changed["calculate-trending"]["next_run_at"].endswith(":17:00+00:00")
    assert changed["trending-artist-sync"]["enabled"] is False
    assert changed["trending-artist-sync"]["next_run_at"] is None
    assert "update-active-artists" not in changed
    assert daemon.proc.poll() is None  # the same process: no restart
    assert daemon.events("daemon_started")[0]["pid"] == daemon.proc.pid


def test_kill_9_mid_run_the_restart_takes_the_lease_over_and_resumes(
    start_daemon: DaemonFactory, daemon_env: dict[str, str], database_url: str
) -> None:
    daemon, env, run_id = trigger_slow_catalog_sync(start_daemon, daemon_env, database_url, 4)
    wait_for_run(daemon, run_id, lambda r: r["progress"]["done"] >= 1, 60)
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.proc.wait(10)

    # Its lease is still unexpired (60 s), but its holder's process is gone: taken over at once.
    restarted = start_daemon(BASE_CONFIG + FAST_CATALOG_SYNC, env=env, port=daemon.port)
    restarted.wait_ready()
    assert restarted.wait_for_log("job_resumed", timeout_s=10)["run_id"] == run_id
    run = wait_for_run(restarted, run_id, lambda r: r["finishedAt"] is not None)
    assert run["status"] in ("succeeded", "partial"), run
    assert run["attempts"] == 2
