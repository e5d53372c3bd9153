"""``[jobs.*]``: each cron job's switch, schedule (5-field cron, UTC), pacing and run options.

``[jobs]`` itself holds what several jobs share: ``keyword_show_lookup_days``, the days at
least between two keyword searches for the shows of an artist without a Ticketmaster attraction
id (``refresh/grouped_shows.py``).

A job's run options (``limit``, ``force_sync`` ...) are declared once, with their bounds and
defaults, in its ``*Options`` model. Its settings section inherits them (snake_case in the file,
the defaults of every run) and so does its request body (``jobs.context``: camelCase on the
wire, overriding the section per run), so the two cannot drift apart.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

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


class BatchedJobSettings(JobSettings):
    """A job that walks artists through the pipeline: how many at once, and the pause between
    batches (both reloadable mid-run)."""

    batch_size: int = Field(10, ge=1, le=1000)
    delay_s: float = Field(0, ge=0, le=600)


# --- run options: in the section (defaults) and in a trigger's body (per run) -----------------


class UpdateActiveArtistsOptions(BaseModel):
    limit: int = Field(50, ge=1, le=1000)
    force_sync: bool = False


class TrendingArtistSyncOptions(BaseModel):
    limit: int = Field(100, ge=1, le=1000)
    skip_recently_updated: bool = True


class CompleteCatalogSyncOptions(BaseModel):
    max_artists: int = Field(500, ge=1, le=100_000)
    include_data_cleanup: bool = True
    perform_integrity_checks: bool = True


class CalculateTrendingOptions(BaseModel):
    pass


# --- the sections -------------------------------------------------------------------------------


class UpdateActiveArtistsSettings(BatchedJobSettings, UpdateActiveArtistsOptions):
    schedule: str = "0 */6 * * *"


class TrendingArtistSyncSettings(BatchedJobSettings, TrendingArtistSyncOptions):
    schedule: str = "0 2 * * *"
    batch_size: int = Field(5, ge=1, le=1000)
    delay_s: float = Field(1, ge=0, le=600)


class CompleteCatalogSyncSettings(BatchedJobSettings, CompleteCatalogSyncOptions):
    schedule: str = "0 3 * * 0"
    # The seed's conservative pause between batches, kept on purpose: this job walks everything.
    delay_s: float = Field(5, ge=0, le=600)


class CalculateTrendingSettings(JobSettings, CalculateTrendingOptions):
    schedule: str = "0 * * * *"


class JobsSettings(Section):
    """``[jobs]``: what the jobs share, then one section per job."""

    # An artist without a Ticketmaster attraction id can only be found by name, one request each
    # (refresh/grouped_shows.py); its shows change slowly enough to ask weekly.
    keyword_show_lookup_days: int = Field(7, ge=1, le=365)
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

    def of(self, job: str) -> JobSettings:
        """The section of ``job``, by its contract name (``update-active-artists``)."""
        for name, field in type(self).model_fields.items():
            if field.alias == job:
                section: JobSettings = getattr(self, name)
                return section
        raise KeyError(job)
