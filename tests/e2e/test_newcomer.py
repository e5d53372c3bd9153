"""A newcomer's first minutes, as processes: ``theset-daemon run`` on loopback with no secret
writes ``.theset/secrets.env`` next to its config and says where the status page is; the CLI, run
from that directory with no secret in its environment, finds them; ``artists`` names what there
is to import and ``import`` imports it. A daemon listening beyond loopback makes no secrets."""

from __future__ import annotations

import base64
import json
import signal
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tests.plugins.daemon import Daemon, free_port
from tests.plugins.simulator import UNTHROTTLED_CONFIG, UNTHROTTLED_ENV

CONFIG = (
    """
[server]
host = "{host}"
port = {port}
[log]
level = "info"
[shutdown]
grace_seconds = 6
[upstream.simulator]
artists = 8
latency_ms = 0
"""
    + UNTHROTTLED_CONFIG
)
#: What a newcomer's shell does not have.
UNSET = ("CRON_SECRET", "ADMIN_API_KEY", "THESET_CONFIG", "DATABASE_URL", "NOTIFY_SOCKET")


def checkout(tmp_path: Path, host: str) -> tuple[Path, int]:
    """A directory with ``config.toml`` as in the repository's root: the config and the port."""
    root = tmp_path / "checkout"
    root.mkdir()
    port = free_port()
    (root / "config.toml").write_text(CONFIG.format(host=host, port=port))
    return root, port


def environment(daemon_env: dict[str, str], database_url: str) -> dict[str, str]:
    env = {k: v for k, v in daemon_env.items() if k not in UNSET}
    return {**env, **UNTHROTTLED_ENV, "DATABASE_URL": database_url}


def cli(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """A command as typed in the checkout: no ``--config``, so ``./config.toml``."""
    return subprocess.run(
        [sys.executable, "-m", "theset_daemon.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )


def basic_get(url: str, password: str) -> int:
    credentials = base64.b64encode(f"admin:{password}".encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {credentials}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_loopback_daemon_without_secrets_can_be_operated_from_the_checkout(
    tmp_path: Path, daemon_env: dict[str, str], database_url: str
) -> None:
    root, port = checkout(tmp_path, "127.0.0.1")
    env = environment(daemon_env, database_url)
    daemon = Daemon(root / "config.toml", env, port, cwd=root)
    try:
        daemon.wait_ready()
        secrets_file = root / ".theset" / "secrets.env"
        assert daemon.wait_for_log("local_secrets_created")["path"] == str(secrets_file)
        assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
        values = dict(
            line.split("=", 1) for line in secrets_file.read_text().splitlines() if "=" in line
        )
        admin_key, cron_secret = values["ADMIN_API_KEY"], values["CRON_SECRET"]
        assert len(admin_key) >= 16 and len(cron_secret) >= 16 and admin_key != cron_secret
        assert not daemon.events("auth_secret_missing")
        assert admin_key not in "".join(daemon.raw_lines)  # never in the log

        page = daemon.wait_for_log("status_page")
        assert page["url"] == f"http://127.0.0.1:{port}/status"
        assert str(secrets_file) in page["login"]
        assert basic_get(page["url"], admin_key) == 200
        assert basic_get(page["url"], "wrong-password-0123456789") == 401

        status = cli(root, env, "status", "--json")
        assert status.returncode in (0, 1), status.stderr
        health = json.loads(status.stdout)
        assert {job["name"] for job in health["jobs"]} >= {"calculate-trending"}

        trigger = cli(root, env, "trigger", "calculate-trending", "--wait", "--json")
        assert trigger.returncode == 0, trigger.stderr
        assert json.loads(trigger.stdout)["status"] == "succeeded"

        listed = cli(root, env, "artists", "--limit", "3")
        assert listed.returncode == 0, listed.stderr
        names = listed.stdout.splitlines()
        assert len(names) == 3 and "theset-daemon import" in listed.stderr

        unknown = cli(root, env, "import", "Radiohead")
        assert unknown.returncode == 1 and "theset-daemon import" in unknown.stderr

        imported = cli(root, env, "import", names[0])
        assert imported.returncode == 0, imported.stderr
        assert f"importing {names[0]}" in imported.stderr
        assert imported.stderr.rstrip().splitlines()[-1].startswith(("completed", "partial"))

        # A reload reads the file again: the secrets stay what they were.
        daemon.signal(signal.SIGHUP)
        assert daemon.wait_for_log("config_reloaded")["changed"] == []
        assert basic_get(page["url"], admin_key) == 200
    finally:
        assert daemon.stop() == 0

    # The next start uses the same file.
    again = Daemon(root / "config.toml", env, port, cwd=root)
    try:
        assert again.wait_for_log("local_secrets_used")["path"] == str(secrets_file)
        again.wait_ready()
        assert basic_get(f"http://127.0.0.1:{port}/status", admin_key) == 200
    finally:
        assert again.stop() == 0


def test_a_daemon_beyond_loopback_makes_no_secrets_and_refuses(
    tmp_path: Path, daemon_env: dict[str, str], database_url: str
) -> None:
    root, port = checkout(tmp_path, "0.0.0.0")
    env = environment(daemon_env, database_url)
    daemon = Daemon(root / "config.toml", env, port, cwd=root)
    try:
        daemon.wait_ready()
        missing = {event["setting"] for event in daemon.events("auth_secret_missing")}
        assert missing == {"CRON_SECRET", "ADMIN_API_KEY"}
        assert not daemon.events("status_page")
        assert basic_get(f"http://127.0.0.1:{port}/status", "anything-at-all-0123") == 401
        status = cli(root, env, "status", "--json")
        assert status.returncode == 2 and "ADMIN_API_KEY" in status.stderr
    finally:
        assert daemon.stop() == 0
    assert not (root / ".theset").exists()
