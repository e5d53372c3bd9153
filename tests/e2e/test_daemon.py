"""The daemon as a process: sd_notify, SIGHUP reloads, SIGTERM, the database going away and
coming back, the embedded database, and refusing to start on bad configuration."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.plugins.daemon import DaemonFactory, NotifySocket, free_port
from tests.waiting import wait_until

GRACE_S = 5
BASE = f"""
[server]
port = {{port}}
[log]
level = "info"
[shutdown]
grace_seconds = {GRACE_S}
"""


def test_sd_notify_ready_watchdog_reload_and_stopping(
    start_daemon: DaemonFactory, database_url: str, notify_socket: NotifySocket
) -> None:
    daemon = start_daemon(
        BASE,
        env={
            "DATABASE_URL": database_url,
            "NOTIFY_SOCKET": str(notify_socket.path),
            "WATCHDOG_USEC": "200000",
        },
    )
    notify_socket.wait_for("READY=1")
    assert daemon.get("/readyz")[0] == 200  # READY=1 means bound and migrated
    notify_socket.wait_for("WATCHDOG=1", timeout_s=5)

    daemon.config_path.write_text(
        BASE.replace("{port}", str(daemon.port)).replace('"info"', '"debug"')
    )
    seen = len(notify_socket.messages)
    daemon.signal(signal.SIGHUP)
    reloaded = daemon.wait_for_log("config_reloaded")
    assert reloaded["changed"] == ["log.level"]
    after = notify_socket.wait_for("READY=1", since=seen)
    assert after.index("RELOADING=1") < after.index("READY=1")
    assert any(line.startswith("MONOTONIC_USEC=") for line in after)

    started = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.stop() == 0
    assert time.monotonic() - started < GRACE_S
    notify_socket.wait_for("STOPPING=1", timeout_s=1)


def test_sighup_with_an_invalid_file_keeps_the_old_config(
    start_daemon: DaemonFactory, database_url: str
) -> None:
    daemon = start_daemon(BASE, env={"DATABASE_URL": database_url})
    daemon.wait_ready()
    valid = BASE.replace("{port}", str(daemon.port))

    daemon.config_path.write_text(
        valid + "[sse]\nheartbeat_seconds = 0\n[import]\nper_client_per_minute = 1\nbogus = 1\n"
    )
    daemon.signal(signal.SIGHUP)
    failed = daemon.wait_for_log("config_reload_failed")
    assert [p.split(":")[0] for p in failed["problems"]] == [
        "sse.heartbeat_seconds",
        "import.bogus",
    ]
    daemon.config_path.write_text("[server\nport = ")
    daemon.signal(signal.SIGHUP)
    failed = daemon.wait_for_log("config_reload_failed", count=2)
    assert failed["problems"][0].startswith("<file>: not valid TOML")
    assert daemon.get("/readyz")[0] == 200

    # The next good reload is compared with the config in force: only the original one, so
    # nothing of the refused files was applied.
    daemon.config_path.write_text(valid + "[import]\nper_client_per_minute = 7\n")
    daemon.signal(signal.SIGHUP)
    assert daemon.wait_for_log("config_reloaded")["changed"] == ["import.per_client_per_minute"]
    assert daemon.proc.poll() is None


def test_a_restart_only_change_is_logged_and_not_applied(
    start_daemon: DaemonFactory, database_url: str
) -> None:
    daemon = start_daemon(BASE, env={"DATABASE_URL": database_url})
    daemon.wait_ready()
    other_port = free_port()
    daemon.config_path.write_text(
        BASE.replace("{port}", str(other_port)) + "[jobs.calculate-trending]\nenabled = false\n"
    )
    daemon.signal(signal.SIGHUP)
    assert daemon.wait_for_log("restart_required")["keys"] == ["server.port"]
    assert daemon.wait_for_log("config_reloaded")["changed"] == ["jobs.calculate-trending.enabled"]
    assert daemon.get("/readyz")[0] == 200  # still on the old port


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[Any]:
    """A Postgres server this test may stop and start (the session one must stay up)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
        from pgserver._commands import pg_ctl
    server = pgserver.get_server(tmp_path / "own-pg", cleanup_mode="delete")
    server.stop = lambda: pg_ctl(
        ["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user
    )
    try:
        yield server
    finally:
        server.cleanup()


def test_readyz_follows_the_database_down_and_back(
    start_daemon: DaemonFactory, own_postgres: Any
) -> None:
    daemon = start_daemon(BASE, env={"DATABASE_URL": own_postgres.get_uri()})
    daemon.wait_ready()
    assert daemon.get("/readyz")[0] == 200

    own_postgres.stop()
    status, body = daemon.get("/readyz")
    assert status == 503
    assert body["status"] == "not_ready" and body["components"]["database"]["status"] == "down"
    assert daemon.get("/healthz")[0] == 200
    assert daemon.proc.poll() is None

    own_postgres.ensure_postgres_running()
    wait_until("/readyz 200 after restart", lambda: daemon.get("/readyz")[0] == 200, 30)
    assert daemon.stop() == 0


def test_the_embedded_database_starts_keeps_data_and_stops(
    start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    data_dir = tmp_path / "embedded-pg"
    config_text = BASE + f'[database]\ndata_dir = "{data_dir}"\n'
    daemon = start_daemon(config_text)
    daemon.wait_ready()
    assert daemon.get("/readyz")[0] == 200

    socket_dir = (data_dir / "postmaster.pid").read_text().splitlines()[4]
    dsn = f"postgresql://postgres:@/postgres?host={socket_dir}"

    async def write_then_read(value: str | None) -> list[str]:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("CREATE TABLE IF NOT EXISTS kept (v text)")
            if value:
                await conn.execute("INSERT INTO kept VALUES ($1)", value)
            return [r["v"] for r in await conn.fetch("SELECT v FROM kept")]
        finally:
            await conn.close()

    assert asyncio.run(write_then_read("first life")) == ["first life"]
    assert daemon.stop() == 0
    assert not (data_dir / "postmaster.pid").exists(), "the embedded Postgres was left running"

    daemon = start_daemon(config_text, port=daemon.port)
    daemon.wait_ready()
    assert asyncio.run(write_then_read(None)) == ["first life"]
    assert daemon.stop() == 0
    assert not (data_dir / "postmaster.pid").exists()


def test_an_invalid_config_refuses_to_start_with_exit_2(start_daemon: DaemonFactory) -> None:
    daemon = start_daemon("[server]\nport = 'eighty'\n[log]\nlevel = 'loud'\n")
    assert daemon.proc.wait(30) == 2
    problems = daemon.wait_for_log("config_invalid")["problems"]
    assert [p.split(":")[0] for p in problems] == ["server.port", "log.level"]


def test_an_unreachable_database_fails_fast_naming_the_setting(
    start_daemon: DaemonFactory,
) -> None:
    url = f"postgresql://theset:s3cr3t-pw@127.0.0.1:{free_port()}/theset"
    daemon = start_daemon(BASE, env={"DATABASE_URL": url})
    assert daemon.proc.wait(60) == 1
    error = daemon.wait_for_log("daemon_start_failed")["error"]
    assert "DATABASE_URL" in error and "unset it to use the embedded database" in error
    assert "s3cr3t-pw" not in "".join(daemon.raw_lines)


def test_check_config_lists_every_problem(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text("[server]\nport = 9000\n")
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nport = -1\nextra = 1\n[sse]\nheartbeat_seconds = 0\n")
    command = [sys.executable, "-m", "theset_daemon.cli", "check-config", "--config"]

    result = subprocess.run([*command, str(good)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "OK" in result.stdout
    result = subprocess.run([*command, str(bad)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    for key in ("server.port", "server.extra", "sse.heartbeat_seconds"):
        assert key in result.stderr
    result = subprocess.run(
        [*command, str(tmp_path / "missing.toml")], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2 and "THESET_CONFIG" in result.stderr


def test_two_daemons_starting_at_once_share_one_migrated_database(
    start_daemon: DaemonFactory, empty_database_url: str
) -> None:
    database_url = empty_database_url
    first = start_daemon(BASE, env={"DATABASE_URL": database_url})
    second = start_daemon(BASE, env={"DATABASE_URL": database_url})
    first.wait_ready()
    second.wait_ready()
    assert first.get("/readyz")[0] == 200 and second.get("/readyz")[0] == 200

    async def recorded() -> list[str]:
        conn = await asyncpg.connect(database_url)
        try:
            return [r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")]
        finally:
            await conn.close()

    names = asyncio.run(recorded())
    assert len(names) == len(set(names)) >= 3
    applied_by = [e["migration"] for d in (first, second) for e in d.events("migration_applied")]
    assert sorted(applied_by) == sorted(names)  # each file applied by exactly one of them


def test_sigterm_during_start_up_still_stops_the_embedded_database(
    start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    data_dir = tmp_path / "embedded-pg"
    daemon = start_daemon(BASE + f'[database]\ndata_dir = "{data_dir}"\n')
    daemon.wait_for_log("embedded_postgres_started")
    daemon.signal(signal.SIGTERM)  # while the pool opens and migrations run
    assert daemon.stop() == 0
    assert not (data_dir / "postmaster.pid").exists(), "the embedded Postgres was left running"
