"""Soak (issue 8): a real daemon under a steady mixed load for 30 minutes; its memory, file
descriptors and error count must stay flat.

``python -m bench soak [--minutes N] [--streams N]``; never part of ``make bench`` (half an hour,
and it judges levels, not rates). All on loopback: a throwaway Postgres, the simulator in its own
process (:func:`serve_simulator`), ``theset-daemon run`` as a subprocess aimed at both
(``DATABASE_URL``, ``[upstream] mode = "live"``, the contract's rates), and this process as the
load. Before the load starts, the simulator's 200 artists are stored as earlier imports leave them
(the catalog sync bench's seed): a daemon in service has a catalog, and walking it is what makes a
cron run last minutes, long enough to hold streams. Then, all at once for the whole run:

* **Imports**: ``POST /api/artists/import`` every :data:`IMPORT_INTERVAL_S`, a random catalog
  artist by name, Spotify id or Ticketmaster id in turn (202, or 200 when deduplicated).
* **SSE viewers**: ``--streams`` (2,000) progress streams held open, spread at random over the
  imports and cron runs that are running. Each behaves like an ``EventSource``: a stream that ends
  without its terminal event is an error (``sse_dropped``) and is resumed with ``Last-Event-ID``;
  one that ends with it is reconnected with ``Last-Event-ID`` after the 2 s ``retry``, must get
  204, and the viewer then joins another running job within :data:`ARRIVAL_SPREAD_S`. Event ids
  must follow each other (``sse_id_gap``); a stream silent for :data:`STALL_S` (three heartbeats)
  is ``sse_stalled``.
* **Cached reads**: :data:`READS_PER_S` a second over ``web/routes_reads.py``: artists by id and
  by slug, trending artists of each period; half revalidate with the last ``ETag`` (200 or 304).
* **Cron triggers**: ``POST /api/cron/<job>`` with ``CRON_SECRET`` every :data:`CRON_INTERVAL_S`,
  the four jobs in turn. 202 starts a run whose events stream viewers may join; 409
  ``already_running`` is an expected answer (its ``runId`` is joinable too).

Every :data:`SAMPLE_INTERVAL_S` the daemon process is sampled: RSS, threads and CPU (psutil), open
descriptors (``/proc/<pid>/fd``) split into client connections, the database pool (its size from
``/metrics``), upstream connections and the rest, and its gauges (SSE streams open, imports and
jobs running).

**Criteria.** The warm-up is the first 20% of the run, at least :data:`WARMUP_MIN_S`: caches,
pools and the allocator's arenas fill during it. "At warm-up end" is the median of the samples of
its last :data:`JUDGED_WINDOW_S`, "at end" that of the run's last 30 s: one sample can land on a
thousand viewers moving from a finished job to the next.

* RSS growth after warm-up under :data:`RSS_GROWTH_MAX_PCT` percent.
* Descriptors not explained by the load (all but live client connections, the database pool and
  upstream connections: the listening socket, LISTEN connections, the log pipe, the event loop's
  own, and any client connection the daemon kept after the client closed it) do not grow at all.
  Pool and upstream connections are excluded because they are bounded by their pools and move
  with demand; a leak there starves the pool and shows up as timeouts and 5xx, which are errors.
* Asyncio tasks (the daemon's ``theset_asyncio_tasks``) do not grow: counted with the daemon
  idle (no import, no run, no stream, only the sampler's connection) just before the load and
  again once the load has stopped and the work in flight has ended (at most
  :data:`IDLE_WAIT_MAX_S`). Under load the count moves with connections (one handler task each)
  and jobs, so only the two idle counts compare; a leaked background task shows as a
  difference.
* Zero errors, per kind (:data:`ERROR_KINDS`): a 5xx, any status a route should not answer, a
  connection error or timeout, the three stream faults above, a failed import, a failed or
  partial run, any ``error`` line in the daemon's log.
* The load was applied: the daemon's ``theset_sse_streams_open`` after warm-up has a median of
  at least :data:`STREAMS_HELD_MIN_FRACTION` of ``--streams``.
* The daemon stops cleanly on SIGTERM afterwards (exit 0).

The table is the other benchmarks' (:class:`bench.common.Row`); a missed criterion reads ``NOT
met`` and the command exits 1.

**Daily quotas raised.** At its 5/s, Ticketmaster's 5,000 calls a day last 17 minutes; the soak
would then measure the quota ledger turning work away. The simulator and the daemon both get
:data:`DAILY_QUOTA`; the rates stay the contract's.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import contextlib
import itertools
import json
import os
import random
import resource
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import psutil

from bench import report
from bench.common import (
    Row,
    percentile,
    seed_artists,
    simulator_process,
    throwaway_postgres,
    until_ready,
)
from theset_daemon.progress.frames import EventStreamParser
from theset_daemon.sim import SIM_CREDENTIALS

BENCH = "soak"
DEFAULT_MINUTES = 30.0
DEFAULT_STREAMS = 2_000
WARMUP_FRACTION = 0.2
WARMUP_MIN_S = 120.0
JUDGED_WINDOW_S = 30.0  # "at warm-up end" / "at end": the median of the samples of this window
SAMPLE_INTERVAL_S = 10.0
IDLE_WAIT_MAX_S = 600.0  # after the load, for the imports and runs in flight to end
RSS_GROWTH_MAX_PCT = 10.0
STREAMS_HELD_MIN_FRACTION = 0.9

IMPORT_INTERVAL_S = 15.0  # four a minute
READS_PER_S = 20.0
READ_WORKERS = 4
# The four jobs in turn, each every 40 s: a finished catalog sync (minutes long) is soon restarted.
CRON_INTERVAL_S = 10.0
CRON_JOBS = ("update-active-artists", "trending-artist-sync", "complete-catalog-sync",
             "calculate-trending")  # fmt: skip
HTTP_TIMEOUT_S = 30.0

SSE_RETRY_S = 2.0  # the stream's ``retry: 2000``, as an EventSource waits it before reconnecting
ARRIVAL_SPREAD_S = 10.0
STALL_S = 45.0  # three times sse.heartbeat_seconds (15): a live stream is never this silent
TERMINAL_EVENTS = frozenset({"complete", "failed"})

SIM_ARTISTS = 200
SIM_LATENCY_MS = 50
DAILY_QUOTA = 10_000_000
POOL_MIN_SIZE = 2
POOL_MAX_SIZE = 10

CRON_SECRET = "soak-cron-secret"
ADMIN_KEY = "soak-admin-key"
ERROR_KINDS = (
    "http_5xx",
    "unexpected_status",
    "connection_error",
    "timeout",
    "sse_dropped",
    "sse_stalled",
    "sse_id_gap",
    "import_failed",
    "run_failed_or_partial",
    "daemon_log_error",
)


# --- errors -------------------------------------------------------------------------------------


@dataclass
class Errors:
    """Errors per kind, with the first few of each kind kept to be printed."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, detail: str) -> None:
        assert kind in ERROR_KINDS, kind
        self.counts[kind] += 1
        kept = self.examples.setdefault(kind, [])
        if len(kept) < 5:
            kept.append(detail[:300])

    def check(self, what: str, status: int, expected: tuple[int, ...], body: str = "") -> bool:
        """Count ``status`` when it is not one of ``expected``; True when it is."""
        if status in expected:
            return True
        kind = "http_5xx" if status >= 500 else "unexpected_status"
        self.add(kind, f"{what}: {status} {body}")
        return False


# --- the SSE viewers ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """A job's progress stream: an import's or a cron run's."""

    path: str
    kind: str  # "import" | "run"
    token: str | None = None


class RunningJobs:
    """The jobs whose streams viewers may pick: added when started, removed when a viewer saw the
    end (a viewer that picks one that has ended meanwhile gets its replay, then 204)."""

    def __init__(self) -> None:
        self._running: dict[str, Target] = {}
        self._changed = asyncio.Event()

    def started(self, target: Target) -> None:
        self._running[target.path] = target
        self._changed.set()

    def ended(self, target: Target) -> None:
        self._running.pop(target.path, None)

    async def pick(self) -> Target:
        while not self._running:
            self._changed.clear()
            await self._changed.wait()
        return random.choice(list(self._running.values()))


class SseExchange(asyncio.Protocol):
    """One progress-stream request on a raw socket (HTTP/1.1, chunked, like a browser's).

    Keeps only what the viewer judges: the status, the ids and event names, the terminal event,
    whether the response ended properly, and when data last arrived. A client library would
    spend this process's CPU, which is shared with the daemon, on 2,000 streams.
    """

    def __init__(self, request: bytes, last_id: int | None) -> None:
        loop = asyncio.get_running_loop()
        self.request = request
        self.status = 0
        self.last_id = last_id  # the id of the last event received (or sent as Last-Event-ID)
        self.terminal: str | None = None
        self.id_gaps = 0
        self.ended = False  # the response ended (last chunk, or the whole non-stream body)
        self.last_data_at = loop.time()
        self.done: asyncio.Future[None] = loop.create_future()
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._head = bytearray()
        self._body = bytearray()  # undecoded chunked bytes
        self._chunk_left: int | None = None  # None: a chunk-size line is next; 0: its CRLF
        self._plain_left: int | None = None  # a Content-Length body
        self._events = EventStreamParser()
        self._utf8 = codecs.getincrementaldecoder("utf-8")()  # a character may span two chunks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(self.request)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def _finish(self) -> None:
        self.ended = True
        self.close()

    def data_received(self, data: bytes) -> None:
        self.last_data_at = self._loop.time()
        if not self.status:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self._head[:end]).lower()
            data = bytes(self._head[end + 4 :])
            self._head.clear()
            self.status = int(head[9:12])
            if b"\r\ntransfer-encoding: chunked" not in head:
                start = head.find(b"\r\ncontent-length:")
                length = int(head[start + 17 :].split(b"\r\n", 1)[0]) if start >= 0 else 0
                self._plain_left = length
        if self._plain_left is not None:
            self._plain_left -= len(data)
            if self._plain_left <= 0:
                self._finish()
            return
        self._body += data
        self._dechunk()

    def _dechunk(self) -> None:
        body = self._body
        while True:
            if self._chunk_left is None:
                end = body.find(b"\r\n")
                if end < 0:
                    return
                size = int(bytes(body[:end]).split(b";", 1)[0], 16)
                del body[: end + 2]
                if size == 0:
                    self._finish()
                    return
                self._chunk_left = size
            if self._chunk_left > 0:
                take = min(self._chunk_left, len(body))
                if take == 0:
                    return
                self._read_events(bytes(body[:take]))
                del body[:take]
                self._chunk_left -= take
                if self._chunk_left > 0:
                    return
            if len(body) < 2:
                return
            del body[:2]  # the CRLF after a chunk
            self._chunk_left = None

    def _read_events(self, data: bytes) -> None:
        for event in self._events.feed(self._utf8.decode(data)):
            event_id = int(event.id) if event.id is not None else None
            if self.last_id is not None and event_id != self.last_id + 1:
                self.id_gaps += 1
            self.last_id = event_id
            if event.event in TERMINAL_EVENTS:
                self.terminal = event.event


# --- the load -----------------------------------------------------------------------------------


@dataclass
class Latencies:
    reads_ms: list[float] = field(default_factory=list)
    imports_ms: list[float] = field(default_factory=list)


class Load:
    """The mixed load against one daemon; :meth:`stop` ends it without counting what stopping
    closes as errors."""

    def __init__(
        self, base_url: str, port: int, catalog: list[dict[str, Any]], streams: int, errors: Errors
    ) -> None:
        self.base_url = base_url
        self.port = port
        self.catalog = catalog
        self.stream_count = streams
        self.errors = errors
        self.jobs = RunningJobs()
        self.latencies = Latencies()
        self.tally: Counter[str] = Counter()  # what was done, by what
        self.artists: list[tuple[str, str]] = []  # (id, slug) of imported artists
        self.etags: dict[str, str] = {}
        self.exchanges: set[SseExchange] = set()
        self.stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None
        return self._session

    def start(self) -> None:
        self._session = aiohttp.ClientSession(
            self.base_url, timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S)
        )
        self._tasks = [
            asyncio.create_task(self._imports()),
            asyncio.create_task(self._cron()),
            *(asyncio.create_task(self._reads(n)) for n in range(READ_WORKERS)),
            *(asyncio.create_task(self._viewer()) for _ in range(self.stream_count)),
        ]

    async def stop(self) -> None:
        self.stopping = True
        for task in self._tasks:
            task.cancel()
        for exchange in list(self.exchanges):
            exchange.close()
        outcomes = await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.session.close()
        for outcome in outcomes:  # a bug in the load must not pass for a quiet daemon
            if isinstance(outcome, Exception) and not isinstance(outcome, asyncio.CancelledError):
                raise outcome

    async def _request(
        self, what: str, method: str, path: str, *, expected: tuple[int, ...], **kwargs: Any
    ) -> tuple[int, dict[str, str], bytes] | None:
        """One request; None (and the error counted) when it got no answer or a wrong one."""
        try:
            async with self.session.request(method, path, **kwargs) as response:
                body = await response.read()
                status, headers = response.status, dict(response.headers)
        except TimeoutError:
            if not self.stopping:
                self.errors.add("timeout", f"{what}: {method} {path}")
            return None
        except (aiohttp.ClientError, OSError) as exc:
            if not self.stopping:
                self.errors.add("connection_error", f"{what}: {method} {path}: {exc!r}")
            return None
        self.tally[f"{what} {status}"] += 1
        if not self.errors.check(f"{what} {method} {path}", status, expected, body[:200].decode()):
            return None
        return status, headers, body

    async def _every(self, interval_s: float, step: Callable[[int], Any]) -> None:
        """``step(n)`` at a steady pace (n = 0, 1, ...); a late step is not made up in a burst."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        for n in itertools.count():
            await step(n)
            next_at = max(next_at + interval_s, loop.time())
            await asyncio.sleep(next_at - loop.time())

    async def _imports(self) -> None:
        ways = ("name", "spotifyId", "ticketmasterId")

        async def one(n: int) -> None:
            artist = random.choice(self.catalog)
            way = ways[n % len(ways)]
            started = time.perf_counter()
            answer = await self._request(
                "import", "POST", "/api/artists/import", json={way: artist[way]},
                expected=(200, 202),
            )  # fmt: skip
            if answer is None:
                return
            self.latencies.imports_ms.append((time.perf_counter() - started) * 1000)
            job = json.loads(answer[2])
            self.artists.append((job["artist"]["id"], job["artist"]["slug"]))
            self.jobs.started(Target(job["progressUrl"], "import"))

        await self._every(IMPORT_INTERVAL_S, one)

    async def _cron(self) -> None:
        auth = {"Authorization": f"Bearer {CRON_SECRET}"}

        async def one(n: int) -> None:
            job = CRON_JOBS[n % len(CRON_JOBS)]
            answer = await self._request(
                "cron", "POST", f"/api/cron/{job}", headers=auth, expected=(202, 409)
            )
            if answer is None:
                return
            body = json.loads(answer[2])
            run_id = body.get("runId")
            if run_id:  # 409 names the run in progress: viewers may follow it too
                self.jobs.started(Target(f"/api/cron/runs/{run_id}/events", "run", CRON_SECRET))

        await self._every(CRON_INTERVAL_S, one)

    def _read_path(self) -> str:
        roll = random.random()
        if self.artists and roll < 0.5:
            return f"/api/artists/{random.choice(self.artists)[0]}"
        if self.artists and roll < 0.75:
            return f"/api/artists/{random.choice(self.artists)[1]}"
        period = random.choice(("day", "week", "month"))
        return f"/api/trending/artists?period={period}&limit={random.choice((10, 20, 50))}"

    async def _reads(self, worker: int) -> None:
        await asyncio.sleep(worker / READS_PER_S)  # the workers interleave

        async def one(_n: int) -> None:
            path = self._read_path()
            revalidate = random.random() < 0.5 and path in self.etags
            headers = {"If-None-Match": self.etags[path]} if revalidate else {}
            started = time.perf_counter()
            answer = await self._request(
                "read", "GET", path, headers=headers, expected=(200, 304) if revalidate else (200,)
            )
            if answer is None:
                return
            self.latencies.reads_ms.append((time.perf_counter() - started) * 1000)
            if etag := answer[1].get("ETag"):
                self.etags[path] = etag

        await self._every(READ_WORKERS / READS_PER_S, one)

    async def _viewer(self) -> None:
        """One viewer for the whole run (see the module docstring)."""
        target: Target | None = None
        last_id: int | None = None
        after_terminal = False
        while True:
            if target is None:
                target = await self.jobs.pick()
                last_id, after_terminal = None, False
                await asyncio.sleep(random.uniform(0, ARRIVAL_SPREAD_S))
            try:
                exchange = await self._stream(target, last_id)
            except OSError as exc:
                if not self.stopping:
                    self.errors.add("connection_error", f"stream {target.path}: {exc!r}")
                await asyncio.sleep(SSE_RETRY_S)
                continue
            if self.stopping:
                return
            self.tally[f"stream {exchange.status}"] += 1
            if exchange.id_gaps:
                self.errors.add("sse_id_gap", f"{target.path}: {exchange.id_gaps} gaps")
            if after_terminal and exchange.status == 204:
                target = None  # the EventSource stops; the viewer moves on
                continue
            expected = (204,) if after_terminal else (200,)
            if not self.errors.check(f"stream {target.path}", exchange.status, expected):
                target = None
                await asyncio.sleep(SSE_RETRY_S)
                continue
            if exchange.terminal is not None:
                self.jobs.ended(target)
                self.tally[f"{target.kind} {exchange.terminal}"] += 1
                after_terminal = True
            else:
                self.errors.add(
                    "sse_dropped",
                    f"{target.path} after id {exchange.last_id} (ended: {exchange.ended})",
                )
            last_id = exchange.last_id
            await asyncio.sleep(SSE_RETRY_S * random.uniform(1, 1.5))

    async def _stream(self, target: Target, last_id: int | None) -> SseExchange:
        """One exchange, to its end; a stream silent for STALL_S is counted and closed."""
        loop = asyncio.get_running_loop()
        exchange = SseExchange(self._sse_request(target, last_id), last_id)
        self.exchanges.add(exchange)
        try:
            await loop.create_connection(lambda: exchange, "127.0.0.1", self.port)
            while not exchange.done.done():
                await asyncio.wait({exchange.done}, timeout=STALL_S)
                if loop.time() - exchange.last_data_at > STALL_S and not exchange.done.done():
                    self.errors.add("sse_stalled", f"{target.path} after id {exchange.last_id}")
                    exchange.close()
                    await exchange.done
        finally:
            self.exchanges.discard(exchange)
        return exchange

    def _sse_request(self, target: Target, last_id: int | None) -> bytes:
        lines = [
            f"GET {target.path} HTTP/1.1",
            f"Host: 127.0.0.1:{self.port}",
            "Accept: text/event-stream",
            "Cache-Control: no-cache",
        ]
        if last_id is not None:
            lines.append(f"Last-Event-ID: {last_id}")
        if target.token is not None:
            lines.append(f"Authorization: Bearer {target.token}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()


# --- the daemon and its samples -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    at_s: float
    rss_bytes: int
    cpu_s: float  # user + system, since the daemon started
    threads: int
    fds: int
    client_sockets: int  # connections to the daemon's port (not closed by the client)
    client_close_wait: int  # client connections the client closed and the daemon still holds
    unix_sockets: int  # Postgres (the throwaway server listens on a Unix socket)
    upstream_sockets: int
    db_pool_size: int  # the daemon's theset_db_pool_connections, in use + idle
    db_pool_in_use: int
    streams_open: int  # the daemon's theset_sse_streams_open
    imports_running: int
    jobs_running: int
    viewers_connected: int  # this side's open stream connections
    tasks: int  # the daemon's theset_asyncio_tasks

    @property
    def idle(self) -> bool:
        return self.streams_open == 0 and self.imports_running == 0 and self.jobs_running == 0

    @property
    def fds_fixed(self) -> int:
        """Descriptors that no load explains: all but the live client connections, the database
        pool's and the upstream ones (the pools are bounded; a leak there starves them, and shows
        as errors). Left: the listening socket, LISTEN connections, pipes, the event loop's own,
        and any client connection the daemon kept after the client closed it."""
        return self.fds - self.client_sockets - self.db_pool_size - self.upstream_sockets


class Daemon:
    """``theset-daemon run`` as a subprocess; its log read line by line (``error`` lines are
    errors, warnings are tallied by event)."""

    def __init__(self, process: asyncio.subprocess.Process, port: int, errors: Errors) -> None:
        self.process = process
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.psutil = psutil.Process(process.pid)
        self.errors = errors
        self.warnings: Counter[str] = Counter()
        self.exit_code: int | None = None
        self._reader = asyncio.create_task(self._read_log())

    async def _read_log(self) -> None:
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            try:
                line = json.loads(raw)
            except ValueError:
                self.errors.add("daemon_log_error", raw.decode(errors="replace").strip())
                continue
            if line.get("level") in ("error", "critical"):
                self.errors.add("daemon_log_error", raw.decode().strip())
            elif line.get("level") == "warning":
                self.warnings[str(line.get("event"))] += 1

    def sample(self, at_s: float, metrics: dict[str, float], viewers: int, sim_port: int) -> Sample:
        def pool(state: str) -> float:
            return metrics.get(f'theset_db_pool_connections{{state="{state}"}}', 0)

        sockets: Counter[str] = Counter()
        for c in self.psutil.net_connections(kind="inet"):
            if c.laddr and c.laddr.port == self.port:
                sockets[
                    {"LISTEN": "listen", "CLOSE_WAIT": "close_wait"}.get(c.status, "client")
                ] += 1
            elif c.raddr and c.raddr.port == sim_port:
                sockets["upstream"] += 1
        return Sample(
            at_s=at_s,
            rss_bytes=self.psutil.memory_info().rss,
            cpu_s=sum(self.psutil.cpu_times()[:2]),
            threads=self.psutil.num_threads(),
            fds=len(os.listdir(f"/proc/{self.process.pid}/fd")),
            client_sockets=sockets["client"],
            client_close_wait=sockets["close_wait"],
            unix_sockets=len(self.psutil.net_connections(kind="unix")),
            upstream_sockets=sockets["upstream"],
            db_pool_size=int(pool("in_use") + pool("idle")),
            db_pool_in_use=int(pool("in_use")),
            streams_open=int(metrics.get("theset_sse_streams_open", -1)),
            imports_running=int(metrics.get("theset_imports_running", -1)),
            jobs_running=int(metrics.get("theset_jobs_running", -1)),
            viewers_connected=viewers,
            tasks=int(metrics.get("theset_asyncio_tasks", -1)),
        )

    async def stop(self) -> int:
        if self.process.returncode is None:
            self.process.terminate()
        try:
            async with asyncio.timeout(60):
                code = await self.process.wait()
        except TimeoutError:
            self.process.kill()
            code = await self.process.wait()
        await self._reader
        self.exit_code = code
        return code


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _daemon_config(sim_url: str, port: int) -> str:
    """The operator's file: live upstreams aimed at the simulator, the contract's rates, the daily
    quotas raised (see the module docstring); secrets come from the environment."""
    return f"""
[server]
port = {port}
[database]
pool_min_size = {POOL_MIN_SIZE}
pool_max_size = {POOL_MAX_SIZE}
[log]
level = "warning"
[shutdown]
grace_seconds = 10
[upstream]
mode = "live"
[upstream.spotify]
api_base_url = "{sim_url}/v1"
accounts_base_url = "{sim_url}"
[upstream.ticketmaster]
base_url = "{sim_url}/discovery/v2"
daily_quota = {DAILY_QUOTA}
[upstream.setlistfm]
base_url = "{sim_url}/rest/1.0"
daily_quota = {DAILY_QUOTA}
"""


@contextlib.asynccontextmanager
async def running_daemon(
    sim_url: str, dsn: str, workdir: Path, errors: Errors
) -> AsyncIterator[Daemon]:
    port = _free_port()
    config_path = workdir / "soak.toml"
    config_path.write_text(_daemon_config(sim_url, port))
    c = SIM_CREDENTIALS
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "CRON_SECRET": CRON_SECRET,
        "ADMIN_API_KEY": ADMIN_KEY,
        "SPOTIFY_CLIENT_ID": c.spotify_client_id,
        "SPOTIFY_CLIENT_SECRET": c.spotify_client_secret,
        "TICKETMASTER_API_KEY": c.ticketmaster_api_key,
        "SETLISTFM_API_KEY": c.setlistfm_api_key,
    }
    env.pop("NOTIFY_SOCKET", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "theset_daemon.cli", "run", "--config", str(config_path),
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    daemon = Daemon(process, port, errors)
    try:
        await until_ready(daemon.base_url, process)
        yield daemon
    finally:
        await daemon.stop()


async def _metrics(
    session: aiohttp.ClientSession, base_url: str, errors: Errors
) -> dict[str, float]:
    """The daemon's gauges from ``/metrics`` (name with labels -> value)."""
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    try:
        async with session.get(f"{base_url}/metrics", headers=auth) as response:
            text = await response.text()
            if not errors.check("GET /metrics", response.status, (200,), text[:200]):
                return {}
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        errors.add("connection_error", f"GET /metrics: {exc!r}")
        return {}
    values = {}
    for line in text.splitlines():
        if line.startswith("theset_") and " " in line:
            name, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                values[name] = float(value)
    return values


# --- the run ------------------------------------------------------------------------------------


def serve_simulator(port: int, artists: int) -> int:
    """The simulator with the contract's rates and the raised daily quotas (a child process)."""
    from theset_daemon import log
    from theset_daemon.config import LogSettings, SimulatorSettings
    from theset_daemon.sim import SimLimits
    from theset_daemon.sim.serve import run_simulator

    log.configure(LogSettings(level="info"))
    limits = SimLimits(ticketmaster_daily_quota=DAILY_QUOTA, setlistfm_daily_quota=DAILY_QUOTA)
    settings = SimulatorSettings(seed=1, artists=artists, latency_ms=SIM_LATENCY_MS)
    return run_simulator(settings, limits, port=port)


def _note(started: float, text: str) -> None:
    print(f"# {BENCH} {time.monotonic() - started:7.1f} s  {text}", file=sys.stderr, flush=True)


async def soak(minutes: float, streams: int) -> list[Row]:
    run_s = minutes * 60
    warmup_s = max(WARMUP_FRACTION * run_s, WARMUP_MIN_S)
    if run_s - warmup_s < JUDGED_WINDOW_S:
        raise SystemExit(f"--minutes {minutes:g}: the run must outlast the warm-up "
                         f"({warmup_s / 60:g} min) by {JUDGED_WINDOW_S:g} s")  # fmt: skip
    _raise_nofile(streams)
    errors = Errors()
    samples: list[Sample] = []
    with throwaway_postgres() as dsn, tempfile.TemporaryDirectory(prefix="theset-soak-") as tmp:
        sim = simulator_process(
            lambda port: ["bench.soak", "--simulator", str(port), str(SIM_ARTISTS)], timeout_s=60
        )
        async with sim as sim_url, aiohttp.ClientSession() as session:
            async with session.get(f"{sim_url}/_sim/catalog?limit={SIM_ARTISTS}") as response:
                catalog = (await response.json())["artists"]
            sim_port = int(sim_url.rsplit(":", 1)[1])
            async with running_daemon(sim_url, dsn, Path(tmp), errors) as daemon:
                load = Load(daemon.base_url, daemon.port, catalog, streams, errors)
                load.artists = await _seed(dsn, catalog)
                idle_before = await _idle_sample(session, daemon, sim_port, errors)
                started = time.monotonic()
                _note(started, f"daemon pid {daemon.process.pid} ready, load on: {minutes:g} min "
                      f"(warm-up {warmup_s / 60:g}), {streams} streams")  # fmt: skip
                load.start()
                try:
                    while True:
                        at_s = time.monotonic() - started
                        if daemon.process.returncode is not None:
                            raise RuntimeError(f"the daemon exited: {daemon.process.returncode}")
                        metrics = await _metrics(session, daemon.base_url, errors)
                        viewers = sum(1 for e in load.exchanges if e.status == 200)
                        sample = daemon.sample(at_s, metrics, viewers, sim_port)
                        samples.append(sample)
                        _note(started, _sample_text(sample, errors))
                        if at_s >= run_s:
                            break
                        await asyncio.sleep(min(SAMPLE_INTERVAL_S, run_s - at_s + 0.01))
                finally:
                    await load.stop()
                _note(started, "load stopped; waiting for the work in flight to end")
                idle_after = await _idle_sample(session, daemon, sim_port, errors)
                outcomes = await _outcomes(dsn, errors)
            assert daemon.exit_code is not None
    for kind, examples in errors.examples.items():
        for example in examples:
            print(f"# {BENCH} error {kind}: {example}", file=sys.stderr)
    for event, count in daemon.warnings.most_common():
        print(f"# {BENCH} daemon warning {event}: {count}", file=sys.stderr)
    _note(started, f"tally: {dict(sorted(load.tally.items()))}")
    _note(started, f"imports by status: {dict(outcomes['imports'])}")
    _note(started, f"runs by job and status: {dict(sorted(outcomes['runs'].items()))}")
    idle = (idle_before, idle_after)
    return _rows(streams, warmup_s, samples, idle, errors, load, outcomes, daemon.exit_code)


async def _idle_sample(
    session: aiohttp.ClientSession, daemon: Daemon, sim_port: int, errors: Errors
) -> Sample | None:
    """A sample of the daemon with nothing to do (no import, run or stream), or None when the
    work in flight outlasted :data:`IDLE_WAIT_MAX_S`."""
    deadline = time.monotonic() + IDLE_WAIT_MAX_S
    while time.monotonic() < deadline:
        sample = daemon.sample(0.0, await _metrics(session, daemon.base_url, errors), 0, sim_port)
        if sample.idle:
            await asyncio.sleep(2.0)  # closed connections' handler tasks end a moment later
            return daemon.sample(0.0, await _metrics(session, daemon.base_url, errors), 0, sim_port)
        await asyncio.sleep(2.0)
    return None


async def _seed(dsn: str, catalog: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The simulator's whole catalog as earlier imports left it (the catalog sync bench's seed), so
    the cron runs have a catalog to walk from the start (minutes each, which is what keeps streams
    open); returns every artist's (id, slug) for the reads."""
    async with asyncpg.create_pool(dsn, min_size=1, max_size=1) as pool:
        await seed_artists(pool, catalog)
        rows = await pool.fetch("SELECT id::text, slug FROM artists")
    return [(r["id"], r["slug"]) for r in rows]


async def _outcomes(dsn: str, errors: Errors) -> dict[str, Counter[str]]:
    """How the imports and runs ended, from the database (no viewer need have followed each);
    a failed import, a failed or partial run is an error."""
    conn = await asyncpg.connect(dsn)
    try:
        imports = await conn.fetch("SELECT job_id, status, error FROM import_status")
        runs = await conn.fetch("SELECT id, job_name, status, error, errors FROM cron_logs")
    finally:
        await conn.close()
    for row in imports:
        if row["status"] == "failed":
            errors.add("import_failed", f"{row['job_id']}: {row['error']}")
    for row in runs:
        if row["status"] in ("failed", "partial"):
            detail = f"{row['job_name']} {row['id']} {row['status']}: {row['error']}"
            errors.add("run_failed_or_partial", f"{detail} {row['errors'][:200]}")
    return {
        "imports": Counter(r["status"] for r in imports),
        "runs": Counter(f"{r['job_name']} {r['status']}" for r in runs),
    }


def _sample_text(s: Sample, errors: Errors) -> str:
    return (
        f"rss {s.rss_bytes / 2**20:.1f} MB, threads {s.threads}, fds {s.fds} = clients "
        f"{s.client_sockets} + pool {s.db_pool_size} + upstream {s.upstream_sockets} + fixed "
        f"{s.fds_fixed} (close_wait {s.client_close_wait}, unix {s.unix_sockets}); streams "
        f"{s.streams_open} (viewers {s.viewers_connected}), imports {s.imports_running}, jobs "
        f"{s.jobs_running}, pool in use {s.db_pool_in_use}; errors {sum(errors.counts.values())}"
    )


def _window_median(samples: list[Sample], end_s: float, value: Callable[[Sample], float]) -> float:
    """The median of ``value`` over the samples of the JUDGED_WINDOW_S ending at ``end_s``."""
    window = [value(s) for s in samples if end_s - JUDGED_WINDOW_S <= s.at_s <= end_s]
    return statistics.median(window)


def _rows(
    streams: int,
    warmup_s: float,
    samples: list[Sample],
    idle: tuple[Sample | None, Sample | None],
    errors: Errors,
    load: Load,
    outcomes: dict[str, Counter[str]],
    exit_code: int,
) -> list[Row]:
    end_s = samples[-1].at_s
    after = [s for s in samples if s.at_s > warmup_s]

    def at_warmup_end(value: Callable[[Sample], float]) -> float:
        return _window_median(samples, warmup_s, value)

    def at_end(value: Callable[[Sample], float]) -> float:
        return _window_median(samples, end_s, value)

    def rss(s: Sample) -> float:
        return s.rss_bytes / 2**20

    def fixed(s: Sample) -> float:
        return s.fds_fixed

    warm = max((s for s in samples if s.at_s <= warmup_s), key=lambda s: s.at_s)
    runs = outcomes["runs"]
    reads_ms = load.latencies.reads_ms
    streams_open = [s.streams_open for s in after]
    before, after_load = idle
    tasks_growth = (
        [Row(BENCH, "asyncio tasks, idle after the load - idle before",
             after_load.tasks - before.tasks, "tasks", "<= 0")]
        if before is not None and after_load is not None
        else [Row(BENCH, "asyncio tasks: daemon never idle after the load", 1, "", "0",
                  note=f"work in flight outlasted {IDLE_WAIT_MAX_S:g} s; not judged")]
    )  # fmt: skip
    return [
        Row(BENCH, "run length", end_s / 60, "min"),
        Row(BENCH, "warm-up", warmup_s / 60, "min"),
        Row(BENCH, "RSS at warm-up end", at_warmup_end(rss), "MB"),
        Row(BENCH, "RSS at end", at_end(rss), "MB"),
        Row(BENCH, "RSS peak after warm-up", max(rss(s) for s in after), "MB"),
        Row(BENCH, "RSS growth after warm-up",
            (at_end(rss) - at_warmup_end(rss)) / at_warmup_end(rss) * 100, "%",
            f"< {RSS_GROWTH_MAX_PCT:g}"),
        Row(BENCH, "fds at warm-up end, all", at_warmup_end(lambda s: s.fds), "fds"),
        Row(BENCH, "fds at end, all", at_end(lambda s: s.fds), "fds"),
        Row(BENCH, "fds not explained by the load at warm-up end", at_warmup_end(fixed), "fds",
            note="all but client connections, the database pool and upstream connections"),
        Row(BENCH, "fds not explained by the load at end", at_end(fixed), "fds"),
        Row(BENCH, "fds not explained by the load: growth after warm-up",
            at_end(fixed) - at_warmup_end(fixed), "fds", "<= 0"),
        Row(BENCH, "client connections in CLOSE_WAIT at end",
            at_end(lambda s: s.client_close_wait), "sockets"),
        Row(BENCH, "database pool connections at end", at_end(lambda s: s.db_pool_size),
            "connections", note=f"pool_max_size {POOL_MAX_SIZE}"),
        Row(BENCH, "upstream connections at end", at_end(lambda s: s.upstream_sockets),
            "connections"),
        *(Row(BENCH, f"asyncio tasks idle {when} the load", s.tasks, "tasks")
          for when, s in (("before", before), ("after", after_load)) if s is not None),
        *tasks_growth,
        Row(BENCH, "asyncio tasks at end of load", at_end(lambda s: s.tasks), "tasks"),
        Row(BENCH, "threads at warm-up end", at_warmup_end(lambda s: s.threads), "threads"),
        Row(BENCH, "threads at end", at_end(lambda s: s.threads), "threads"),
        Row(BENCH, "daemon CPU after warm-up",
            (samples[-1].cpu_s - warm.cpu_s) / (end_s - warm.at_s) * 100, "% of a core"),
        Row(BENCH, "SSE streams open after warm-up, median", statistics.median(streams_open),
            "streams", f">= {STREAMS_HELD_MIN_FRACTION * streams:,.0f}"),
        Row(BENCH, "SSE streams open after warm-up, min", min(streams_open), "streams"),
        Row(BENCH, "streams followed to their terminal event",
            sum(load.tally[f"{kind} {event}"] for kind in ("import", "run")
                for event in TERMINAL_EVENTS), "streams"),
        Row(BENCH, "imports started (202 or 200)",
            load.tally["import 202"] + load.tally["import 200"], "imports"),
        Row(BENCH, "imports completed", outcomes["imports"]["completed"], "imports"),
        Row(BENCH, "import phase 1 p99", percentile(load.latencies.imports_ms, 99), "ms"),
        Row(BENCH, "cron triggers answered 202", load.tally["cron 202"], "triggers"),
        Row(BENCH, "cron triggers answered 409 already_running", load.tally["cron 409"],
            "triggers"),
        Row(BENCH, "cron runs succeeded",
            sum(n for k, n in runs.items() if k.endswith(" succeeded")), "runs"),
        Row(BENCH, "reads", len(reads_ms) / end_s, "reads/s"),
        Row(BENCH, "read p50", percentile(reads_ms, 50), "ms"),
        Row(BENCH, "read p99", percentile(reads_ms, 99), "ms"),
        Row(BENCH, "daemon exit code after SIGTERM", exit_code, "", "0"),
        *(Row(BENCH, f"errors: {kind}", errors.counts[kind], "errors", "0")
          for kind in ERROR_KINDS),
    ]  # fmt: skip


def _raise_nofile(streams: int) -> None:
    """Room for the streams in this process and the daemon (which inherits the limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2 * streams + 1024:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench soak", description=" ".join(__doc__.split("\n\n")[0].split())
    )
    parser.add_argument("--minutes", type=float, default=DEFAULT_MINUTES,
                        help=f"length of the run (default {DEFAULT_MINUTES:g})")  # fmt: skip
    parser.add_argument("--streams", type=int, default=DEFAULT_STREAMS,
                        help=f"SSE streams held open (default {DEFAULT_STREAMS:,})")  # fmt: skip
    arguments = parser.parse_args(argv)
    from theset_daemon import log
    from theset_daemon.config import LogSettings

    log.configure(LogSettings(level="error"))
    rows = asyncio.run(soak(arguments.minutes, arguments.streams))
    figures = report.reduce([rows])
    print(f"# machine: {report.machine()}")
    report.print_table(figures)
    for figure in figures:
        if figure.note:
            print(f"# {BENCH}: {figure.metric}: {figure.note}")
    missed = [f for f in figures if f.met is False]
    if missed:
        print(f"# {BENCH}: FAIL, {len(missed)} criteria missed: "
              + "; ".join(f.metric for f in missed))  # fmt: skip
        return 1
    print(f"# {BENCH}: PASS")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--simulator":
        sys.exit(serve_simulator(int(sys.argv[2]), int(sys.argv[3])))
    sys.exit(main(sys.argv[1:]))
