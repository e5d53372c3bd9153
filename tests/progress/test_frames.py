"""The one SSE parser, against the WHATWG event-stream rules it claims."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from theset_daemon.progress.frames import EventStreamParser, ServerSentEvent, read_events


def parse(*chunks: str) -> list[ServerSentEvent]:
    parser = EventStreamParser()
    return [event for chunk in chunks for event in parser.feed(chunk)] + parser.finish()


def test_the_daemons_own_frames() -> None:
    stream = 'retry: 2000\n\nid: 1\nevent: progress\ndata: {"a": 1}\n\n: ping\n\n'
    stream += 'id: 2\nevent: complete\ndata: {"a": 2}\n\n'
    assert parse(stream) == [
        ServerSentEvent("progress", '{"a": 1}', "1"),
        ServerSentEvent("complete", '{"a": 2}', "2"),
    ]


def test_data_lines_join_with_a_newline() -> None:
    """The CLI's old reader joined them with nothing, against the specification."""
    assert parse("data: first\ndata: second\n\n") == [
        ServerSentEvent("message", "first\nsecond", None)
    ]


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_every_line_ending(end: str) -> None:
    text = f"id: 7{end}event: x{end}data: y{end}{end}"
    assert parse(text) == [ServerSentEvent("x", "y", "7")]
    # and split anywhere, even between the CR and the LF of a CRLF
    for cut in range(len(text)):
        assert parse(text[:cut], text[cut:]) == [ServerSentEvent("x", "y", "7")], cut


def test_field_rules() -> None:
    events = parse(
        "data:no space\n\ndata:  two spaces\n\nid: 3\u0000\ndata\n\nid: 4\n\ndata: z\n\n"
    )
    assert events == [
        ServerSentEvent("message", "no space", None),
        ServerSentEvent("message", " two spaces", None),  # one space is taken, not two
        ServerSentEvent("message", "", None),  # "data" alone is an empty data line; NUL id ignored
        ServerSentEvent("message", "z", "4"),  # the last id carries over an event without data
    ]


async def test_read_events_decodes_characters_split_across_chunks() -> None:
    body = "data: café\n\n".encode()

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(len(body)):
            yield body[i : i + 1]

    assert [e async for e in read_events(chunks())] == [ServerSentEvent("message", "café", None)]
