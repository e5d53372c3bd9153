"""What keeps anonymous clients from draining the daemon and the providers' budget
(CONTRACT.md sections 2 and 3): the per-client rate of imports, and the cap on imports running.

The reuse of a recent import, the third guard, is a read of our own tables
(``db.imports.latest_for_request``), done by the importer before any provider is called.
"""

from __future__ import annotations

import time
from collections import deque

# A refused import waits about this long: imports take seconds to a minute, and a client
# retrying sooner would only be refused again.
OVERLOADED_RETRY_AFTER_S = 10.0


class ClientRateLimited(Exception):
    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"too many imports; retry in {retry_after_s:.0f} s")
        self.retry_after_s = retry_after_s


class Overloaded(Exception):
    """``import.max_running`` imports run already: a new one is refused, not queued."""

    def __init__(self, max_running: int, retry_after_s: float = OVERLOADED_RETRY_AFTER_S) -> None:
        super().__init__(
            f"{max_running} imports are running, the most this server runs at once; "
            f"retry in {retry_after_s:.0f} s"
        )
        self.retry_after_s = retry_after_s


class PerClientLimit:
    """At most ``per_minute`` imports per client in any sliding minute. A client is the key
    ``web.clients.request_client`` gives (an address, an IPv6 /64)."""

    MAX_CLIENTS = 10_000  # bound on memory under a flood of distinct addresses

    def __init__(self) -> None:
        self._windows: dict[str, deque[float]] = {}

    def check(self, client: str, per_minute: int) -> None:
        now = time.monotonic()
        window = self._windows.setdefault(client, deque())
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= per_minute:
            raise ClientRateLimited(max(1.0, window[0] + 60 - now))
        window.append(now)
        if len(self._windows) > self.MAX_CLIENTS:
            stale = [c for c, w in self._windows.items() if not w or w[-1] <= now - 60]
            for key in stale:
                del self._windows[key]
