"""SSE fan-out (issue 5): the broker against the plain aiohttp pattern, in one run.

``python -m bench sse``. A throwaway Postgres; each server runs in its own process (so its RSS is
its own), the load client in another (``python -m bench.sse client``), raw asyncio sockets, many
connections per process. Measured for both the broker (``fast``) and the plain pattern
(``naive``: one asyncio.Queue and one writer coroutine per stream, the event encoded per stream):

* 5,000 streams on one job; events recorded in Postgres by this process (so through
  LISTEN/NOTIFY, as in production) carry their wall-clock record time; the client notes, for each
  event, when the last of the 5,000 connections received it. p50/p99 of that over the events.
* RSS per stream: the server's RSS growth divided by the streams, at 5,000 live and at 10,000
  idle streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import sys
import time
import uuid
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
from aiohttp import web

from bench.common import Row, median, percentile, throwaway_postgres

NAME = "sse"
LIVE_STREAMS = 5_000
IDLE_STREAMS = 10_000
EVENTS = 40
EVENT_GAP_S = 0.15
PAD = {
    "artistId": str(uuid.uuid4()),
    "status": "running",
    "stage": "songs",
    "message": "Importing songs: album 7 of 23",
    "counts": {"shows": 41, "venues": 37, "albums": 23, "songs": 311},
    "error": None,
    "startedAt": "2026-11-28T16:00:00Z",
    "updatedAt": "2026-11-28T16:00:05Z",
    "finishedAt": None,
}


def _raise_nofile() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


REPO = Path(__file__).resolve().parents[1]


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# --- the servers (child processes) --------------------------------------------------------------


async def _naive_app(dsn: str) -> AsyncGenerator[web.Application, None]:
    """The plain pattern: LISTEN, read the new events, put them on every stream's queue."""
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
    queues: dict[UUID, set[asyncio.Queue[tuple[int, str, dict[str, Any]]]]] = {}
    fetches: set[asyncio.Task[None]] = set()

    async def fetch(job: UUID, seq: int) -> None:
        rows = await pool.fetch(
            "SELECT seq, event, payload FROM import_events WHERE job_id = $1 AND seq = $2",
            job,
            seq,
        )
        for row in rows:
            item = (row["seq"], row["event"], json.loads(row["payload"]))
            for queue in queues.get(job, ()):
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(item)

    def on_notify(_c: object, _p: int, _ch: str, payload: object) -> None:
        note = json.loads(str(payload))
        task = asyncio.create_task(fetch(UUID(note["j"]), int(note["s"])))
        fetches.add(task)
        task.add_done_callback(fetches.discard)

    listener = await asyncpg.connect(dsn)
    await listener.add_listener("theset_progress", on_notify)

    async def stream(request: web.Request) -> web.StreamResponse:
        job = UUID(request.match_info["job"])
        queue: asyncio.Queue[tuple[int, str, dict[str, Any]]] = asyncio.Queue(256)
        queues.setdefault(job, set()).add(queue)
        try:
            response = web.StreamResponse(
                headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
            )
            await response.prepare(request)
            await response.write(b"retry: 2000\n\n")
            row = await pool.fetchrow(
                "SELECT seq, event, payload FROM import_events WHERE job_id = $1 "
                "ORDER BY seq DESC LIMIT 1",
                job,
            )
            if row is not None:
                data = json.dumps(json.loads(row["payload"]))
                await response.write(
                    f"id: {row['seq']}\nevent: {row['event']}\ndata: {data}\n\n".encode()
                )
            while True:
                try:
                    async with asyncio.timeout(15):
                        seq, event, payload = await queue.get()
                except TimeoutError:
                    await response.write(b": ping\n\n")
                    continue
                data = json.dumps(payload)
                await response.write(f"id: {seq}\nevent: {event}\ndata: {data}\n\n".encode())
                if event != "progress":
                    await response.write_eof()
                    return response
        finally:
            queues[job].discard(queue)

    app = web.Application()
    app.router.add_get("/s/{job}", stream)
    yield app
    await listener.close()
    await pool.close()


async def _floor_app(dsn: str) -> AsyncGenerator[web.Application, None]:
    """The floor under any aiohttp SSE design: headers, one line, then a handler that only waits."""
    del dsn
    forever: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"retry: 2000\n\nid: 1\nevent: progress\ndata: {}\n\n")
        await forever
        return response

    app = web.Application()
    app.router.add_get("/s/{job}", stream)
    yield app


async def _fast_app(dsn: str) -> AsyncGenerator[web.Application, None]:
    from theset_daemon import config
    from theset_daemon.config import SettingsHolder
    from theset_daemon.db.pool import open_database
    from theset_daemon.progress import open_broker, sse_response

    text = '[log]\nlevel = "error"\n[database]\npool_max_size = 4\n'
    holder = SettingsHolder(config.parse(text, {"DATABASE_URL": dsn}), Path("-"))
    async with (
        open_database(holder.current.database) as database,
        open_broker(database, holder) as broker,
    ):

        async def stream(request: web.Request) -> web.StreamResponse:
            return await sse_response(request, broker, "import", UUID(request.match_info["job"]))

        app = web.Application()
        app.router.add_get("/s/{job}", stream)
        app.on_shutdown.append(lambda _app: broker.close())
        yield app


async def serve(mode: str, dsn: str) -> None:
    _raise_nofile()
    from theset_daemon import log
    from theset_daemon.config import LogSettings

    log.configure(LogSettings(level="error"))
    factory = {"fast": _fast_app, "naive": _naive_app, "floor": _floor_app}[mode]
    async with contextlib.aclosing(factory(dsn)) as apps:
        app = await anext(apps)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=8192)
        await site.start()
        port = runner.addresses[0][1]
        print(f"ready {port}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        await runner.cleanup()


# --- the load client (a child process) --------------------------------------------------------


class _Stream(asyncio.Protocol):
    __slots__ = ("arrivals", "closed", "started", "tail")

    def __init__(self, arrivals: dict[int, float], started: asyncio.Future[None]) -> None:
        self.arrivals = arrivals
        self.started = started
        self.closed = asyncio.get_running_loop().create_future()
        self.tail = b""

    def data_received(self, data: bytes) -> None:
        now = time.time()
        if not self.started.done():
            self.started.set_result(None)
        data = self.tail + data
        if b"event: complete" in data and not self.closed.done():
            self.closed.set_result(None)  # keep-alive: the response ends, the connection stays
        start = 0
        while (at := data.find(b'{"t":', start)) >= 0:
            end = data.find(b",", at)
            seq_at = data.rfind(b"id: ", 0, at)
            if end < 0 or seq_at < 0:
                break
            seq = int(data[seq_at + 4 : data.find(b"\n", seq_at)])
            delay = now - float(data[at + 5 : end])
            if delay > self.arrivals.get(seq, -1.0):
                self.arrivals[seq] = delay
            start = end
        self.tail = data[data.rfind(b"\n\n") + 2 :] if b"\n\n" in data else data

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


async def client(port: int, job: str, streams: int) -> None:
    _raise_nofile()
    loop = asyncio.get_running_loop()
    arrivals: dict[int, float] = {}
    request = f"GET /s/{job} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    gate = asyncio.Semaphore(256)
    protocols: list[_Stream] = []

    async def open_one() -> None:
        async with gate:
            started = loop.create_future()
            _transport, protocol = await loop.create_connection(
                lambda: _Stream(arrivals, started), "127.0.0.1", port
            )
            protocol_ = protocol
            assert isinstance(protocol_, _Stream)
            protocols.append(protocol_)
            _transport.write(request)
            await started

    await asyncio.gather(*(open_one() for _ in range(streams)))
    await asyncio.sleep(0.5)  # the first (replayed) event has arrived everywhere
    arrivals.clear()
    print("connected", flush=True)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(60):
            await asyncio.gather(*(p.closed for p in protocols))
    print(json.dumps({"delays_s": arrivals}), flush=True)


# --- the orchestration -------------------------------------------------------------------------


async def _spawn(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.sse", *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip


async def _line(process: asyncio.subprocess.Process, timeout_s: float = 60) -> str:
    assert process.stdout is not None
    async with asyncio.timeout(timeout_s):
        return (await process.stdout.readline()).decode().strip()


_T0 = time.monotonic()


def _note(text: str) -> None:
    print(f"# sse {time.monotonic() - _T0:6.1f} s  {text}", file=sys.stderr)


async def _new_job(conn: asyncpg.Connection) -> UUID:
    from theset_daemon.progress import record_event

    artist = await conn.fetchval(
        "INSERT INTO artists (name, slug) VALUES ('A', $1) RETURNING id", f"a-{uuid.uuid4().hex}"
    )
    job: UUID = await conn.fetchval(
        "INSERT INTO import_status (artist_id, status, stage) VALUES ($1, 'running', 'artist') "
        "RETURNING job_id",
        artist,
    )
    async with conn.transaction():
        await record_event(conn, "import", job, "progress", {"t": time.time(), **PAD})
    return job


async def _measure(mode: str, dsn: str, conn: asyncpg.Connection, streams: int, live: bool
                   ) -> tuple[list[float], float]:  # fmt: skip
    """(per-event delay to the last client in ms, RSS per stream in KB) for one server."""
    from theset_daemon.progress import record_event

    job = await _new_job(conn)
    server = await _spawn("serve", mode, dsn)
    loader: asyncio.subprocess.Process | None = None
    try:
        port = int((await _line(server)).split()[1])
        await asyncio.sleep(0.3)
        rss_before = _rss_kb(server.pid)
        loader = await _spawn("client", str(port), str(job), str(streams))
        assert await _line(loader, 60) == "connected"
        _note(f"{mode}: {streams} streams connected")
        await asyncio.sleep(0.5)
        rss_per_stream = (_rss_kb(server.pid) - rss_before) / streams
        if not live:
            return [], rss_per_stream
        for n in range(EVENTS + 1):
            event = "complete" if n == EVENTS else "progress"
            async with conn.transaction():
                await record_event(conn, "import", job, event, {"t": time.time(), **PAD})  # type: ignore[arg-type]
            await asyncio.sleep(EVENT_GAP_S)
        _note(f"{mode}: events recorded")
        result = json.loads(await _line(loader, 70))
        _note(f"{mode}: client done")
        delays = [d * 1000 for d in result["delays_s"].values()]
        if len(delays) < EVENTS + 1:
            print(f"# sse {mode}: {len(delays)} of {EVENTS + 1} events seen", file=sys.stderr)
        return delays, rss_per_stream
    finally:
        for process in (loader, server):  # no graceful stop needed: just the numbers
            if process is not None and process.returncode is None:
                process.kill()
                await process.wait()


async def run() -> list[Row]:
    from theset_daemon.db.migrate import discover, migrate
    from theset_daemon.db.pool import set_json_codec

    rows: list[Row] = []
    with throwaway_postgres() as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            await set_json_codec(conn)  # record_event writes its payload through the codec
            await migrate(conn, discover())
            results = {}
            for mode in ("naive", "fast"):
                delays, live_rss = await _measure(mode, dsn, conn, LIVE_STREAMS, live=True)
                _, idle_rss = await _measure(mode, dsn, conn, IDLE_STREAMS, live=False)
                results[mode] = (delays, live_rss, idle_rss)
            _, floor_rss = await _measure("floor", dsn, conn, IDLE_STREAMS, live=False)
        finally:
            await conn.close()
    for mode, (delays, live_rss, idle_rss) in results.items():
        label = "broker" if mode == "fast" else "plain queue+coroutine"
        target = mode == "fast"
        rows += [
            Row(NAME, f"{label}: record->last client p50, {LIVE_STREAMS} streams",
                median(delays), "ms"),
            Row(NAME, f"{label}: record->last client p99, {LIVE_STREAMS} streams",
                percentile(delays, 99), "ms", "< 250" if target else ""),
            Row(NAME, f"{label}: RSS per stream, {LIVE_STREAMS} live", live_rss * 1024, "B"),
            Row(NAME, f"{label}: RSS per stream, {IDLE_STREAMS} idle", idle_rss * 1024, "B",
                "<= 12,288 (12 KiB)" if target else ""),
        ]  # fmt: skip
    rows.append(
        Row(NAME, f"aiohttp floor (a handler that only waits): RSS per stream, {IDLE_STREAMS} idle",
            floor_rss * 1024, "B")
    )  # fmt: skip
    return rows


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        asyncio.run(serve(sys.argv[2], sys.argv[3]))
    elif sys.argv[1] == "client":
        asyncio.run(client(int(sys.argv[2]), sys.argv[3], int(sys.argv[4])))
    else:
        from bench.report import run_alone

        run_alone(run)
