"""The state of a complete-catalog-sync run (``jobs/complete_catalog_sync.py``): what its
checkpoint holds (the cut-off time, the finished phases with their results, the counts), and the
reporter its phases see, which counts progress over the whole run rather than per phase."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from theset_daemon.jobs.context import JobContext
from theset_daemon.jobs.summaries import CompleteCatalogSyncSummary

PHASES = ("artist-sync", "show-sync", "data-cleanup", "integrity-checks")


@dataclass(slots=True)
class RunState:
    cutoff: dt.datetime
    summary: CompleteCatalogSyncSummary = field(default_factory=CompleteCatalogSyncSummary)
    items_total: int = 0
    items_failed: int = 0

    def as_checkpoint(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff.isoformat(),
            **self.summary.as_json(),
            "itemsTotal": self.items_total,
            "itemsFailed": self.items_failed,
        }

    @classmethod
    def from_checkpoint(cls, saved: Mapping[str, Any] | None) -> RunState:
        if not saved or "cutoff" not in saved:
            return cls(cutoff=dt.datetime.now(dt.UTC))
        return cls(
            cutoff=dt.datetime.fromisoformat(saved["cutoff"]),
            # (an older checkpoint says "integrity": null before that phase ran)
            summary=CompleteCatalogSyncSummary.from_json(
                {key: value for key, value in saved.items() if value is not None}
            ),
            items_total=int(saved.get("itemsTotal", 0)),
            items_failed=int(saved.get("itemsFailed", 0)),
        )

    def finished(self, name: str) -> bool:
        return any(p.name == name for p in self.summary.phases)


class OverallProgress:
    """The reporter the phases see: progress is counted over the whole run (both artist phases'
    items, then one step per maintenance phase), with the run's summary so far."""

    def __init__(self, ctx: JobContext, state: RunState, totals: dict[str, int]) -> None:
        self._inner = ctx.reporter
        self._state = state
        self._totals = totals
        self.phase = PHASES[0]

    def offset(self) -> int:
        """Items of the phases before the current one."""
        index = PHASES.index(self.phase)
        return sum(self._totals[name] for name in PHASES[:index])

    @property
    def total(self) -> int:
        return sum(self._totals.values())

    async def progress(
        self, done: int, total: int, summary: Mapping[str, Any] | None = None
    ) -> None:
        await self._inner.progress(self.offset() + done, self.total, self._state.summary.as_json())

    async def checkpoint(self, checkpoint: Mapping[str, Any]) -> None:
        await self._inner.checkpoint({**checkpoint, "run": self._state.as_checkpoint()})

    def item_failed(self, artist_id: UUID | str | None, message: str) -> None:
        self._inner.item_failed(artist_id, message)
