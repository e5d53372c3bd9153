"""The bounded pipeline every sync job runs its artists through.

One call, :func:`run_pipeline`, does the parts every job shares, so a job only says which items
to take and what to do with one:

- **Pages, never the table.** Items come from ``fetch_page(cursor, page_size)``, a keyset query
  (``WHERE (key) > cursor ORDER BY key LIMIT page_size``; see ``db/sync.py``), so memory is bounded
  by one page whatever the table's size. ``cursor_of(item)`` is the item's key as JSON (a string
  or a list), ``None`` asks for the first page. ``limit`` caps the items taken over the whole run;
  with ``counts``, only the items it is true of use it up: the others are walked past (processed,
  counted ``done``) while the walk goes on until ``limit`` counted items or the end.
- **Bounded work in flight.** Within a page, at most ``batch_size`` items run at once (the
  per-provider limiters pace their upstream calls). ``batch_size`` and ``delay_s`` are re-read
  from ``ctx.pacing()`` before each item or batch, so a SIGHUP applies mid-run. With
  ``delay_s == 0`` the items flow through a sliding window of ``batch_size``; with ``delay_s > 0``
  they go in batches of ``batch_size``, each finished before the pause and the next batch (the
  seed's gentle pacing, kept where a job's settings ask for it).
- **Failures isolated.** An exception from ``process(item)`` (anything but a cancellation) is
  logged, reported with ``ctx.reporter.item_failed(id_of(item), message)`` and counted; the run
  goes on. The runner turns "some failed" into ``partial`` and "every one failed" into ``failed``.
- **Quota refusals are not failures.** A :class:`QuotaExhausted` out of ``process`` or
  ``prepare`` stops the run calling that provider (``ctx.quota_stopped``, see
  ``jobs.quota_stops``): the item is done, neither failed nor reported, and a page whose
  ``prepare`` was refused still runs its items. Jobs skip a spent provider's calls themselves
  (``ctx.unless_spent``), so this is the net under them.
- **Progress** is reported after each item: ``(done, total, snapshot())``.
- **Checkpoints.** When every item of a page has finished (succeeded or failed: a failure is
  recorded, retrying it is the next run's business), the pipeline saves
  ``{"pipeline": {"cursor", "done", "failed", "taken"}, "summary": snapshot()}`` as
  ``ctx.checkpoint[state_key]`` and hands the whole ``ctx.checkpoint`` to the reporter (a job with
  several phases gives each its own ``state_key``). A resumed run (``ctx.checkpoint`` set)
  starts after the saved cursor with the saved counts; the job restores its own counters from
  :func:`resumed_summary`. Items of a page cut short are done again on resume, so ``process``
  must be idempotent (every catalog write is an upsert).
- **Stopping.** Once ``ctx.stopping`` is set no new item starts; the ones in flight finish, and
  :attr:`PipelineResult.stopped` tells the job (the runner then marks the run ``interrupted``).

:class:`BulkWriter` lets the items in flight share one write: each submits its row and waits
until the batch that holds it is stored.

``prepare(page)``, when given, runs once per page before its items, for the calls that are
cheaper by the page than by the item (Spotify's ``/artists?ids=`` takes 50 ids). An exception
there fails every item of the page, each reported.

Example::

    result = await run_pipeline(
        ctx,
        fetch_page=lambda cursor, n: sync_db.artists_page(pool, cursor, n),
        process=sync_one,
        cursor_of=lambda a: str(a.id),
        id_of=lambda a: a.id,
        total=count,
        snapshot=summary.as_json,
    )
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from uuid import UUID

import asyncpg

from theset_daemon.db.sync import SyncArtist
from theset_daemon.jobs.context import JobContext
from theset_daemon.log import get_logger
from theset_daemon.upstream.errors import QuotaExhausted

log = get_logger(__name__)

T = TypeVar("T")
Cursor = str | int | float | list[Any] | None
PageFetcher = Callable[[Cursor, int], Awaitable[Sequence[T]]]

DEFAULT_PAGE_SIZE = 100
MAX_ERROR_MESSAGE_CHARS = 300  # a Run's errors are for people: one line, not a traceback


@dataclass(slots=True)
class PipelineResult(Generic[T]):
    done: int  # items that finished, failed ones included
    failed: int
    stopped: bool  # ctx.stopping cut the run short
    cursor: Cursor  # the last durably completed page's cursor


RankedPage = Callable[[asyncpg.Pool, Sequence[Any] | None, int], Awaitable[list[SyncArtist]]]
"""A ranking's keyset page (``db.sync``): the next artists after a (rank, id) cursor."""


async def run_ranked_pipeline(
    ctx: JobContext,
    ranked: RankedPage,
    *,
    process: Callable[[SyncArtist], Awaitable[None]],
    total: int,
    snapshot: Callable[[], Mapping[str, Any]],
    limit: int,
    page_size: int,
    prepare: Callable[[Sequence[SyncArtist]], Awaitable[None]] | None = None,
) -> PipelineResult[SyncArtist]:
    """:func:`run_pipeline` over the artists of a ranking, best first, resumable at any rank."""
    pool = ctx.database.pool
    return await run_pipeline(
        ctx,
        fetch_page=lambda cursor, n: ranked(pool, cursor if isinstance(cursor, list) else None, n),
        process=process,
        cursor_of=lambda artist: artist.rank_cursor(),
        id_of=lambda artist: artist.id,
        total=total,
        snapshot=snapshot,
        prepare=prepare,
        limit=limit,
        page_size=page_size,
    )


def resumed_summary(ctx: JobContext, state_key: str = "pipeline") -> dict[str, Any]:
    """The job's summary counters as of the checkpoint this run resumes from ({} when fresh)."""
    saved = ctx.checkpoint.get(state_key)
    if isinstance(saved, Mapping) and isinstance(saved.get("summary"), Mapping):
        return dict(saved["summary"])
    return {}


def _message(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text.splitlines()[0][:MAX_ERROR_MESSAGE_CHARS] if text else type(exc).__name__


class _Window:
    """A semaphore whose size is read anew at every acquire (``batch_size`` is reloadable)."""

    def __init__(self, size: Callable[[], int]) -> None:
        self._size = size
        self._in_flight = 0
        self._changed = asyncio.Condition()

    async def acquire(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self._in_flight < max(1, self._size()))
            self._in_flight += 1

    async def release(self) -> None:
        async with self._changed:
            self._in_flight -= 1
            self._changed.notify_all()


async def run_pipeline(
    ctx: JobContext,
    *,
    fetch_page: PageFetcher[T],
    process: Callable[[T], Awaitable[None]],
    cursor_of: Callable[[T], Cursor],
    id_of: Callable[[T], UUID | str | None],
    total: int,
    snapshot: Callable[[], Mapping[str, Any]] = dict,
    prepare: Callable[[Sequence[T]], Awaitable[None]] | None = None,
    limit: int | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    state_key: str = "pipeline",
    counts: Callable[[T], bool] | None = None,
) -> PipelineResult[T]:
    """Run ``process`` over every item ``fetch_page`` yields (at most ``limit``); see the module
    docstring for the guarantees."""
    saved = ctx.checkpoint.get(state_key)
    state = saved.get("pipeline", {}) if isinstance(saved, Mapping) else {}
    cursor: Cursor = state.get("cursor")
    done = int(state.get("done", 0))
    failed = int(state.get("failed", 0))
    taken = int(state.get("taken", done))  # items that used up ``limit``
    if cursor is not None:
        log.info("pipeline_resumed", job=ctx.job, run_id=str(ctx.run_id), done=done)

    def batch_size() -> int:
        return ctx.pacing().batch_size

    def delay_s() -> float:
        return ctx.pacing().delay_s

    async def one(item: T) -> bool:
        nonlocal done, failed
        ok = True
        try:
            await process(item)
        except asyncio.CancelledError:
            raise
        except QuotaExhausted as refusal:
            ctx.quota_stopped(refusal)
        except Exception as exc:
            ok = False
            failed += 1
            item_id = id_of(item)
            log.warning(
                "job_item_failed",
                job=ctx.job,
                run_id=str(ctx.run_id),
                artist_id=str(item_id) if item_id is not None else None,
                error=_message(exc),
                exc_info=exc,
            )
            ctx.reporter.item_failed(item_id, _message(exc))
        done += 1
        await ctx.reporter.progress(done, total, snapshot())
        return ok

    window = _Window(batch_size)

    async def windowed(item: T) -> None:
        try:
            await one(item)
        finally:
            await window.release()

    stopped = False
    first_batch = True
    while not stopped:
        room = page_size if limit is None else limit - taken
        if room <= 0:
            break
        if ctx.stopping.is_set():
            stopped = True
            break
        # With ``counts`` a whole page is read: how many of it count is known once it is here.
        asked = page_size if counts is not None else min(page_size, room)
        fetched = list(await fetch_page(cursor, asked))
        if not fetched:
            break
        walked = page = _up_to(fetched, room, counts)
        taken += len(walked) if counts is None else sum(1 for item in walked if counts(item))
        if prepare is not None:
            try:
                await prepare(page)
            except asyncio.CancelledError:
                raise
            except QuotaExhausted as refusal:
                ctx.quota_stopped(refusal)  # the items do what the other providers allow
            except Exception as exc:
                log.warning("job_page_failed", job=ctx.job, error=_message(exc), exc_info=exc)
                for item in page:
                    failed += 1
                    done += 1
                    ctx.reporter.item_failed(id_of(item), f"page lookup failed: {_message(exc)}")
                await ctx.reporter.progress(done, total, snapshot())
                page = []
        started = 0
        if delay_s() > 0:
            while started < len(page):
                if ctx.stopping.is_set():
                    stopped = True
                    break
                if not first_batch:
                    await _pause(ctx.stopping, delay_s())
                    if ctx.stopping.is_set():
                        stopped = True
                        break
                first_batch = False
                batch = page[started : started + batch_size()]
                started += len(batch)
                await asyncio.gather(*(one(item) for item in batch))
        else:
            async with asyncio.TaskGroup() as group:
                for item in page:
                    await window.acquire()
                    if ctx.stopping.is_set():
                        await window.release()
                        stopped = True
                        break
                    started += 1
                    group.create_task(windowed(item))
        if started < len(page):
            break  # stopped mid-page: this page is not durably complete, resume redoes it
        cursor = cursor_of(walked[-1])
        # Kept in ctx.checkpoint too, so a job running several pipelines (one state_key each)
        # saves every phase's position, not just the latest one's.
        ctx.checkpoint[state_key] = {
            "pipeline": {"cursor": cursor, "done": done, "failed": failed, "taken": taken},
            "summary": dict(snapshot()),
        }
        await ctx.reporter.checkpoint(dict(ctx.checkpoint))
        if len(fetched) < asked:
            break  # a short page is the last one
    return PipelineResult(done=done, failed=failed, stopped=stopped, cursor=cursor)


def _up_to(items: list[T], room: int, counts: Callable[[T], bool] | None) -> list[T]:
    """``items`` up to and including the ``room``-th one that counts (all of them if fewer do)."""
    if counts is None:
        return items[:room]
    counted = 0
    for index, item in enumerate(items):
        counted += counts(item)
        if counted >= room:
            return items[: index + 1]
    return items


async def _pause(stopping: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less when the run is asked to stop."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), timeout=seconds)


# --- batching the writes of the items in flight -------------------------------------------------

#: How long a partly filled batch of rows waits for more before it is written.
WRITE_LINGER_S = 0.05


class BulkWriter(Generic[T]):
    """Collects the rows of the pipeline's items in flight and writes them together.

    ``submit(row)`` returns once the row is durably written (so the pipeline's checkpoint, taken
    after its items return, never runs ahead of the data), or raises the write's error. A batch
    goes out when ``max_rows()`` rows are waiting, or ``linger_s`` after its first row.
    """

    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[None]],
        max_rows: Callable[[], int],
        linger_s: float = WRITE_LINGER_S,
    ) -> None:
        self._write = write
        self._max_rows = max_rows
        self._linger_s = linger_s
        self._pending: list[tuple[T, asyncio.Future[None]]] = []
        self._timer: asyncio.Task[None] | None = None

    async def submit(self, row: T) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((row, done))
        if len(self._pending) >= max(1, self._max_rows()):
            await self._flush()
        elif self._timer is None:
            self._timer = asyncio.create_task(self._linger(), name="bulk-writer-linger")
        await done

    async def _linger(self) -> None:
        await asyncio.sleep(self._linger_s)
        self._timer = None
        await self._flush()

    async def _flush(self) -> None:
        if self._timer is not None and self._timer is not asyncio.current_task():
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            await self._write([row for row, _ in batch])
        except Exception as exc:
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
        else:
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    async def aclose(self) -> None:
        """Cancel a waiting timer and fail what is left unwritten (only after a cancellation)."""
        if self._timer is not None:
            self._timer.cancel()
            await asyncio.gather(self._timer, return_exceptions=True)
            self._timer = None
        for _, done in self._pending:
            if not done.done():
                done.cancel()
        self._pending = []
