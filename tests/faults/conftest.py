"""Fault tests run against real processes: the daemon (``theset-daemon run``), Postgres, Redis and
the simulator. The daemon fixtures are the end-to-end suite's."""

from __future__ import annotations

from tests.e2e.conftest import daemon_env, notify_socket, start_daemon

__all__ = ["daemon_env", "notify_socket", "start_daemon"]
