"""Which artists an ``update-active-artists`` run takes, and in which order.

Two kinds of run, told apart by ``ctx.trigger`` (set by the runner from the run's row):

- **Scheduled** (``forceSync`` false): a walk down the activity ranking (``db.sync``'s
  ``most_active_artists``), most active first, that takes the artists due at the run's start
  (``catalog.activity.is_due``) and walks past the fresh ones: those are counted ``skipped`` but
  do not use up ``limit``. It ends when ``limit`` due artists were taken or the ranking ends.
- **Triggered** over HTTP or the CLI (CONTRACT.md section 9, "Triggered runs do what they are
  asked"): the top ``limit`` artists by activity, due or not, the most overdue first (never
  refreshed, then the oldest refresh: ``most_overdue_active_artists``).

A scheduled run with ``forceSync`` takes the top ``limit`` by activity, everyone due, as it always
did.

Both read on the database's clock: the run's ``started_at`` is the "now" of the due rule and the
line after which an artist counts as refreshed by this run, so a resumed run (which keeps its
first start) judges as its first attempt did.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from theset_daemon.catalog.activity import due_before, is_due
from theset_daemon.db import sync as sync_db
from theset_daemon.db.sync import SyncArtist
from theset_daemon.jobs.context import JobContext, UpdateActiveArtistsParams
from theset_daemon.jobs.pipeline import Cursor


@dataclass(frozen=True, slots=True)
class Selection:
    """What ``run_pipeline`` needs to walk a run's artists, and which of them to sync."""

    fetch_page: Callable[[Cursor, int], Awaitable[Sequence[SyncArtist]]]
    cursor_of: Callable[[SyncArtist], Cursor]
    #: Whether to sync the artist (the others are counted ``skipped``).
    due: Callable[[SyncArtist], bool]
    #: Which artists use up ``limit`` (None: every one).
    counts: Callable[[SyncArtist], bool] | None
    #: How many artists the walk is expected to pass (the run's progress total).
    total: int


def _listed(cursor: Cursor) -> Sequence[Any] | None:
    return cursor if isinstance(cursor, list) else None


def _overdue(cursor: Cursor) -> Sequence[Any] | None:
    """An overdue cursor, ``[refreshed_at or None, id]``. One of another shape (a run resumed
    from a checkpoint of another version) starts from the top again, which costs nothing: what
    the run already refreshed is left out by its ``as_of``."""
    if isinstance(cursor, list) and len(cursor) == 2 and isinstance(cursor[0], str | None):
        return cursor
    return None


def _everyone(artist: SyncArtist) -> bool:
    return True


async def select_artists(ctx: JobContext, params: UpdateActiveArtistsParams) -> Selection:
    """The run's selection (see the module docstring)."""
    pool = ctx.database.pool
    started_at = ctx.started_at

    if ctx.trigger != "schedule":

        async def most_overdue(cursor: Cursor, n: int) -> Sequence[SyncArtist]:
            return await sync_db.most_overdue_active_artists(
                pool, _overdue(cursor), n, top=params.limit, as_of=started_at
            )

        total = min(params.limit, await sync_db.count_active_artists(pool))
        return Selection(most_overdue, SyncArtist.overdue_cursor, _everyone, None, total)

    async def most_active(cursor: Cursor, n: int) -> Sequence[SyncArtist]:
        return await sync_db.most_active_artists(pool, _listed(cursor), n)

    if params.force_sync:
        total = min(params.limit, await sync_db.count_active_artists(pool))
        return Selection(most_active, SyncArtist.rank_cursor, _everyone, None, total)

    def due(artist: SyncArtist) -> bool:
        return is_due(artist.refreshed_at, started_at)

    total = await sync_db.count_walk_to_due(pool, params.limit, due_before(started_at))
    return Selection(most_active, SyncArtist.rank_cursor, due, due, total)
