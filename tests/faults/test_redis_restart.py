"""Redis killed and restarted under read load: the daemon runs with ``REDIS_URL`` on a real
Redis-protocol server the test owns (``tests/cache/redis_server.py``), clients keep reading the
cached public routes, and the test SIGKILLs the server mid-load and starts it again on the same
port."""

from __future__ import annotations

import contextlib
import http.client
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.faults.storm_support import ADMIN_KEY, query
from tests.plugins.daemon import Daemon, DaemonFactory, daemon_base, http_get
from tests.plugins.redis_server import RedisServer
from tests.waiting import wait_until

ARTISTS = 24
CONFIG = """
[upstream.simulator]
artists = 5
latency_ms = 0
[cache]
# Fewer entries than the pages read: the memory tier keeps evicting, so reads keep going to Redis
# (and to Postgres while Redis is away), which is what this test is about.
memory_max_entries = 8
"""
CLIENTS = 3
BEFORE_S, OUTAGE_S, AFTER_S = 2.0, 3.0, 1.5
RECOVERY_TIMEOUT_S = 15.0
# Redis calls give up after 0.5 s (cache/redis_tier.py) and memory and Postgres serve meanwhile:
# no read waits anywhere near this.
SLOWEST_READ_S = 2.0


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = RedisServer(workdir)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@dataclass
class ReadLoad:
    """Clients reading the cached routes in a loop until stopped; every answer is tallied."""

    daemon: Daemon
    paths: list[str]
    statuses: list[tuple[float, int]] = field(default_factory=list)
    slowest_s: float = 0.0
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self, clients: int) -> None:
        for n in range(clients):
            thread = threading.Thread(target=self._loop, args=(n,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _loop(self, offset: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.daemon.port, timeout=10)
        n = offset
        try:
            while not self._stop.is_set():
                path = self.paths[n % len(self.paths)]
                n += CLIENTS
                started = time.monotonic()
                try:
                    conn.request("GET", path)
                    response = conn.getresponse()
                    response.read()
                except (OSError, http.client.HTTPException) as exc:
                    self.failures.append(f"{path}: {exc!r}")
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.daemon.port, timeout=10)
                    continue
                self.slowest_s = max(self.slowest_s, time.monotonic() - started)
                self.statuses.append((time.monotonic(), response.status))
        finally:
            conn.close()

    def count(self, since: float = 0.0, until: float = float("inf")) -> int:
        return sum(1 for t, _ in list(self.statuses) if since <= t < until)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)


def metric(daemon: Daemon, name: str, labels: str = "") -> float:
    """One sample of the daemon's /metrics, summed over the series that carry ``labels``."""
    conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=10)
    try:
        conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        response = conn.getresponse()
        text = response.read().decode()
        assert response.status == 200, text
    finally:
        conn.close()
    pattern = re.compile(rf"^{re.escape(name)}(\{{[^}}]*\}})? (\S+)$", re.MULTILINE)
    return sum(float(value) for series, value in pattern.findall(text) if labels in (series or ""))


def test_redis_killed_and_restarted_under_read_load(
    start_daemon: DaemonFactory, redis: RedisServer, database_url: str
) -> None:
    """Breaks: Redis is SIGKILLed (every connection drops, its data is gone) while clients read
    artist pages and trending lists, stays away a few seconds, and comes back empty on the same
    port. Holds: not one 5xx (nor a dropped connection) over the whole load, and no read waits
    on the dead Redis; ``/readyz`` stays 200, the cache ``degraded`` meanwhile; after the restart
    the cache is back on Redis: ``theset_cache_backend_up`` 1, one ``cache_backend_down`` and one
    ``cache_backend_up`` line, reads stored in the new server and answered from it again."""
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis.url, "ADMIN_API_KEY": ADMIN_KEY}
    daemon = start_daemon(daemon_base() + CONFIG, env=env)
    daemon.wait_ready()
    slugs = [f"reader-{n}" for n in range(ARTISTS)]
    query(
        database_url,
        "INSERT INTO artists (name, slug) SELECT initcap(replace(s, '-', ' ')), s"
        " FROM unnest($1::text[]) AS s",
        slugs,
    )
    paths = [f"/api/artists/{slug}" for slug in slugs] + [
        f"/api/trending/artists?period={period}&limit=10" for period in ("day", "week", "month")
    ]
    assert metric(daemon, "theset_cache_backend_up") == 1

    load = ReadLoad(daemon, paths)
    load.start(CLIENTS)
    try:
        time.sleep(BEFORE_S)
        redis_hits_before = metric(daemon, "theset_cache_hits_total", 'tier="redis"')
        assert redis_hits_before > 0, "the load never reached Redis"

        redis.kill()
        killed = time.monotonic()
        wait_until("cache_backend_down", lambda: daemon.events("cache_backend_down"), 5)
        status, ready = http_get(daemon.base_url + "/readyz")
        assert status == 200 and ready["components"]["cache"]["status"] == "degraded", ready
        assert metric(daemon, "theset_cache_backend_up") == 0
        time.sleep(max(0.0, killed + OUTAGE_S - time.monotonic()))

        redis.start()
        restarted = time.monotonic()
        wait_until(
            "cache_backend_up", lambda: daemon.events("cache_backend_up"), RECOVERY_TIMEOUT_S
        )
        back = time.monotonic()
        redis_hits_back = metric(daemon, "theset_cache_hits_total", 'tier="redis"')
        # Stored in the new (empty) server and read back from it while the load goes on.
        wait_until(
            "a Redis hit after the restart",
            lambda: metric(daemon, "theset_cache_hits_total", 'tier="redis"') > redis_hits_back,
            RECOVERY_TIMEOUT_S,
        )
        time.sleep(AFTER_S)  # and the load goes on, on two tiers again
    finally:
        load.stop()

    assert not load.failures, load.failures[:5]
    server_errors = [(t, s) for t, s in load.statuses if s >= 500]
    assert server_errors == [], server_errors[:5]
    assert {s for _, s in load.statuses} == {200}
    assert load.count(killed, restarted) > 10 and load.count(back) > 10, len(load.statuses)
    assert load.slowest_s < SLOWEST_READ_S, load.slowest_s
    assert metric(daemon, "theset_cache_backend_up") == 1
    with contextlib.closing(redis.client()) as client:
        assert any(key.startswith(b"theset:v1:artist:") for key in client.keys("theset:v1:*"))
    assert len(daemon.events("cache_backend_down")) == 1
    assert len(daemon.events("cache_backend_up")) == 1
    status, ready = http_get(daemon.base_url + "/readyz")
    assert status == 200 and ready["components"]["cache"]["status"] == "up", ready
    assert daemon.proc.poll() is None
