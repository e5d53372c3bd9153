"""The stop, top to bottom, and how it spends ``shutdown.grace_seconds``.

Everything is counted from the signal, against the grace read then (:class:`StopBudget`):

1. aiohttp closes the listener (``AppRunner.cleanup``), then runs :func:`begin_stop` (its
   ``on_shutdown``):
   a. the scheduler fires nothing more;
   b. the jobs' and the imports' drains start, side by side (:attr:`StopBudget.drain_s` each):
      every durable task is asked to stop and is cancelled, marking itself interrupted with its
      checkpoint, when the drain runs out, whatever else is waiting (``durable``);
   c. ``STOPPING`` is set and every SSE stream ends cleanly;
   d. the request handlers in flight get until :attr:`StopBudget.handlers_s`: a ``?wait=true``
      trigger ends with its run's drain (202 ``interrupted``), reads end on their own; any left
      then are cancelled (``web/inflight.py``).
2. aiohttp closes the connections left, waiting at most :attr:`StopBudget.connections_close_s`
   (short on purpose: see ``web/inflight.py`` for the connection that holds it with no request).
3. The cleanup contexts run in reverse: the scheduler, the monitor, then the runner and the
   importer only collect their cancelled tasks; the pool closes and the embedded Postgres stops,
   within :attr:`StopBudget.reserve_s`.
4. ``runtime.Daemon`` bounds the whole of it by the grace plus :data:`LAST_RESORT_S`, should a
   teardown hang (an embedded Postgres slow to stop), and exits 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from theset_daemon import durable
from theset_daemon.appkeys import (
    IMPORTER,
    IN_FLIGHT,
    PROGRESS,
    RUNNER,
    SCHEDULER,
    SETTINGS,
    STOPPING,
)

# Of the grace, what the stop keeps for the teardown and the interpreter's exit once the
# handlers in flight have had theirs: a quarter of it, at most this.
RESERVE_MAX_S = 2.0
# aiohttp's per-connection wait at the stop (``shutdown_timeout``); at most an eighth of the grace.
CONNECTIONS_CLOSE_MAX_S = 0.5
# Past the grace, how long the daemon still waits for a hung teardown before giving up on it.
LAST_RESORT_S = 10.0


@dataclass(frozen=True, slots=True)
class StopBudget:
    """How one stop spends its grace; every figure is counted from the signal."""

    grace_s: float

    @property
    def drain_s(self) -> float:
        """Running jobs and imports get this to stop on their own, then are cancelled."""
        return durable.drain_for(self.grace_s)

    @property
    def reserve_s(self) -> float:
        return min(RESERVE_MAX_S, self.grace_s / 4)

    @property
    def handlers_s(self) -> float:
        """The request handlers in flight get this, then are cancelled."""
        return self.grace_s - self.reserve_s

    @property
    def connections_close_s(self) -> float:
        return min(CONNECTIONS_CLOSE_MAX_S, self.grace_s / 8)


def budget_of(app: web.Application) -> StopBudget:
    return StopBudget(app[SETTINGS].current.shutdown.grace_seconds)


async def begin_stop(app: web.Application) -> None:
    """Step 1 of the stop (see the module's docstring), aiohttp's ``on_shutdown``."""
    budget = budget_of(app)
    if SCHEDULER in app:
        app[SCHEDULER].pause_all()
    if RUNNER in app:
        app[RUNNER].begin_shutdown(budget.drain_s)
    if IMPORTER in app:
        app[IMPORTER].begin_shutdown(budget.drain_s)
    app[STOPPING].set()
    if PROGRESS in app:
        await app[PROGRESS].close()
    await app[IN_FLIGHT].drain(budget.handlers_s)
