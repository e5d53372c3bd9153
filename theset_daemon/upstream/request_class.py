"""Who a request is for: a person waiting on an import (*interactive*) or a job (*background*),
and, among a person's requests, the ones an HTTP answer is waiting on right now.

The class travels with the task, in a context variable: the importer runs each import inside
:func:`interactive`, and every request that import makes, in every phase and in the tasks it
starts, inherits it. Everything else is background. The daily quota keeps a reserve for the
interactive class (``quota.py``).

Where requests wait on one provider (the send gate, the shared limiter, the end of a Retry-After
pause) they go in :class:`Priority` order: first what an open HTTP request is waiting on (an
import's phase 1, inside :func:`answering`, and a token refresh, which phase 1 may wait on), then
the rest of the imports, then the jobs. Without the first level, phase 1 queued behind the
phases 2-3 of every other running import: 1.1 s at p99 with Spotify saturated (``make bench``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from enum import IntEnum, StrEnum


class RequestClass(StrEnum):
    """Whose share of the daily quota a request spends."""

    INTERACTIVE = "interactive"
    BACKGROUND = "background"


class Priority(IntEnum):
    """The order requests waiting on one provider go in (lower first)."""

    ANSWERING = 0
    INTERACTIVE = 1
    BACKGROUND = 2

    @property
    def request_class(self) -> RequestClass:
        return RequestClass.BACKGROUND if self is Priority.BACKGROUND else RequestClass.INTERACTIVE


_CURRENT: ContextVar[Priority] = ContextVar("upstream_priority", default=Priority.BACKGROUND)


def current() -> Priority:
    return _CURRENT.get()


@contextlib.contextmanager
def _as(priority: Priority) -> Iterator[None]:
    token = _CURRENT.set(priority)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def interactive() -> contextlib.AbstractContextManager[None]:
    """Every upstream request made inside (and in tasks created inside) is interactive."""
    return _as(Priority.INTERACTIVE)


def answering() -> contextlib.AbstractContextManager[None]:
    """Interactive, and an HTTP answer is waiting on it: ahead of every other request."""
    return _as(Priority.ANSWERING)
