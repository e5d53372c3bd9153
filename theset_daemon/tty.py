"""Colour for people, plain text for scripts.

The CLI's commands colour a few words (a job's state, a run's outcome) only when the stream they
write to is a terminal, ``NO_COLOR`` is unset or empty (https://no-color.org) and ``TERM`` is not
``dumb``. Anything piped, redirected or captured gets plain text, so scripts never strip escapes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal, TextIO

Style = Literal["green", "yellow", "red", "bold"]
_SGR: dict[Style, str] = {"green": "32", "yellow": "33", "red": "31", "bold": "1"}

#: The words the commands print, by what they mean to an operator.
STYLE_OF: dict[str, Style] = {
    "healthy": "green",
    "ok": "green",
    "succeeded": "green",
    "completed": "green",
    "degraded": "yellow",
    "late": "yellow",
    "missed": "yellow",
    "partial": "yellow",
    "interrupted": "yellow",
    "warning": "yellow",
    "unhealthy": "red",
    "failing": "red",
    "failed": "red",
    "critical": "red",
}


def colour_enabled(stream: TextIO, env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    if env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())


class Painter:
    """``paint(text, style)``: ``text`` in ANSI colour when enabled, else ``text`` unchanged."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    @classmethod
    def for_stream(cls, stream: TextIO) -> Painter:
        return cls(colour_enabled(stream))

    def __call__(self, text: str, style: Style | None) -> str:
        if not self.enabled or style is None:
            return text
        return f"\x1b[{_SGR[style]}m{text}\x1b[0m"

    def word(self, text: str, word: str | None = None) -> str:
        """``text`` styled by what ``word`` (default: ``text`` itself) means."""
        return self(text, STYLE_OF.get((word or text).strip()))
