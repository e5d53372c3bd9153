"""Who a request is for: a person waiting on an import (*interactive*) or a job (*background*).

The class travels with the task, in a context variable: the importer runs each import inside
:func:`interactive`, and every request that import makes, in every phase and in the tasks it
starts, inherits it. Everything else is background. Where both wait on one provider (the send
gate, the shared limiter, the end of a Retry-After pause) interactive goes first, and the daily
quota keeps a reserve for it (``quota.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from enum import StrEnum


class RequestClass(StrEnum):
    INTERACTIVE = "interactive"
    BACKGROUND = "background"


_CURRENT: ContextVar[RequestClass] = ContextVar(
    "upstream_request_class", default=RequestClass.BACKGROUND
)


def current() -> RequestClass:
    return _CURRENT.get()


@contextlib.contextmanager
def interactive() -> Iterator[None]:
    """Every upstream request made inside (and in tasks created inside) is interactive."""
    token = _CURRENT.set(RequestClass.INTERACTIVE)
    try:
        yield
    finally:
        _CURRENT.reset(token)
