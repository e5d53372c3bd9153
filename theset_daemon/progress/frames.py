"""Server-Sent Events as a client reads them: the one parser (the CLI's ``import``, the tests and
the benchmarks read the daemon's streams with it).

It follows the WHATWG "event stream interpretation": lines end in CRLF, LF or CR; a line starting
with ``:`` is a comment (our ``: ping``); ``field: value`` loses one leading space; several
``data`` lines join with ``\\n``; an empty line dispatches the event, unless it has no data (a
``retry`` line alone dispatches nothing); the last event id carries over to later events; an id
containing NUL is ignored. Pure: no I/O, no aiohttp, so storage-side code may import it.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    event: str  # "message" when the stream named none
    data: str
    id: str | None  # the stream's last event id when this one was dispatched


class EventStreamParser:
    """Feed it text as it arrives (:meth:`feed`); it returns each event as it completes."""

    def __init__(self) -> None:
        self.last_event_id: str | None = None
        self._pending = ""  # an unfinished line
        self._event = ""
        self._data: list[str] = []

    def feed(self, text: str) -> list[ServerSentEvent]:
        lines = _LINE_END.split(self._pending + text)
        self._pending = lines.pop()
        # A CR at the very end may be the first half of a CRLF: keep it for the next chunk.
        if lines and text.endswith("\r"):
            self._pending = lines.pop() + "\r"
        events = [self.feed_line(line) for line in lines]
        return [event for event in events if event is not None]

    def finish(self) -> list[ServerSentEvent]:
        """The stream ended: a line held for its possible LF is complete after all. (An event
        not yet ended by an empty line is dropped, as the specification says.)"""
        pending, self._pending = self._pending, ""
        if not pending.endswith("\r"):
            return []
        event = self.feed_line(pending[:-1])
        return [event] if event is not None else []

    def feed_line(self, line: str) -> ServerSentEvent | None:
        """One line, without its line ending; the event it completes, if any."""
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self.last_event_id = value
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None
        return ServerSentEvent(event or "message", "\n".join(data), self.last_event_id)


async def read_events(chunks: AsyncIterable[bytes]) -> AsyncIterator[ServerSentEvent]:
    """Every event of a byte stream (an aiohttp response's ``content``, say), as it completes."""
    parser = EventStreamParser()
    decoder = codecs.getincrementaldecoder("utf-8")()  # a character may span two chunks
    async for chunk in chunks:
        for event in parser.feed(decoder.decode(chunk)):
            yield event
    for event in parser.finish():
        yield event
