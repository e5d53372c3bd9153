"""The fuzz suite runs against a real ``theset-daemon run`` process (the end-to-end suite's daemon
fixtures) and, for the hostile inputs, the real application in-process."""

from __future__ import annotations

from tests.e2e.conftest import daemon_env, start_daemon

__all__ = ["daemon_env", "start_daemon"]
