"""The SSE exchange for one stream (CONTRACT.md sections 3 and 8).

On connect: ``retry: 2000``; then, with ``Last-Event-ID: n``, every stored event after n (0 is
all), or without it the latest stored event; then live events from the broker; a ``: ping``
comment whenever the stream was silent for ``sse.heartbeat_seconds``; the stream ends after the
terminal ``complete``/``failed`` event. A reconnect at or past the terminal event gets 204, the
HTML way to tell an ``EventSource`` to stop.
"""

from __future__ import annotations

import asyncio
from uuid import UUID

from aiohttp import web

from theset_daemon.progress.broker import ProgressBroker, encode
from theset_daemon.progress.store import Kind, latest_event, stored_events

RETRY_MS = 2000


def _last_event_id(request: web.Request) -> int | None:
    raw = request.headers.get("Last-Event-ID", "").strip()
    return int(raw) if raw.isdigit() else None


async def sse_response(
    request: web.Request, broker: ProgressBroker, kind: Kind, job_id: UUID
) -> web.StreamResponse:
    last_id = _last_event_id(request)
    latest = await latest_event(broker.pool, kind, job_id)
    if latest is not None and latest.terminal and last_id is not None and last_id >= latest.seq:
        return web.Response(status=204)

    # Subscribe before reading the backlog: an event recorded in between is then in the inbox,
    # and the seq bookkeeping drops whatever the backlog already sent.
    start_after = last_id if last_id is not None else max(0, (latest.seq - 1) if latest else 0)
    sub = broker.subscribe(kind, job_id, start_after)
    try:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        await response.write(f"retry: {RETRY_MS}\n\n".encode())
        sent = start_after
        for event in await stored_events(broker.pool, kind, job_id, start_after):
            await response.write(encode(event))
            sent = event.seq
            if event.terminal:
                return response
        heartbeat_s = broker.holder.current.sse.heartbeat_seconds
        while True:
            try:
                async with asyncio.timeout(heartbeat_s):
                    item = await sub.queue.get()
            except TimeoutError:
                await response.write(b": ping\n\n")
                heartbeat_s = broker.holder.current.sse.heartbeat_seconds
                continue
            if item is None:  # shutdown, or the client fell too far behind
                return response
            event, frame = item
            if event.seq <= sent:
                continue
            await response.write(frame)
            sent = event.seq
            if event.terminal:
                return response
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    finally:
        broker.unsubscribe(sub)
