"""Each job's summary (CONTRACT.md section 4) as a model: counted into by the job, stored in the
Run's ``summary`` and its checkpoint, and documented in ``/api/openapi.json`` from the same class.

Fields are snake_case in code and camelCase on the wire; every field has a default, so a run's
summary so far (``{}`` when it has just started) is valid against its model too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

PROVIDERS = ("spotify", "ticketmaster", "setlistfm")


class Summary(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def from_json(cls, saved: Mapping[str, Any] | None) -> Self:
        """A summary saved in a checkpoint (``{}`` or None for a fresh run)."""
        return cls.model_validate(dict(saved or {}))


class QuotaStoppable(Summary):
    """A summary of a job that calls the upstreams: ``quotaStopped`` names the providers whose
    share of the day's quota the run used up and stopped calling (CONTRACT.md section 9), sorted.
    Absent when there are none, so a run that was not stopped reads as it always did."""

    quota_stopped: list[str] = Field(
        default_factory=list,
        description="Providers this run stopped calling because its share of the day's quota "
        "was used up (sorted); absent when none.",
    )

    def as_json(self) -> dict[str, Any]:
        rendered = super().as_json()
        if not self.quota_stopped:
            rendered.pop("quotaStopped", None)
        return rendered


class UpdateActiveArtistsSummary(QuotaStoppable):
    selected: int = 0
    synced: int = 0
    skipped: int = 0
    failed: int = 0
    new_releases: int = 0
    shows_upserted: int = 0
    songs_upserted: int = 0
    api_calls: dict[str, int] = Field(default_factory=lambda: dict.fromkeys(PROVIDERS, 0))


class TrendingArtistSyncSummary(QuotaStoppable):
    selected: int = 0
    synced: int = 0
    skipped_recent: int = 0
    failed: int = 0
    albums_scanned: int = 0
    songs_upserted: int = 0
    live_tracks_flagged: int = 0
    duplicates_merged: int = 0
    stale_removed: int = 0


class PhaseOutcome(Summary):
    name: str  # artist-sync | show-sync | data-cleanup | integrity-checks
    status: str  # succeeded | partial | failed | skipped | interrupted
    duration_ms: int


class IntegrityViolation(Summary):
    check: str
    count: int


class Integrity(Summary):
    ok: bool = True
    violations: list[IntegrityViolation] = Field(default_factory=list)


class CompleteCatalogSyncSummary(QuotaStoppable):
    phases: list[PhaseOutcome] = Field(default_factory=list)
    duplicates_removed: int = 0
    orphans_removed: int = 0
    integrity: Integrity = Field(default_factory=Integrity)


class CalculateTrendingSummary(Summary):
    artists_scored: int = 0
    shows_scored: int = 0
    refreshed_views: list[str] = Field(default_factory=list)


JobSummary = (
    UpdateActiveArtistsSummary
    | TrendingArtistSyncSummary
    | CompleteCatalogSyncSummary
    | CalculateTrendingSummary
)
