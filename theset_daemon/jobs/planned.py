"""Which artists a complete-catalog-sync phase refreshes, and in which order: the refresh plan's
(``catalog/plan.py``), read from every artist's state at the run's start (``db/plan.py``).

- **Kinds.** The artist sync refreshes what Spotify holds (``Kind.RELEASES``, stamped
  ``last_synced_at``), the show sync what Ticketmaster holds (``Kind.SHOWS``, ``shows_synced_at``).
- **Triggered** (HTTP, CLI): the ``limit`` most overdue, due or not (CONTRACT.md section 9).
- **Scheduled**: the due ones, most overdue first, as many as the run's share of the provider's
  background budget pays for (:func:`run_share`: the share of the time until the job's next
  fire, at most a day's). The setlist step asks at most that many artists one by one too.
- **Resume.** The plan is taken at the run's cut-off time (its start), and artists the run has
  already refreshed (stamped at or after it) are left out, so a resumed run recomputes the
  same order less what it did. The list is the remaining work, not a keyset: the pipeline's
  cursor is ``[token, position]``, and a cursor from another list (a run resumed by another
  process) starts the new list from its beginning.

Why a list and not a keyset page: the order is a product of several columns, tiers and an
activity score; computing it once in Python keeps one definition of it (``catalog/plan.py``), and
10,000 artists are a 2 MB read.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from theset_daemon.catalog import plan
from theset_daemon.cron import cron_trigger
from theset_daemon.db import catalog_sync as store
from theset_daemon.jobs.context import JobContext

KIND_OF_PHASE: dict[str, plan.Kind] = {
    "artist-sync": plan.Kind.RELEASES,
    "show-sync": plan.Kind.SHOWS,
}


@dataclass(slots=True)
class PlannedArtists:
    """The artists left for one phase, in order, handed to the pipeline a page at a time."""

    ids: list[UUID]
    token: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __len__(self) -> int:
        return len(self.ids)

    async def page(self, ctx: JobContext, cursor: Any, size: int) -> list[store.CatalogArtist]:
        """The ``size`` artists after ``cursor`` (``[token, position]`` of this list)."""
        start = 0
        if isinstance(cursor, list) and len(cursor) == 2 and cursor[0] == self.token:
            start = int(cursor[1])
        found: list[store.CatalogArtist] = []
        # An artist deleted since the plan was made is skipped; the page is still filled, since
        # a short page tells the pipeline the list has ended.
        while len(found) < size and start < len(self.ids):
            ids = self.ids[start : start + size - len(found)]
            after = {artist_id: start + n + 1 for n, artist_id in enumerate(ids)}
            rows = await store.artists_by_ids(ctx.database.pool, ids)
            found += [artist.at([self.token, after[artist.id]]) for artist in rows]
            start += len(ids)
        return found


def planned_artists(
    ctx: JobContext,
    every_artist: Sequence[plan.ArtistState],
    phase: str,
    cutoff: dt.datetime,
    limit: int,
) -> PlannedArtists:
    """The artists ``phase`` refreshes in this run (see the module's docstring), of
    ``every_artist`` (``db.plan.artist_states``, read once for the run's phases); ``limit`` caps
    a triggered run (its ``maxArtists`` less what a resumed run already took)."""
    kind = KIND_OF_PHASE[phase]
    settings = ctx.holder.current
    states = [
        state
        for state in every_artist
        if (fetched := state.fetched_at.get(kind)) is None or fetched < cutoff
    ]
    if ctx.trigger != "schedule":
        chosen = plan.in_order(states, kind, cutoff, settings.plan)[: max(0, limit)]
    else:
        due = plan.due_in_order(states, kind, cutoff, settings.plan)
        share = run_share(ctx, plan.PROVIDER_OF[kind], cutoff)
        chosen = plan.within_budget(due, kind, share)
    return PlannedArtists([state.artist_id for state in chosen])


def run_share(ctx: JobContext, provider: str, now: dt.datetime) -> float:
    """The requests a scheduled run may spend of ``provider``'s background share
    (``plan.run_share``: the share of the time until the job's next fire, at most a day's)."""
    section = ctx.holder.current.upstream.of(provider)
    share = plan.background_share_per_day(
        section.max_rate_per_s, section.daily_quota, section.interactive_reserve
    )
    return plan.run_share(share, _until_next_run(ctx, now))


def _until_next_run(ctx: JobContext, now: dt.datetime) -> dt.timedelta:
    following = cron_trigger(ctx.job_settings().schedule).get_next_fire_time(None, now)
    return following - now if following is not None else plan.DAY
