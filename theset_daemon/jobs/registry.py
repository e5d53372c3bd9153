"""Each contract job name, its request model and its function; and how a run's params are made.

A run's params are the job's ``[jobs.<job>]`` defaults (as of the trigger), overlaid with the
request body. The body is validated by the job's model, so an unknown field or an out-of-range
number is a 400 naming the field, and the stored ``params`` are always complete.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from theset_daemon.config import Settings
from theset_daemon.jobs import (
    calculate_trending,
    complete_catalog_sync,
    trending_artist_sync,
    update_active_artists,
)
from theset_daemon.jobs.context import (
    CalculateTrendingParams,
    CompleteCatalogSyncParams,
    JobFunction,
    JobName,
    JobParams,
    TrendingArtistSyncParams,
    UpdateActiveArtistsParams,
)


@dataclass(frozen=True, slots=True)
class JobSpec:
    name: JobName
    params_model: type[JobParams]
    run: JobFunction

    def params(self, body: Mapping[str, Any] | None, settings: Settings) -> JobParams:
        """Config defaults overlaid with ``body`` (wire names); raises ValidationError."""
        section = settings.jobs.of(self.name)
        defaults = {
            field.alias or name: getattr(section, name)  # every option is in the section
            for name, field in self.params_model.model_fields.items()
        }
        return self.params_model.model_validate({**defaults, **(body or {})})


JOBS: dict[JobName, JobSpec] = {
    spec.name: spec
    for spec in (
        JobSpec("update-active-artists", UpdateActiveArtistsParams, update_active_artists.run),
        JobSpec("trending-artist-sync", TrendingArtistSyncParams, trending_artist_sync.run),
        JobSpec("complete-catalog-sync", CompleteCatalogSyncParams, complete_catalog_sync.run),
        JobSpec("calculate-trending", CalculateTrendingParams, calculate_trending.run),
    )
}
