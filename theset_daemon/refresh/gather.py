"""Upstream calls made side by side, where the failure of one is a warning, not the end."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import TypeVar

from theset_daemon.upstream.errors import QuotaExhausted, UpstreamError

T = TypeVar("T")


async def gather_upstream(calls: Sequence[Awaitable[T]]) -> list[T | UpstreamError]:
    """Run the calls at once (the provider's gate paces them); an upstream failure of one is
    returned in its place, anything else (a bug, a cancellation) propagates.

    A quota refusal (:class:`QuotaExhausted`) is not a failure of one call but the end of the
    provider's day for this caller: once every call has settled, the first one is raised, and
    the refresh stores nothing of that kind (so it stays unsynced for the next sync)."""
    answers = await asyncio.gather(*calls, return_exceptions=True)
    for answer in answers:
        if isinstance(answer, BaseException) and not isinstance(answer, UpstreamError):
            raise answer
    for answer in answers:
        if isinstance(answer, QuotaExhausted):
            raise answer
    return answers  # type: ignore[return-value]


class UpstreamErrorGroup(Exception):
    """Every upstream query of a step failed: there is nothing to store."""

    def __init__(self, message: str, details: list[str]) -> None:
        super().__init__(f"{message}: {'; '.join(details)}")
