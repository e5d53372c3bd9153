"""The broadcaster: one LISTEN connection per daemon, fanning stored events out to SSE streams.

Every event, whichever instance recorded it, arrives as a NOTIFY carrying only (kind, job, seq).
The broker reads the job's new events from the log once, encodes each one once (the SSE frame and
its HTTP/1.1 chunk), and writes those same bytes straight into every stream's transport, inside
the notification's callback chain. Reading from the log rather than trusting the notification means
a stream never misses or repeats an event: each stream only takes seqs above the last it took.
After the LISTEN connection is lost the broker reconnects and catches every stream up from the
log, since notifications sent meanwhile are gone.

Why hand-written rather than aiohttp-sse or the plain "one asyncio.Queue and one writer coroutine
per stream" pattern: that pattern wakes one task per stream per event, encodes per stream and
keeps a queue object per stream; at 5,000 streams the wake-ups alone dominate the fan-out latency
(issue 5's benchmark, ``python -m bench sse``, measures both in one run). aiohttp-sse is that
pattern and has no replay or cross-instance delivery. Here:

* a live stream is a small ``__slots__`` object; its request handler just awaits one future;
* a write goes directly to the transport while the transport's buffer is below
  :data:`HIGH_WATER_BYTES`; past it, frames wait in a per-stream backlog bounded by
  ``sse.queue_max_events``, and a stream over the bound is aborted (the client resumes with
  ``Last-Event-ID``), so a slow client never grows the daemon's memory;
* one sweeper task for all streams sends ``: ping`` to the silent ones, drains backlogs as
  transports empty, and reaps streams whose client went away;
* while a new stream's handler replays the log, the broker does not write to it; an event that
  arrives meanwhile only marks it, and the log is read again for it once the replay is done.

On this machine (``python -m bench sse``): 5,000 streams, record->last client p99 ~90 ms against
~2.6 s for the plain pattern in the same run; ~12.2 KB RSS per idle stream against ~16.3 KB, over
an aiohttp floor of ~9.7 KB (a handler that only waits).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from typing import NamedTuple
from uuid import UUID

import asyncpg

from theset_daemon.config import SettingsHolder
from theset_daemon.db.pool import Database
from theset_daemon.lifetime import started
from theset_daemon.log import get_logger
from theset_daemon.progress.store import CHANNEL, Kind, StoredEvent, stored_events

log = get_logger(__name__)

RECONNECT_DELAY_S = 1.0
#: Above this many unsent bytes in a transport, frames go to the stream's bounded backlog.
HIGH_WATER_BYTES = 64 * 1024
#: How often the sweeper drains backlogs while some stream is backed up.
DRAIN_INTERVAL_S = 0.02

StreamKey = tuple[str, UUID]


def encode(event: StoredEvent) -> bytes:
    """One SSE frame: ``id``, ``event``, ``data`` (one line of JSON), blank line."""
    data = json.dumps(event.payload, separators=(",", ":"))
    return f"id: {event.seq}\nevent: {event.event}\ndata: {data}\n\n".encode()


def chunk(frame: bytes) -> bytes:
    """The frame as one HTTP/1.1 chunk (what aiohttp's writer would send for it)."""
    return b"%x\r\n%b\r\n" % (len(frame), frame)


PING = b": ping\n\n"
PING_CHUNK = chunk(PING)


class Frame(NamedTuple):
    """One event, encoded once per broadcast and shared by every stream of the job."""

    seq: int
    raw: bytes
    chunked: bytes
    terminal: bool

    @classmethod
    def of(cls, event: StoredEvent) -> Frame:
        raw = encode(event)
        return cls(event.seq, raw, chunk(raw), event.terminal)


class Stream:
    """One SSE stream's state while its handler waits: tiny on purpose (10,000 idle streams)."""

    __slots__ = (
        "backlog",
        "chunked",
        "done",
        "dropped",
        "key",
        "last_seq",
        "last_write",
        "live",
        "resync",
        "transport",
    )

    def __init__(
        self,
        key: StreamKey,
        transport: asyncio.BaseTransport,
        chunked: bool,
        last_seq: int,
        now: float,
    ) -> None:
        self.key = key
        self.transport: asyncio.WriteTransport = transport  # type: ignore[assignment]
        self.chunked = chunked
        self.last_seq = last_seq  # the highest seq taken (written or in the backlog)
        self.live = False  # False while the handler replays the stored log
        self.backlog: deque[Frame] | None = None
        self.last_write = now
        self.dropped = False
        self.resync = False  # an event came during the replay: re-read the log after it
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()


class ProgressBroker:
    """Fans events out to every SSE stream of this daemon; see the module docstring."""

    def __init__(self, database: Database, holder: SettingsHolder) -> None:
        self._database = database
        self.holder = holder
        self._streams: dict[StreamKey, set[Stream]] = {}
        self._backed_up: set[Stream] = set()
        self._fetching: dict[StreamKey, asyncio.Task[None]] = {}
        self._dirty: set[StreamKey] = set()
        self._supervisor: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._wake = asyncio.Event()
        self._closed = False
        self.open_streams = 0
        self.dropped_streams = 0

    @property
    def pool(self) -> asyncpg.Pool:
        return self._database.pool

    # --- streams -------------------------------------------------------------------------------

    def attach(
        self,
        kind: Kind,
        job_id: UUID,
        transport: asyncio.BaseTransport,
        chunked: bool,
        after_seq: int,
    ) -> Stream:
        """Register a stream before its handler reads the log, so nothing falls in between."""
        key = (kind, job_id)
        stream = Stream(key, transport, chunked, after_seq, asyncio.get_running_loop().time())
        self._streams.setdefault(key, set()).add(stream)
        self.open_streams += 1
        if self._closed:
            self._finish(stream)
        return stream

    def go_live(self, stream: Stream, sent_seq: int) -> None:
        """The handler has replayed up to ``sent_seq``: from now on the broker writes."""
        stream.live = True
        stream.last_seq = sent_seq
        if stream.resync:
            stream.resync = False
            self._schedule_fetch(stream.key)

    def detach(self, stream: Stream) -> None:
        streams = self._streams.get(stream.key)
        if streams is not None and stream in streams:
            streams.discard(stream)
            self.open_streams -= 1
            if not streams:
                del self._streams[stream.key]
        self._backed_up.discard(stream)
        if not stream.done.done():
            stream.done.set_result(None)

    def _finish(self, stream: Stream, *, drop: bool = False) -> None:
        if drop:
            stream.dropped = True
            self.dropped_streams += 1
            stream.backlog = None
            stream.transport.abort()  # frees its buffer now; the client resumes by Last-Event-ID
        self.detach(stream)

    def _offer(self, stream: Stream, frame: Frame, now: float) -> None:
        if not stream.live:
            # Replaying: the handler's read of the log may or may not hold this event; read the
            # log again once the replay is done (cheap, rare, and nothing to bound meanwhile).
            stream.resync = True
            return
        if frame.seq <= stream.last_seq:
            return
        stream.last_seq = frame.seq
        transport = stream.transport
        if transport.is_closing():
            self._finish(stream)
            return
        if stream.backlog is not None or transport.get_write_buffer_size() > HIGH_WATER_BYTES:
            if stream.backlog is None:
                stream.backlog = deque()
                self._backed_up.add(stream)
                self._wake.set()
            if len(stream.backlog) >= self.holder.current.sse.queue_max_events:
                log.info("sse_slow_client_dropped", job_id=str(stream.key[1]))
                self._finish(stream, drop=True)
                return
            stream.backlog.append(frame)
            return
        transport.write(frame.chunked if stream.chunked else frame.raw)
        stream.last_write = now
        if frame.terminal:
            self._finish(stream)

    def _drain(self, stream: Stream, now: float) -> None:
        backlog = stream.backlog
        transport = stream.transport
        if transport.is_closing():
            self._finish(stream)
            return
        while backlog and transport.get_write_buffer_size() <= HIGH_WATER_BYTES:
            frame = backlog.popleft()
            transport.write(frame.chunked if stream.chunked else frame.raw)
            stream.last_write = now
            if frame.terminal:
                self._finish(stream)
                return
        if not backlog:
            stream.backlog = None
            self._backed_up.discard(stream)

    def broadcast(self, key: StreamKey, events: list[StoredEvent]) -> None:
        """Deliver events of one job to its streams: each encoded once, written directly."""
        now = asyncio.get_running_loop().time()
        for event in events:
            streams = self._streams.get(key)
            if not streams:
                return
            frame = Frame.of(event)
            for stream in list(streams):
                self._offer(stream, frame, now)

    # --- the sweeper: heartbeats, backlogs, departed clients ---------------------------------

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            heartbeat_s = self.holder.current.sse.heartbeat_seconds
            tick_s = DRAIN_INTERVAL_S if self._backed_up else min(1.0, heartbeat_s / 4)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(tick_s):
                    await self._wake.wait()
            try:
                self._sweep_once(loop.time(), heartbeat_s)
            except Exception:  # one bad stream must not end heartbeats for all
                log.exception("sse_sweep_failed")

    def _sweep_once(self, now: float, heartbeat_s: float) -> None:
        for stream in list(self._backed_up):
            self._drain(stream, now)
        silent_since = now - heartbeat_s
        for streams in list(self._streams.values()):
            for stream in list(streams):
                if stream.transport.is_closing():
                    self._finish(stream)
                elif stream.live and stream.backlog is None and stream.last_write <= silent_since:
                    stream.transport.write(PING_CHUNK if stream.chunked else PING)
                    stream.last_write = now

    # --- reading the log -----------------------------------------------------------------------

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        try:
            note = json.loads(str(payload))
            key = (str(note["k"]), UUID(note["j"]))
        except (ValueError, KeyError, TypeError):
            return
        if key in self._streams:
            self._schedule_fetch(key)

    def _schedule_fetch(self, key: StreamKey) -> None:
        self._dirty.add(key)
        if key not in self._fetching:
            task = asyncio.create_task(self._fetch(key), name=f"progress-fetch-{key[1]}")
            self._fetching[key] = task

    async def _fetch(self, key: StreamKey) -> None:
        kind: Kind = "import" if key[0] == "import" else "run"
        try:
            while key in self._dirty:  # a notification during the read means: read again
                self._dirty.discard(key)
                streams = self._streams.get(key)
                if not streams:
                    return
                live = [stream.last_seq for stream in streams if stream.live]
                if len(live) < len(streams):
                    for stream in streams:
                        stream.resync = stream.resync or not stream.live
                if not live:
                    continue
                after = min(live)
                try:
                    events = await stored_events(self.pool, kind, key[1], after)
                except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:
                    log.warning("progress_fetch_failed", job_id=str(key[1]), error=str(exc))
                    return
                self.broadcast(key, events)
        finally:
            self._fetching.pop(key, None)

    # --- the LISTEN connection -----------------------------------------------------------------

    async def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep(), name="progress-sweeper")
        self._supervisor = asyncio.create_task(self._supervise(), name="progress-listener")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                await self._connected.wait()

    async def _supervise(self) -> None:
        first = True
        while not self._closed:
            try:
                async with asyncio.timeout(10):
                    conn = await asyncpg.connect(self._database.dsn)
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                log.warning("progress_listener_connect_failed", error=str(exc))
                await asyncio.sleep(RECONNECT_DELAY_S)
                continue
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _c, lost=lost: lost.set())
            try:
                await conn.add_listener(CHANNEL, self._on_notify)
                self._connected.set()
                if not first:
                    log.info("progress_listener_reconnected")
                    for key in list(self._streams):  # notifications sent meanwhile are gone
                        self._schedule_fetch(key)
                first = False
                while not lost.is_set():
                    # asyncpg does not always call the termination listener: probe it.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(2):
                            await lost.wait()
                    if not lost.is_set():
                        async with asyncio.timeout(5):
                            await conn.execute("SELECT 1")
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("progress_listener_lost", error=str(exc))
            finally:
                conn.terminate()
            if not self._closed:
                await asyncio.sleep(RECONNECT_DELAY_S if lost.is_set() else 0.1)

    async def close(self) -> None:
        """End every open stream cleanly (shutdown) and stop listening."""
        self._closed = True
        for streams in list(self._streams.values()):
            for stream in list(streams):
                self._finish(stream)
        tasks = [t for t in (self._supervisor, self._sweeper) if t is not None]
        tasks += self._fetching.values()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._supervisor = self._sweeper = None


def open_broker(
    database: Database, holder: SettingsHolder
) -> contextlib.AbstractAsyncContextManager[ProgressBroker]:
    """The daemon's broker, listening; closed (every stream ended) on the way out."""
    return started(ProgressBroker(database, holder))
