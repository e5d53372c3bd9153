"""Readiness: each resource registers a check of itself; ``/readyz`` runs them all at once.

A check returns a :class:`ComponentStatus`; one that raises or takes longer than
``CHECK_TIMEOUT_S`` counts as down. Only "down" makes the daemon not ready: a degraded component
(the Redis tier, an open upstream breaker) is reported, but the daemon still serves.

The two models live here, below the routes, because the resources (database, cache, upstreams)
build them; ``/readyz`` answers :class:`Readiness` as is, and the OpenAPI document names both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import BaseModel

from theset_daemon.log import redact_text

CHECK_TIMEOUT_S = 3.0


# No docstrings on the two models: pydantic would put them in the OpenAPI document.
class ComponentStatus(BaseModel):
    status: Literal["up", "down", "degraded"]
    message: str | None = None
    details: dict[str, Any] | None = None


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    components: dict[str, ComponentStatus]


Check = Callable[[], Awaitable[ComponentStatus]]


class ReadinessChecks:
    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}

    def register(self, name: str, check: Check) -> None:
        self._checks[name] = check

    def unregister(self, name: str) -> None:
        self._checks.pop(name, None)

    async def run(self) -> Readiness:
        names = list(self._checks)
        results = await asyncio.gather(*(self._run_one(self._checks[n]) for n in names))
        components = dict(zip(names, results, strict=True))
        ready = bool(components) and all(c.status != "down" for c in components.values())
        return Readiness(status="ready" if ready else "not_ready", components=components)

    @staticmethod
    async def _run_one(check: Check) -> ComponentStatus:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                return await check()
        except TimeoutError:
            return ComponentStatus(status="down", message=f"no answer within {CHECK_TIMEOUT_S} s")
        except Exception as exc:  # any failure of a dependency means "down", never a 500
            return ComponentStatus(
                status="down", message=redact_text(f"{type(exc).__name__}: {exc}")
            )
