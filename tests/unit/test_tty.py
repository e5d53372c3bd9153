"""Colour only for people: on a terminal, without ``NO_COLOR``, with a ``TERM`` that has colour."""

from __future__ import annotations

import io

import pytest

from theset_daemon.tty import Painter, colour_enabled


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("stream", "env", "enabled"),
    [
        (Terminal(), {}, True),
        (Terminal(), {"TERM": "xterm-256color"}, True),
        (Terminal(), {"NO_COLOR": ""}, True),  # no-color.org: set *and non-empty*
        (Terminal(), {"NO_COLOR": "1"}, False),
        (Terminal(), {"TERM": "dumb"}, False),
        (io.StringIO(), {}, False),
    ],
)
def test_colour_is_for_terminals_only(
    stream: io.StringIO, env: dict[str, str], enabled: bool
) -> None:
    assert colour_enabled(stream, env) is enabled


def test_the_painter_styles_words_by_meaning() -> None:
    on, off = Painter(enabled=True), Painter(enabled=False)
    assert on.word("failed") == "\x1b[31mfailed\x1b[0m"
    assert on.word("ok    ", "ok") == "\x1b[32mok    \x1b[0m"
    assert on.word("never_run") == "never_run"  # no meaning, no colour
    assert off.word("failed") == "failed" and off("x", "bold") == "x"
