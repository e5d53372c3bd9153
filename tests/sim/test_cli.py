"""``theset-daemon simulate`` as a process: config plus flags, one JSON start line, clean stops."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(config: Path, *flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "theset_daemon.cli", "simulate", "--config", str(config), *flags],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def reap(process: subprocess.Popen[str]) -> None:
    """Whatever the test did: no simulator left running, no pipe left open."""
    if process.poll() is None:
        process.kill()
        process.wait()
    if process.stderr is not None:
        process.stderr.close()


def started_line(process: subprocess.Popen[str]) -> dict[str, object]:
    assert process.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        event = json.loads(line)
        if event["event"] == "simulator_started":
            return dict(event)
    raise AssertionError(f"no simulator_started line (exit code {process.poll()})")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_simulate_serves_and_stops_cleanly(tmp_path: Path, stop: signal.Signals) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[upstream.simulator]\nseed = 7\nartists = 40\nlatency_ms = 5\n")
    port = free_port()
    process = start(config, "--port", str(port), "--artists", "12", "--latency-ms", "0")
    try:
        event = started_line(process)
        assert event["base_url"] == f"http://127.0.0.1:{port}"
        assert (event["seed"], event["artists"], event["latency_ms"]) == (7, 12, 0.0)
        with urllib.request.urlopen(f"{event['base_url']}/_sim/catalog?limit=2", timeout=5) as r:
            body = json.loads(r.read())
        assert body["total"] == 12 and len(body["artists"]) == 2
        process.send_signal(stop)
        assert process.wait(timeout=15) == 0
        assert process.stderr is not None
        rest = [json.loads(line)["event"] for line in process.stderr.read().splitlines()]
        assert rest[-1] == "simulator_stopped"
    finally:
        reap(process)


def test_simulate_refuses_bad_flags(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("")
    result = subprocess.run(
        [sys.executable, "-m", "theset_daemon.cli", "simulate", "--config", str(config),
         "--artists", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--artists" in result.stderr


def test_simulate_takes_the_daily_quota_flags(tmp_path: Path) -> None:
    """The flags win over ``[upstream.simulator]``; past the quota, the provider's own 429."""
    config = tmp_path / "config.toml"
    config.write_text("[upstream.simulator]\nticketmaster_daily_quota = 50\nlatency_ms = 0\n")
    port = free_port()
    process = start(
        config, "--port", str(port), "--ticketmaster-daily-quota", "2",
        "--setlistfm-daily-quota", "7",
    )  # fmt: skip
    try:
        event = started_line(process)
        assert (event["ticketmaster_daily_quota"], event["setlistfm_daily_quota"]) == (2, 7)
        base = event["base_url"]
        statuses = []
        for _ in range(3):
            time.sleep(0.25)  # under Ticketmaster's 5 a second
            try:
                with urllib.request.urlopen(
                    f"{base}/discovery/v2/events.json?apikey=k", timeout=5
                ) as response:
                    statuses.append(response.status)
            except urllib.error.HTTPError as exc:
                statuses.append(exc.code)
                assert json.loads(exc.read())["fault"]["detail"]["errorcode"] == (
                    "policies.ratelimit.QuotaViolation"
                )
                exc.close()
        assert statuses == [200, 200, 429]
        with urllib.request.urlopen(f"{base}/_sim/stats", timeout=5) as response:
            providers = json.loads(response.read())["providers"]
        assert providers["ticketmaster"]["quota_used_today"] == 2
        assert providers["setlistfm"]["quota_used_today"] == 0
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        reap(process)


@pytest.mark.parametrize("flag", ["--ticketmaster-daily-quota", "--setlistfm-daily-quota"])
def test_simulate_refuses_a_zero_daily_quota(tmp_path: Path, flag: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text("")
    result = subprocess.run(
        [sys.executable, "-m", "theset_daemon.cli", "simulate", "--config", str(config), flag, "0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert flag in result.stderr
