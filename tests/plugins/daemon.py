"""A real ``theset-daemon run`` subprocess, its JSON log lines and its sd_notify messages: the
fixtures of every test that runs the daemon as a process (``tests/e2e``, ``tests/faults``,
``tests/fuzz``)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_get(url: str, timeout_s: float = 5.0) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


class NotifySocket:
    """A datagram socket standing in for systemd's ``$NOTIFY_SOCKET``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []

    def wait_for(
        self, message: str, timeout_s: float = START_TIMEOUT_S, since: int = 0
    ) -> list[str]:
        """Read datagrams until one from index ``since`` on holds ``message`` as a line; return
        the lines of every datagram read from ``since`` on."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(message in m.splitlines() for m in self.messages[since:]):
                return [line for m in self.messages[since:] for line in m.splitlines()]
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue
        raise AssertionError(f"no {message!r} on NOTIFY_SOCKET; got {self.messages}")

    def close(self) -> None:
        self.sock.close()


class Daemon:
    """One daemon process; stderr (the JSON log) is collected line by line in a thread."""

    def __init__(
        self,
        config_path: Path,
        env: dict[str, str],
        port: int,
        *,
        module: str = "theset_daemon.cli",
        cwd: Path | None = None,
    ) -> None:
        self.config_path = config_path
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.lines: list[dict[str, Any]] = []
        self.raw_lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, "run", "--config", str(config_path)],
            env=env,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.raw_lines.append(line)
            with contextlib.suppress(ValueError):  # a non-JSON line (a crash) stays in raw_lines
                self.lines.append(json.loads(line))

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in list(self.lines) if line.get("event") == name]

    def wait_for_log(
        self, event: str, timeout_s: float = START_TIMEOUT_S, count: int = 1
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.events(event)
            if len(found) >= count:
                return found[count - 1]
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no log event {event!r}; log was:\n{''.join(self.raw_lines)}")

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        return http_get(self.base_url + path)

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        self.wait_for_log("daemon_started", timeout_s)

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self, timeout_s: float = 40.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._reader.join(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return code


DaemonFactory = Callable[..., Daemon]


def daemon_base(*, log_level: str = "info", grace_seconds: float = 6) -> str:
    """The head of a daemon process's config: its port (``start_daemon`` fills ``{port}`` in),
    its log level and its shutdown grace."""
    return f"""
[server]
port = {{port}}
[log]
level = "{log_level}"
[shutdown]
grace_seconds = {grace_seconds}
"""


@pytest.fixture
def daemon_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "NOTIFY_SOCKET")}
    env["XDG_RUNTIME_DIR"] = str(tmp_path / "run")  # pgserver's lock; 0700 like systemd makes it
    (tmp_path / "run").mkdir(mode=0o700)
    return env


@pytest.fixture
def start_daemon(tmp_path: Path, daemon_env: dict[str, str]) -> Iterator[DaemonFactory]:
    """Start daemons with a config text (``{port}`` is filled in); all are stopped afterwards."""
    started: list[Daemon] = []

    def start(
        config_text: str = "", *, env: dict[str, str] | None = None, port: int | None = None
    ) -> Daemon:
        port = port or free_port()
        config_path = tmp_path / f"config-{len(started)}.toml"
        config_path.write_text(config_text.replace("{port}", str(port)))
        daemon = Daemon(config_path, {**daemon_env, **(env or {})}, port)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path / "notify.sock")
    yield sock
    sock.close()
