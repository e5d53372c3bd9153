"""The broadcaster: one LISTEN connection per daemon, fanning stored events out to SSE streams.

Every event, whichever instance recorded it, arrives as a NOTIFY carrying only (kind, job, seq);
the broker reads the new events of that job from the log once, encodes each once, and hands the
same bytes to every stream of the job. Reading from the log (not trusting the notification)
means a stream never misses or repeats an event: each stream only takes seqs above the last it
sent. After the LISTEN connection is lost the broker reconnects and catches every stream up from
the log, since notifications sent meanwhile are gone.

Hand-written: aiohttp-sse gives a response class, not fan-out, replay or cross-instance delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from uuid import UUID

import asyncpg

from theset_daemon.config import SettingsHolder
from theset_daemon.db.pool import Database
from theset_daemon.log import get_logger
from theset_daemon.progress.store import CHANNEL, Kind, StoredEvent, stored_events

log = get_logger(__name__)

RECONNECT_DELAY_S = 1.0


def encode(event: StoredEvent) -> bytes:
    """One SSE frame: ``id``, ``event``, ``data`` (one line of JSON), blank line."""
    data = json.dumps(event.payload, separators=(",", ":"))
    return f"id: {event.seq}\nevent: {event.event}\ndata: {data}\n\n".encode()


class Subscription:
    """One stream's inbox: encoded frames in seq order, bounded; overflow ends the stream."""

    __slots__ = ("key", "last_seq", "overflowed", "queue")

    def __init__(self, key: tuple[str, UUID], last_seq: int, max_events: int) -> None:
        self.key = key
        self.last_seq = last_seq
        self.overflowed = False
        # None is the end-of-stream marker (shutdown or overflow).
        self.queue: asyncio.Queue[tuple[StoredEvent, bytes] | None] = asyncio.Queue(max_events)

    def offer(self, event: StoredEvent, frame: bytes) -> None:
        if self.overflowed or event.seq <= self.last_seq:
            return
        try:
            self.queue.put_nowait((event, frame))
            self.last_seq = event.seq
        except asyncio.QueueFull:
            # Too slow to drain: disconnect it (it resumes with Last-Event-ID) rather than grow.
            self.overflowed = True
            self.end()

    def end(self) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)
        if self.queue.full():  # make room for the end marker
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.queue.put_nowait(None)


class ProgressBroker:
    def __init__(self, database: Database, holder: SettingsHolder) -> None:
        self._database = database
        self.holder = holder
        self._subs: dict[tuple[str, UUID], set[Subscription]] = {}
        self._fetching: dict[tuple[str, UUID], asyncio.Task[None]] = {}
        self._listener: asyncpg.Connection | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._closed = False

    @property
    def open_streams(self) -> int:
        return sum(len(s) for s in self._subs.values())

    @property
    def pool(self) -> asyncpg.Pool:
        return self._database.pool

    def subscribe(self, kind: Kind, job_id: UUID, last_seq: int) -> Subscription:
        key = (kind, job_id)
        sub = Subscription(key, last_seq, self.holder.current.sse.queue_max_events)
        self._subs.setdefault(key, set()).add(sub)
        if self._closed:
            sub.end()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.key)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.key]

    # --- delivery --------------------------------------------------------------------------

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        try:
            note = json.loads(str(payload))
            key = (note["k"], UUID(note["j"]))
        except (ValueError, KeyError, TypeError):
            return
        if key in self._subs:
            self._schedule_fetch(key)

    def _schedule_fetch(self, key: tuple[str, UUID]) -> None:
        if key in self._fetching:  # a read is under way; it re-checks before it finishes
            self._fetching[key].add_done_callback(lambda _t: self._schedule_fetch(key))
            return
        task = asyncio.create_task(self._fetch(key), name=f"progress-fetch-{key[1]}")
        self._fetching[key] = task
        task.add_done_callback(lambda _t: self._fetching.pop(key, None))

    async def _fetch(self, key: tuple[str, UUID]) -> None:
        subs = self._subs.get(key)
        if not subs:
            return
        after = min(sub.last_seq for sub in subs)
        kind: Kind = "import" if key[0] == "import" else "run"
        try:
            events = await stored_events(self.pool, kind, key[1], after)
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:
            log.warning("progress_fetch_failed", job_id=str(key[1]), error=str(exc))
            return
        for event in events:
            frame = encode(event)
            for sub in list(self._subs.get(key, ())):
                sub.offer(event, frame)

    # --- the LISTEN connection ---------------------------------------------------------------

    async def start(self) -> None:
        self._supervisor = asyncio.create_task(self._supervise(), name="progress-listener")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                await self._connected.wait()

    async def _supervise(self) -> None:
        first = True
        while not self._closed:
            try:
                conn = await asyncpg.connect(self._database.dsn)
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                log.warning("progress_listener_connect_failed", error=str(exc))
                await asyncio.sleep(RECONNECT_DELAY_S)
                continue
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _c, lost=lost: lost.set())
            try:
                await conn.add_listener(CHANNEL, self._on_notify)
                self._listener = conn
                self._connected.set()
                if not first:
                    log.info("progress_listener_reconnected")
                    for key in list(self._subs):  # notifications sent meanwhile are gone
                        self._schedule_fetch(key)
                first = False
                while not lost.is_set():  # asyncpg does not always call the listener on loss
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(5):
                            await lost.wait()
                    if not lost.is_set() and conn.is_closed():
                        break
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("progress_listener_lost", error=str(exc))
            finally:
                self._listener = None
                with contextlib.suppress(Exception):
                    await conn.close(timeout=2)
            if not self._closed:
                log.warning("progress_listener_lost")
                await asyncio.sleep(RECONNECT_DELAY_S)

    async def close(self) -> None:
        """End every open stream (shutdown) and stop listening."""
        self._closed = True
        for subs in list(self._subs.values()):
            for sub in subs:
                sub.end()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        for task in list(self._fetching.values()):
            task.cancel()
        await asyncio.gather(*self._fetching.values(), return_exceptions=True)


@contextlib.asynccontextmanager
async def open_broker(database: Database, holder: SettingsHolder) -> AsyncIterator[ProgressBroker]:
    broker = ProgressBroker(database, holder)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.close()
