"""The SSE exchange for one stream (CONTRACT.md sections 3 and 8).

On connect: ``retry: 2000``; then, with ``Last-Event-ID: n``, every stored event after n (0 is
all), or without it the latest stored event with its own id; then live events, which the broker
writes straight into this stream's transport; a ``: ping`` comment whenever the stream was silent
for ``sse.heartbeat_seconds``; the stream ends after the terminal ``complete``/``failed`` event.
A reconnect at or past the terminal event gets 204, the HTML way to tell an ``EventSource`` to
stop reconnecting.

While the broker writes, this handler only awaits the stream's ``done`` future: no queue, no
per-stream wake-up per event (see :mod:`theset_daemon.progress.broker` for why).
"""

from __future__ import annotations

import contextlib
from uuid import UUID

from aiohttp import web
from aiohttp.client_exceptions import ClientConnectionResetError
from aiohttp.http import HttpVersion11

from theset_daemon.progress.broker import ProgressBroker, Stream, encode
from theset_daemon.progress.store import Kind, StoredEvent, latest_event, stored_events

RETRY_MS = 2000
HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


#: The largest event seq (the seq columns are Postgres ``integer``).
MAX_SEQ = 2**31 - 1


def last_event_id(request: web.Request) -> int | None:
    """The ``Last-Event-ID`` header as a seq, or None when absent or not a number.

    Only ASCII digits count (``str.isdigit`` also takes "²", which ``int`` refuses), and a number
    past ``MAX_SEQ`` means what any id past the last event means, so it is read as ``MAX_SEQ``
    (the database could not compare it, and ``int`` refuses more than 4300 digits).
    """
    raw = request.headers.get("Last-Event-ID", "").strip()
    if not (raw.isascii() and raw.isdigit()):
        return None
    digits = raw.lstrip("0") or "0"
    if len(digits) > len(str(MAX_SEQ)):
        return MAX_SEQ
    return min(int(digits), MAX_SEQ)


async def _read_log(
    broker: ProgressBroker, kind: Kind, job_id: UUID, last_id: int | None
) -> list[StoredEvent] | None:
    """What the stream replays, or None for the 204 (at or past the terminal event).

    One query in the common cases: it runs for every connect, and at thousands of connects its
    garbage is a visible part of the RSS per stream.
    """
    if last_id is None:
        latest = await latest_event(broker.pool, kind, job_id)
        return [latest] if latest is not None else []
    events = await stored_events(broker.pool, kind, job_id, last_id)
    if not events:
        latest = await latest_event(broker.pool, kind, job_id)
        if latest is not None and latest.terminal and last_id >= latest.seq:
            return None
    return events


async def _replay(
    response: web.StreamResponse, broker: ProgressBroker, events: list[StoredEvent], stream: Stream
) -> bool:
    """Send the replay; then hand the stream to the broker.

    Returns False when the replay reached the terminal event (the stream is over).
    """
    # Through aiohttp's writer: it sends the buffered headers with this first chunk.
    await response.write(b"retry: %d\n\n" % RETRY_MS)
    sent = stream.last_seq
    for event in events:
        await response.write(encode(event))
        sent = event.seq
        if event.terminal:
            broker.detach(stream)
            return False
    events.clear()  # no payload stays referenced while the stream waits
    broker.go_live(stream, sent)
    return True


async def sse_response(
    request: web.Request, broker: ProgressBroker, kind: Kind, job_id: UUID
) -> web.StreamResponse:
    """The whole SSE exchange for one stream (the route has already answered 404 if unknown)."""
    last_id = last_event_id(request)
    transport = request.transport
    if transport is None or transport.is_closing():
        return web.Response(status=204)
    chunked = request.version >= HttpVersion11
    response = web.StreamResponse(headers=HEADERS)
    # Attach before reading the log: the broker then notes any event recorded meanwhile, and
    # the stream re-reads the log after its replay (the seq bookkeeping drops repeats).
    stream = broker.attach(kind, job_id, transport, chunked, last_id or 0)
    try:
        if (events := await _read_log(broker, kind, job_id, last_id)) is None:
            return web.Response(status=204)
        if chunked:
            response.enable_chunked_encoding()
        await response.prepare(request)
        if await _replay(response, broker, events, stream):
            del events
            await stream.done
    except (ConnectionResetError, ClientConnectionResetError):
        return response
    finally:
        broker.detach(stream)
    if stream.dropped or transport.is_closing():
        return response
    with contextlib.suppress(ConnectionResetError, ClientConnectionResetError):
        await response.write_eof()
    return response
