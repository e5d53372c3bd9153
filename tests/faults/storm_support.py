"""What the upstream-storm, Postgres-restart and Redis-restart fault tests share: the simulator as
its own process, daemon configs aimed at it, seeded artists, and the cron routes driven over HTTP.

The simulator runs apart from the daemon (``theset-daemon simulate``, the daemon in ``live`` mode),
so its clock and its event loop are not the daemon's: what ``/_sim/stats`` measures (arrival
times, 1-second peaks, requests inside a Retry-After window) is what a real provider would see,
however busy the daemon's loop gets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from email.message import Message
from pathlib import Path
from typing import Any

import asyncpg

from tests.plugins.daemon import Daemon, free_port
from theset_daemon.sim import SIM_CREDENTIALS

CRON_SECRET = "faults-cron-secret"
ADMIN_KEY = "faults-admin-key"
START_TIMEOUT_S = 30.0

Json = dict[str, Any]


def exchange(
    url: str,
    *,
    method: str = "GET",
    body: Any = None,
    token: str | None = None,
    timeout_s: float = 10.0,
) -> tuple[int, Any, Message]:
    """One HTTP exchange; (status, parsed JSON body or None, response headers)."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data is not None else {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as response:
            raw, status, answer_headers = response.read(), response.status, response.headers
    except urllib.error.HTTPError as exc:
        raw, status, answer_headers = exc.read(), exc.code, exc.headers
    return status, json.loads(raw) if raw.strip() else None, answer_headers


def request(
    url: str,
    *,
    method: str = "GET",
    body: Any = None,
    token: str | None = None,
    timeout_s: float = 10.0,
) -> tuple[int, Any]:
    """One HTTP exchange; (status, parsed JSON body or None)."""
    status, answer, _ = exchange(url, method=method, body=body, token=token, timeout_s=timeout_s)
    return status, answer


class Simulator:
    """``theset-daemon simulate`` on a free loopback port, stopped by :meth:`stop`."""

    def __init__(self, workdir: Path, *, artists: int, seed: int = 1) -> None:
        config = workdir / "simulator.toml"
        config.write_text('[log]\nlevel = "warning"\n')
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "theset_daemon.cli", "simulate", "--config", str(config),
             "--port", str(self.port), "--seed", str(seed), "--artists", str(artists),
             "--latency-ms", "0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if request(self.base_url + "/_sim/faults", timeout_s=1)[0] == 200:
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"the simulator did not start: {''.join(self.lines)}")

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:  # never let a full pipe block the simulator
            self.lines.append(line)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = request(self.base_url + path, method=method, body=body)
        assert status < 300, (status, answer)
        return answer

    def stats(self) -> dict[str, Json]:
        providers: dict[str, Json] = self.call("GET", "/_sim/stats")["providers"]
        return providers

    def reset_stats(self) -> None:
        self.call("DELETE", "/_sim/stats")

    def fault(self, provider: str, **fault: Any) -> None:
        self.call("POST", "/_sim/faults", {"provider": provider, **fault})

    def clear_faults(self) -> None:
        self.call("DELETE", "/_sim/faults")

    def pending_faults(self) -> dict[str, list[Json]]:
        faults: dict[str, list[Json]] = self.call("GET", "/_sim/faults")["faults"]
        return faults

    def catalog(self, limit: int) -> list[Json]:
        artists: list[Json] = self.call("GET", f"/_sim/catalog?limit={limit}")["artists"]
        return artists

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


@contextlib.contextmanager
def simulator(workdir: Path, *, artists: int) -> Iterator[Simulator]:
    sim = Simulator(workdir, artists=artists)
    try:
        yield sim
    finally:
        sim.stop()


def live_upstreams(sim_url: str, *, timeout_s: float = 10.0, extra: str = "") -> str:
    """``[upstream]`` in live mode aimed at the simulator, as an operator would write it. The
    rates are the daemon's defaults (below the simulator's limits, as in production)."""
    c = SIM_CREDENTIALS
    return f"""
[upstream]
mode = "live"
[upstream.spotify]
api_base_url = "{sim_url}/v1"
accounts_base_url = "{sim_url}"
client_id = "{c.spotify_client_id}"
client_secret = "{c.spotify_client_secret}"
max_rate_per_s = 10
timeout_s = {timeout_s}
[upstream.ticketmaster]
base_url = "{sim_url}/discovery/v2"
api_key = "{c.ticketmaster_api_key}"
max_rate_per_s = 5
timeout_s = {timeout_s}
[upstream.setlistfm]
base_url = "{sim_url}/rest/1.0"
api_key = "{c.setlistfm_api_key}"
max_rate_per_s = 2
timeout_s = {timeout_s}
{extra}
"""


def seed_artists(
    database_url: str, artists: Sequence[Json], *, views: int = 10, total_albums: bool = True
) -> list[str]:
    """Insert the simulator's artists as the importer's phase 1 would (ids on every provider),
    each with ``views`` page views (so ``update-active-artists`` selects them) and, with
    ``total_albums``, the release count the simulator reports (an unchanged catalog: a sync
    costs one album page). Returns their ids, most viewed first."""

    async def insert() -> list[str]:
        conn = await asyncpg.connect(database_url)
        try:
            ids = []
            for n, artist in enumerate(artists):
                artist_id = await conn.fetchval(
                    """INSERT INTO artists (name, slug, spotify_id, ticketmaster_id, total_albums)
                       VALUES ($1, $2, $3, $4, $5) RETURNING id""",
                    artist["name"],
                    f"seeded-{n}",
                    artist["spotifyId"],
                    artist["ticketmasterId"],
                    artist["counts"]["albums"] if total_albums else 0,
                )
                await conn.execute(
                    "INSERT INTO page_views (artist_id) SELECT $1 FROM generate_series(1, $2)",
                    artist_id,
                    views * (len(artists) - n),
                )
                ids.append(str(artist_id))
            return ids
        finally:
            await conn.close()

    return asyncio.run(insert())


def query(database_url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    async def fetch() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(database_url)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    return asyncio.run(fetch())


# --- the cron routes -----------------------------------------------------------------------------


def trigger(daemon: Daemon, job: str, body: Json | None = None) -> str:
    status, answer = request(
        f"{daemon.base_url}/api/cron/{job}", method="POST", body=body or {}, token=CRON_SECRET
    )
    assert status == 202, (status, answer)
    run_id: str = answer["runId"]
    return run_id


def get_run(daemon: Daemon, run_id: str) -> Json:
    status, run = request(f"{daemon.base_url}/api/cron/runs/{run_id}", token=CRON_SECRET)
    assert status == 200, (status, run)
    return dict(run)


def wait_for_run(
    daemon: Daemon, run_id: str, until: Callable[[Json], bool], timeout_s: float
) -> Json:
    """Poll the run until ``until(run)``; fail with the last state seen after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    run: Json = {}
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):  # the daemon busy or restarting: ask again
            run = get_run(daemon, run_id)
            if until(run):
                return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not get there in {timeout_s} s: {run}")


def ended(run: Json) -> bool:
    return run.get("finishedAt") is not None


def assert_counted(run: Json) -> None:
    """CONTRACT.md section 8: ``partial`` is some items failed, each failure listed (at most 50)
    with its artist, and the progress counts every item, failed ones included."""
    assert run["status"] == "partial", run
    assert run["error"] is None, run
    assert 0 < len(run["errors"]) <= 50, run
    assert all(e["message"] for e in run["errors"]), run
    assert run["progress"]["done"] == run["progress"]["total"] > len(run["errors"]), run
