"""The durable-task engine on its own: renewals, lost claims, release before the end, the drain.

The store here is an in-memory :class:`~theset_daemon.durable.TaskStore` (the engine's seam, not
our database layer); the importer and the job runner drive the engine against Postgres in
tests/importer and tests/jobs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from theset_daemon.durable import DurableTasks, drain_for, new_owner_id, owner_is_dead


class Store:
    """Claims held in a dict: key -> owner. ``taken`` keys were taken over by someone else."""

    def __init__(self) -> None:
        self.claims: dict[str, str] = {}
        self.resumable: list[str] = []
        self.engine: DurableTasks[str] | None = None

    async def owners(self) -> Sequence[str]:
        return list(self.claims.values())

    async def lapse(self, owner_ids: Sequence[str]) -> None:
        for key, owner in list(self.claims.items()):
            if owner in owner_ids:
                del self.claims[key]
                self.resumable.append(key)

    async def renew(self, owner_id: str, keys: Sequence[str]) -> Sequence[str]:
        return [key for key in keys if self.claims.get(key) != owner_id]

    async def resume(self) -> Sequence[object]:
        assert self.engine is not None
        resumed, self.resumable = self.resumable, []
        for key in resumed:
            self.claims[key] = self.engine.owner_id
            claim = self.engine.new_claim(key, thing=key)
            self.engine.launch(claim, asyncio.sleep(0), name=f"resumed-{key}")
        return resumed


def engine_of(store: Store) -> DurableTasks[str]:
    engine = DurableTasks(
        "thing", store, renew_interval_s=3600, sweep_interval_s=3600, grace_s=lambda: 0.2
    )
    store.engine = engine
    return engine


async def test_a_lost_claim_stops_its_task() -> None:
    store = Store()
    engine = engine_of(store)
    claim = engine.new_claim("a", thing="a")
    store.claims["a"] = engine.owner_id
    task = engine.launch(claim, asyncio.sleep(3600), name="a")
    await engine.renew()
    assert not task.done()  # still ours: renewed
    store.claims["a"] = "another:1:owner"  # taken over while we stalled
    await engine.renew()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert claim.lost and claim.stopping.is_set()
    await engine.close()


async def test_a_task_that_released_its_claim_is_not_stopped_by_a_renewal() -> None:
    """Regression (found by the 30-minute soak): a run's end write releases its lease, and the
    run then writes its metrics and calls the monitor hooks. A renewal landing in that gap found
    no lease, logged ``job_lease_lost`` and cancelled the finishing task. The task now releases
    its claim before the end write, and a renewal leaves a released claim alone."""
    store = Store()
    engine = engine_of(store)
    store.claims["a"] = engine.owner_id
    ended_write = asyncio.Event()
    finish_up = asyncio.Event()

    async def work() -> None:
        engine.release("a")
        del store.claims["a"]  # the end write gives the claim up
        ended_write.set()
        await finish_up.wait()  # metrics, hooks

    task = engine.launch(engine.new_claim("a"), work(), name="a")
    await ended_write.wait()
    await engine.renew()
    finish_up.set()
    await task  # ended on its own, not cancelled
    assert len(engine) == 0
    await engine.close()


async def test_the_drain_lets_tasks_stop_then_cancels_the_rest() -> None:
    engine = engine_of(Store())
    polite = engine.new_claim("polite")
    stubborn = engine.new_claim("stubborn")

    async def stops_when_asked() -> None:
        await polite.stopping.wait()

    polite_task = engine.launch(polite, stops_when_asked(), name="polite")
    stubborn_task = engine.launch(stubborn, asyncio.sleep(3600), name="stubborn")
    engine.begin_shutdown(drain_s=0.2)
    assert engine.new_claim("late").stopping.is_set()  # launched during the drain: stopping
    await engine.close()
    assert polite_task.done() and not polite_task.cancelled()
    assert stubborn_task.cancelled()


async def test_close_leaves_a_task_writing_its_end_under_a_shield_alone() -> None:
    """A task the drain cancelled writes its end under a shield; close must not cancel it a
    second time, or the write is abandoned to the pool's close."""
    engine = engine_of(Store())
    written = asyncio.Event()

    async def ends_under_a_shield() -> None:
        try:
            await asyncio.sleep(3600)
        finally:

            async def end_write() -> None:
                await asyncio.sleep(0.1)
                written.set()

            await asyncio.shield(end_write())

    task = engine.launch(engine.new_claim("a"), ends_under_a_shield(), name="a")
    await asyncio.sleep(0)
    engine.begin_shutdown(drain_s=0.05)
    await engine.close()
    assert task.cancelled() and written.is_set()


async def test_a_sweep_lapses_dead_owners_on_this_host_and_resumes() -> None:
    store = Store()
    engine = engine_of(store)
    proc = await asyncio.create_subprocess_exec("true")
    await proc.wait()  # a pid that no longer runs
    dead = new_owner_id().split(":")[0] + f":{proc.pid}:gone"
    store.claims["orphan"] = dead
    store.claims["elsewhere"] = "another-host:1:alive"
    assert owner_is_dead(dead) and not owner_is_dead("another-host:1:alive")
    assert not owner_is_dead(engine.owner_id)  # ourselves
    assert await engine.sweep() == ["orphan"]
    assert store.claims == {"orphan": engine.owner_id, "elsewhere": "another-host:1:alive"}
    await engine.close()
    assert await engine.sweep() == []  # closing: nothing more is taken


def test_the_drain_is_at_most_half_the_grace() -> None:
    assert drain_for(4.0) == 2.0
    assert drain_for(25.0) == 10.0
