"""The event log, the broker and the SSE exchange over a real Postgres and a real aiohttp server:
replay, fan-out, two instances, a lost LISTEN connection, heartbeats, bounded inboxes."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from tests.waiting import eventually
from theset_daemon import config
from theset_daemon.config import SettingsHolder
from theset_daemon.db.pool import Database, open_database
from theset_daemon.progress import ProgressBroker, frames, open_broker, record_event, sse_response
from theset_daemon.progress.store import Kind, stored_events


@dataclass
class Instance:
    database: Database
    broker: ProgressBroker
    client: TestClient[Any, Any]


def holder_for(database_url: str, heartbeat_s: float = 15, queue: int = 256) -> SettingsHolder:
    text = f"[sse]\nheartbeat_seconds = {heartbeat_s}\nqueue_max_events = {queue}\n"
    return SettingsHolder(config.parse(text, {"DATABASE_URL": database_url}), Path("-"))


async def make_instance(
    stack: Any,
    aiohttp_client: Any,
    database_url: str,
    heartbeat_s: float = 15,
    *,
    kind: Kind = "import",
    queue: int = 256,
    send_buffer: int | None = None,
) -> Instance:
    """A database, a broker and an app streaming the ``kind`` events of a job at ``/s/{job}``;
    ``send_buffer`` sets the kernel's send buffer of each stream's socket."""
    holder = holder_for(database_url, heartbeat_s, queue)
    database = await stack.enter_async_context(open_database(holder.current.database))
    broker = await stack.enter_async_context(open_broker(database, holder))

    async def stream(request: web.Request) -> web.StreamResponse:
        if send_buffer is not None:
            assert request.transport is not None
            server_sock = request.transport.get_extra_info("socket")
            server_sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
        return await sse_response(request, broker, kind, UUID(request.match_info["job"]))

    app = web.Application()
    app.router.add_get("/s/{job}", stream)
    app.on_shutdown.append(lambda _app: broker.close())
    return Instance(database, broker, await aiohttp_client(app))


@pytest.fixture
async def stack() -> AsyncIterator[Any]:
    import contextlib

    async with contextlib.AsyncExitStack() as exit_stack:
        yield exit_stack


@pytest.fixture
async def one(stack: Any, aiohttp_client: Any, database_url: str) -> Instance:
    """An instance with the default settings."""
    return await make_instance(stack, aiohttp_client, database_url)


async def new_job(database: Database) -> UUID:
    artist = await database.pool.fetchval(
        "INSERT INTO artists (name, slug) VALUES ('A', $1) RETURNING id", f"a-{uuid.uuid4().hex}"
    )
    job: UUID = await database.pool.fetchval(
        "INSERT INTO import_status (artist_id, status, stage) VALUES ($1, 'running', 'artist') "
        "RETURNING job_id",
        artist,
    )
    return job


async def emit(database: Database, job: UUID, event: str = "progress", n: int = 0) -> int:
    async with database.pool.acquire() as conn, conn.transaction():
        return await record_event(conn, "import", job, event, {"n": n})  # type: ignore[arg-type]


async def read_events(
    client: TestClient[Any, Any],
    job: UUID,
    headers: dict[str, str] | None = None,
    limit_s: float = 10,
) -> list[tuple[int, str, str]]:
    events: list[tuple[int, str, str]] = []
    async with client.get(f"/s/{job}", headers=headers or {}) as response:
        assert response.status == 200
        async with asyncio.timeout(limit_s):
            async for event in frames.read_events(response.content):
                events.append((int(event.id or 0), event.event, event.data))
    return events


async def test_seq_numbers_follow_the_status_row(one: Instance) -> None:
    job = await new_job(one.database)
    assert [await emit(one.database, job, n=i) for i in range(3)] == [1, 2, 3]
    last = await one.database.pool.fetchval(
        "SELECT last_event_seq FROM import_status WHERE job_id = $1", job
    )
    assert last == 3
    assert [e.seq for e in await stored_events(one.database.pool, "import", job, 1)] == [2, 3]


async def test_replay_after_n_then_live_then_close(one: Instance) -> None:
    job = await new_job(one.database)
    for i in range(4):
        await emit(one.database, job, n=i)

    async def finish() -> None:
        await eventually(lambda: one.broker.open_streams == 1, what="the reader live")
        await emit(one.database, job, n=4)
        await emit(one.database, job, "complete", n=5)

    finisher = asyncio.create_task(finish())
    events = await read_events(one.client, job, {"Last-Event-ID": "2"})
    await finisher
    assert [seq for seq, _, _ in events] == [3, 4, 5, 6]
    assert events[-1][1] == "complete"
    # A finished job replays from the start and closes; without an id it starts at the latest.
    assert [s for s, _, _ in await read_events(one.client, job, {"Last-Event-ID": "0"})] == [
        1, 2, 3, 4, 5, 6,
    ]  # fmt: skip
    assert [s for s, _, _ in await read_events(one.client, job)] == [6]
    gone = await one.client.get(f"/s/{job}", headers={"Last-Event-ID": "6"})
    assert gone.status == 204


async def test_a_hundred_streams_see_the_same_sequence(one: Instance) -> None:
    job = await new_job(one.database)
    await emit(one.database, job)
    readers = [asyncio.create_task(read_events(one.client, job, {"Last-Event-ID": "0"}))
               for _ in range(100)]  # fmt: skip
    await eventually(lambda: one.broker.open_streams == 100, what="the readers live")
    for i in range(10):
        await emit(one.database, job, n=i)
    await emit(one.database, job, "complete")
    results = await asyncio.gather(*readers)
    assert all([s for s, _, _ in r] == list(range(1, 13)) for r in results)


async def test_events_cross_instances_within_100_ms(
    one: Instance, stack: Any, aiohttp_client: Any, database_url: str
) -> None:
    two = await make_instance(stack, aiohttp_client, database_url)
    job = await new_job(one.database)
    await emit(one.database, job)
    arrivals: dict[int, float] = {}

    async def watch() -> None:
        async with two.client.get(f"/s/{job}") as response:
            async for raw in response.content:
                line = raw.decode()
                if line.startswith("id:"):
                    arrivals[int(line[3:])] = time.monotonic()
                if line.startswith("event: complete"):
                    return

    watcher = asyncio.create_task(watch())
    await eventually(lambda: two.broker.open_streams == 1, what="the watcher live")
    recorded: dict[int, float] = {}
    for _ in range(5):
        seq = await emit(one.database, job)
        recorded[seq] = time.monotonic()
        await asyncio.sleep(0.05)
    recorded[await emit(one.database, job, "complete")] = time.monotonic()
    await asyncio.wait_for(watcher, 10)
    delays_ms = [(arrivals[s] - t) * 1000 for s, t in recorded.items()]
    assert max(delays_ms) < 100, delays_ms


async def test_a_lost_listen_connection_is_replaced(one: Instance) -> None:
    job = await new_job(one.database)
    await emit(one.database, job)
    reader = asyncio.create_task(read_events(one.client, job, {"Last-Event-ID": "0"}, 20))
    await eventually(lambda: one.broker.open_streams == 1, what="the reader live")
    with capture_logs() as logs:
        await one.database.pool.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' "
            "AND datname = current_database() AND pid <> pg_backend_pid()"  # not another test's
        )
        await emit(one.database, job)  # may be sent while nobody listens: caught up on reconnect
        await eventually(
            lambda: any(e["event"] == "progress_listener_reconnected" for e in logs),
            timeout_s=10,
            what="the LISTEN connection replaced",
        )
    await emit(one.database, job, "complete")
    assert [s for s, _, _ in await reader] == [1, 2, 3]


async def test_a_silent_stream_gets_pings(
    stack: Any, aiohttp_client: Any, database_url: str
) -> None:
    one = await make_instance(stack, aiohttp_client, database_url, heartbeat_s=0.2)
    job = await new_job(one.database)
    await emit(one.database, job)
    pings = 0
    async with one.client.get(f"/s/{job}") as response:
        async with asyncio.timeout(5):
            async for raw in response.content:
                if raw.startswith(b": ping"):
                    pings += 1
                    if pings == 3:
                        break
    assert pings == 3


async def test_close_ends_open_streams(one: Instance) -> None:
    job = await new_job(one.database)
    await emit(one.database, job)
    reader = asyncio.create_task(read_events(one.client, job))
    await eventually(lambda: one.broker.open_streams == 1, what="the reader live")
    await one.broker.close()
    assert [s for s, _, _ in await asyncio.wait_for(reader, 5)] == [1]


async def test_a_slow_client_is_dropped_at_the_queue_bound(
    stack: Any, aiohttp_client: Any, database_url: str
) -> None:
    # A small kernel send buffer, so the backlog is reached after a few events.
    one = await make_instance(stack, aiohttp_client, database_url, queue=4, send_buffer=4096)
    database, broker, client = one.database, one.broker, one.client
    job = await new_job(database)
    await emit(database, job)
    # A client that never reads, with a tiny receive buffer: the server's buffer backs up.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (client.server.host, client.server.port))
    await loop.sock_sendall(sock, f"GET /s/{job} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    try:
        async with asyncio.timeout(10):
            while broker.open_streams != 1:  # noqa: ASYNC110 (polling a counter)
                await asyncio.sleep(0.02)
        big = "x" * 50_000
        for _ in range(40):
            async with database.pool.acquire() as conn, conn.transaction():
                await record_event(conn, "import", job, "progress", {"big": big})
            assert all(
                s.backlog is None or len(s.backlog) <= 4
                for streams in broker._streams.values()
                for s in streams
            )
            if broker.dropped_streams:
                break
        async with asyncio.timeout(5):
            while broker.open_streams:  # noqa: ASYNC110 (polling a counter)
                await asyncio.sleep(0.02)
        assert broker.dropped_streams == 1
    finally:
        sock.close()


async def test_record_event_is_part_of_the_callers_transaction(one: Instance) -> None:
    job = await new_job(one.database)
    await emit(one.database, job)
    async with one.database.pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        assert await record_event(conn, "import", job, "progress", {}) == 2
        await tx.rollback()
    assert await emit(one.database, job) == 2
    assert [e.seq for e in await stored_events(one.database.pool, "import", job)] == [1, 2]


async def test_run_streams_use_the_cron_tables(
    stack: Any, aiohttp_client: Any, database_url: str
) -> None:
    one = await make_instance(stack, aiohttp_client, database_url, kind="run")
    database, broker, client = one.database, one.broker, one.client
    run: UUID = await database.pool.fetchval(
        "INSERT INTO cron_logs (job_name, trigger, status) "
        "VALUES ('calculate-trending', 'http', 'running') RETURNING id"
    )
    async with database.pool.acquire() as conn, conn.transaction():
        await record_event(conn, "run", run, "progress", {"runId": str(run)})
    reader = asyncio.create_task(read_events(client, run))
    await eventually(lambda: broker.open_streams == 1, what="the reader live")
    async with database.pool.acquire() as conn, conn.transaction():
        await record_event(conn, "run", run, "failed", {"runId": str(run)})
    events = await asyncio.wait_for(reader, 5)
    assert [(s, n) for s, n, _ in events] == [(1, "progress"), (2, "failed")]
    assert (await client.get(f"/s/{run}", headers={"Last-Event-ID": "2"})).status == 204


async def test_events_during_a_long_replay_arrive_once_in_order(one: Instance) -> None:
    job = await new_job(one.database)
    async with one.database.pool.acquire() as conn, conn.transaction():
        for i in range(300):
            await record_event(conn, "import", job, "progress", {"n": i, "pad": "x" * 500})
    readers = [
        asyncio.create_task(read_events(one.client, job, {"Last-Event-ID": "0"})) for _ in range(20)
    ]
    for i in range(20):  # recorded while the readers replay the 300 stored events
        await emit(one.database, job, n=i)
    await emit(one.database, job, "complete")
    for events in await asyncio.gather(*readers):
        assert [seq for seq, _, _ in events] == list(range(1, 322))
