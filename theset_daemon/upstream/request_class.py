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

Only :func:`answering` says a person is waiting (:func:`person_waiting`); the gate keeps a place of
the window free after such a send (``gate.py``). A token refresh goes first in line
(:func:`first_in_line`) whoever started it, but one a job started keeps nothing free.
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
_PERSON_WAITING: ContextVar[bool] = ContextVar("upstream_person_waiting", default=False)


def current() -> Priority:
    return _CURRENT.get()


def person_waiting() -> bool:
    """True inside :func:`answering`: an open HTTP request waits on this request's answer."""
    return _PERSON_WAITING.get()


@contextlib.contextmanager
def _as(priority: Priority, *, person_waiting: bool | None = None) -> Iterator[None]:
    token = _CURRENT.set(priority)
    waiting = None if person_waiting is None else _PERSON_WAITING.set(person_waiting)
    try:
        yield
    finally:
        _CURRENT.reset(token)
        if waiting is not None:
            _PERSON_WAITING.reset(waiting)


def interactive() -> contextlib.AbstractContextManager[None]:
    """Every upstream request made inside (and in tasks created inside) is interactive."""
    return _as(Priority.INTERACTIVE)


def answering() -> contextlib.AbstractContextManager[None]:
    """Interactive, and an HTTP answer is waiting on it: ahead of every other request."""
    return _as(Priority.ANSWERING, person_waiting=True)


def first_in_line() -> contextlib.AbstractContextManager[None]:
    """Ahead of every other request, for whoever waits (a token refresh): a person only if the
    caller was answering one."""
    return _as(Priority.ANSWERING)
