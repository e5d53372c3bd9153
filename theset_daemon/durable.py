"""Durable tasks: work whose state lives in Postgres, so it outlives the process that runs it.

Imports (``import_status`` rows) and job runs (``cron_logs`` rows behind ``job_leases``) are both
durable tasks and share one engine, :class:`DurableTasks`:

- **Ownership.** Each process has an owner id, ``host:pid:random`` (:func:`new_owner_id`); a
  task's claim names its owner. The owner renews its claims every ``renew_interval_s`` (a
  lease's expiry pushed out, a heartbeat); a claim left unrenewed lapses and may be taken over.
  An owner on this host whose pid is gone is known dead at once (:func:`owner_is_dead`).
- **Sweep and resume.** At start and every ``sweep_interval_s`` the engine lapses the claims of
  dead owners, then asks the store to claim what is resumable (interrupted, or owned by a lapsed
  owner) and resume it from its checkpoint. A task resumed :data:`MAX_ATTEMPTS` times is given up
  (failed), so nothing stays running or resumable for ever.
- **Lost claims.** A renewal that finds a claim gone (this process stalled past the expiry and
  another took the task over) stops that task at once; the store's writes are conditioned on
  ownership, so it writes nothing more.
- **Release before the end.** A task gives up its claim with the write that ends it. It calls
  :meth:`DurableTasks.release` just before that write, so a renewal landing between the write
  and the task's return cannot mistake the released claim for a lost one.
- **Drain.** On shutdown every task's ``stopping`` is set; what still runs when the drain is over
  is cancelled and marks itself interrupted, with its checkpoint, for the next start.

What differs per kind (the tables, how a claim is renewed, how a resumable one is claimed) is the
:class:`TaskStore`'s. Hand-written: task queues such as arq run their own workers on Redis, and
here the state is the daemon's own Postgres rows and the work runs in this event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Callable, Coroutine, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, NoReturn, Protocol, TypeVar

import psutil

from theset_daemon.log import get_logger
from theset_daemon.periodic import start_periodic

log = get_logger(__name__)

MAX_ATTEMPTS = 3
# On shutdown a task gets this long, at most half the grace (the handlers in flight get the rest),
# counted from the signal, to reach a point where it can stop; then it is cancelled.
DRAIN_MAX_S = 10.0

K = TypeVar("K", bound=Hashable)


def new_owner_id() -> str:
    """``host:pid:random``: the pid lets another process on this host tell the owner is dead."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_is_dead(owner_id: str) -> bool:
    """True when ``owner_id`` names another process on this host that no longer runs. Another
    machine's process cannot be seen from here: only its claim's lapse tells."""
    host, _, rest = owner_id.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    return int(pid_text) != os.getpid() and not psutil.pid_exists(int(pid_text))


def drain_for(grace_s: float) -> float:
    """How long running tasks get to stop on their own once shutdown begins."""
    return min(DRAIN_MAX_S, grace_s / 2)


class TaskStore(Protocol[K]):
    """A kind of durable task, as its tables keep it. Keys identify claims (a job's name, an
    import's job id)."""

    async def owners(self) -> Sequence[str]:
        """Owner ids of every claim held now (to find the dead ones)."""

    async def lapse(self, owner_ids: Sequence[str]) -> None:
        """Make the claims of these dead owners resumable at once."""

    async def renew(self, owner_id: str, keys: Sequence[K]) -> Sequence[K]:
        """Renew ``owner_id``'s claims on ``keys``; return the keys whose claim was lost."""

    async def resume(self) -> Sequence[object]:
        """Claim and launch (through :meth:`DurableTasks.launch`) what is resumable, give up
        what ran out of attempts; return what was resumed."""


@dataclass(slots=True, eq=False)
class Claim(Generic[K]):
    """One running task of this process."""

    key: K
    log_fields: dict[str, Any]
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    lost: bool = False


class DurableTasks(Generic[K]):
    """Owns the running tasks of one kind (``kind`` prefixes its log events: ``job``,
    ``import``), their claims' renewal, the sweep, and the drain."""

    def __init__(
        self,
        kind: str,
        store: TaskStore[K],
        *,
        owner_id: str | None = None,
        renew_interval_s: float,
        sweep_interval_s: float,
        grace_s: Callable[[], float],
    ) -> None:
        self.kind = kind
        self.grace_s = grace_s  # the shutdown grace as of now (reloadable): the default drain
        self.store = store
        self.owner_id = owner_id or new_owner_id()
        self.renew_interval_s = renew_interval_s
        self.sweep_interval_s = sweep_interval_s
        self.closing = False
        self._claims: dict[K, Claim[K]] = {}
        # Every task still running, released or not: the drain and close wait for all of them.
        self._tasks: dict[asyncio.Task[None], Claim[K]] = {}
        self._upkeep: list[asyncio.Task[NoReturn]] = []
        self._reaper: asyncio.Task[None] | None = None

    # --- the tasks ----------------------------------------------------------------------------

    def claim_of(self, key: K) -> Claim[K] | None:
        return self._claims.get(key)

    def __len__(self) -> int:
        return len(self._tasks)

    def launch(
        self, claim: Claim[K], work: Coroutine[Any, Any, None], *, name: str
    ) -> asyncio.Task[None]:
        """Run ``work`` as an owned task under ``claim`` (from :meth:`new_claim`): renewed while
        it runs, stopped if the claim is lost, drained on shutdown."""
        self._claims[claim.key] = claim
        task = asyncio.create_task(work, name=name)
        claim.task = task
        self._tasks[task] = claim
        task.add_done_callback(self._ended)
        return task

    def new_claim(self, key: K, **log_fields: Any) -> Claim[K]:
        """A claim on ``key``, already stopping when the engine is (a task launched during the
        drain stops at its first chance)."""
        claim = Claim(key, log_fields)
        if self.closing:
            claim.stopping.set()
        return claim

    def release(self, key: K) -> None:
        """The task is about to write its end, which gives up the claim: renew it no more."""
        self._claims.pop(key, None)

    def _ended(self, task: asyncio.Task[None]) -> None:
        claim = self._tasks.pop(task, None)
        if claim is not None and self._claims.get(claim.key) is claim:
            del self._claims[claim.key]

    # --- upkeep -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Resume what is resumable now, then keep claims renewed and sweeps going."""
        await self.sweep()
        self._upkeep = [
            start_periodic(
                self.renew, self.renew_interval_s, name=f"{self.kind}-renew",
                failed_event=f"{self.kind}_renew_failed",
            ),
            start_periodic(
                self.sweep, self.sweep_interval_s, name=f"{self.kind}-sweep",
                failed_event=f"{self.kind}_sweep_failed",
            ),
        ]  # fmt: skip

    async def sweep(self) -> Sequence[object]:
        """Lapse the claims of dead owners on this host, then resume what is resumable."""
        if self.closing:
            return []
        await self.lapse_dead_owners()
        return await self.store.resume()

    async def lapse_dead_owners(self) -> None:
        """The first half of a sweep (a trigger does it alone before taking a claim)."""
        dead = [owner for owner in set(await self.store.owners()) if owner_is_dead(owner)]
        if dead:
            await self.store.lapse(dead)

    async def renew(self) -> None:
        """Renew every claim; stop the tasks whose claim was lost."""
        claims = list(self._claims.values())
        if not claims:
            return
        lost = set(await self.store.renew(self.owner_id, [c.key for c in claims]))
        for claim in claims:
            # Released meanwhile (its end write under way): not lost, only finishing.
            if claim.key not in lost or self._claims.get(claim.key) is not claim:
                continue
            log.error(f"{self.kind}_lease_lost", **claim.log_fields)
            claim.lost = True
            claim.stopping.set()
            if claim.task is not None:
                claim.task.cancel()

    # --- drain --------------------------------------------------------------------------------

    def begin_shutdown(self, drain_s: float | None = None) -> None:
        """Take no more work; ask every task to stop; cancel what still runs after ``drain_s``
        (by default :func:`drain_for` the grace)."""
        if self.closing:
            return
        if drain_s is None:
            drain_s = drain_for(self.grace_s())
        self.closing = True
        for claim in self._claims.values():
            claim.stopping.set()
        if self._tasks:
            log.info(f"{self.kind}s_stopping", count=len(self._tasks), drain_s=drain_s)
        self._reaper = asyncio.create_task(self._cancel_after(drain_s), name=f"{self.kind}-drain")

    async def _cancel_after(self, drain_s: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + drain_s
        # A task launched during the drain (an import whose phase 1 was in a request when the
        # stop began) is waited for, and cancelled, with the others.
        while self._tasks and (left_s := deadline - loop.time()) > 0:
            await asyncio.wait(list(self._tasks), timeout=left_s)
        for task, claim in list(self._tasks.items()):
            log.warning(f"{self.kind}_cancelled_at_shutdown", **claim.log_fields)
            task.cancel()

    async def close(self) -> None:
        """Drain (if the shutdown has not begun yet, it begins now), then await every task."""
        self.begin_shutdown()
        for upkeep in self._upkeep:
            upkeep.cancel()
        for upkeep in self._upkeep:
            with contextlib.suppress(asyncio.CancelledError):
                await upkeep
        assert self._reaper is not None
        await self._reaper
        # One launched after the drain ended has had no drain to wait for. One the drain
        # cancelled is left alone: it is writing its end under a shield, and a second
        # cancellation would abandon that write to the pool's close.
        tasks = list(self._tasks)
        for task in tasks:
            if not task.cancelling():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
