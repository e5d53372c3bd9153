"""``[jobs.*]``: each cron job's switch, schedule (5-field cron, UTC) and parameter defaults."""

from __future__ import annotations

from pydantic import Field, field_validator

from theset_daemon.config.section import Section
from theset_daemon.cron import cron_trigger


class JobSettings(Section):
    """What every job has: a switch for its schedule and the schedule itself (5-field cron, UTC)."""

    enabled: bool = True
    schedule: str

    @field_validator("schedule")
    @classmethod
    def _valid_cron(cls, schedule: str) -> str:
        cron_trigger(schedule)  # raises ValueError naming the field
        return schedule


class UpdateActiveArtistsSettings(JobSettings):
    schedule: str = "0 */6 * * *"
    limit: int = Field(50, ge=1, le=1000)
    force_sync: bool = False
    batch_size: int = Field(10, ge=1, le=1000)
    delay_s: float = Field(0, ge=0, le=600)


class TrendingArtistSyncSettings(JobSettings):
    schedule: str = "0 2 * * *"
    limit: int = Field(100, ge=1, le=1000)
    skip_recently_updated: bool = True
    batch_size: int = Field(5, ge=1, le=1000)
    delay_s: float = Field(1, ge=0, le=600)


class CompleteCatalogSyncSettings(JobSettings):
    schedule: str = "0 3 * * 0"
    max_artists: int = Field(500, ge=1, le=100_000)
    include_data_cleanup: bool = True
    perform_integrity_checks: bool = True
    batch_size: int = Field(10, ge=1, le=1000)
    # The seed's conservative pause between batches, kept on purpose: this job walks everything.
    delay_s: float = Field(5, ge=0, le=600)


class CalculateTrendingSettings(JobSettings):
    schedule: str = "0 * * * *"


class JobsSettings(Section):
    update_active_artists: UpdateActiveArtistsSettings = Field(
        UpdateActiveArtistsSettings(), alias="update-active-artists"
    )
    trending_artist_sync: TrendingArtistSyncSettings = Field(
        TrendingArtistSyncSettings(), alias="trending-artist-sync"
    )
    complete_catalog_sync: CompleteCatalogSyncSettings = Field(
        CompleteCatalogSyncSettings(), alias="complete-catalog-sync"
    )
    calculate_trending: CalculateTrendingSettings = Field(
        CalculateTrendingSettings(), alias="calculate-trending"
    )
