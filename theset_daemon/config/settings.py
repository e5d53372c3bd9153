""":class:`Settings`: the whole tree, one attribute per top-level table of ``config.toml``."""

from __future__ import annotations

from pydantic import Field

from theset_daemon.config.daemon import (
    AuthSettings,
    CacheSettings,
    DatabaseSettings,
    ImportSettings,
    LogSettings,
    RedisSettings,
    ServerSettings,
    ShutdownSettings,
    SseSettings,
)
from theset_daemon.config.jobs import JobsSettings
from theset_daemon.config.monitoring import MonitoringSettings
from theset_daemon.config.plan import PlanSettings
from theset_daemon.config.section import Section
from theset_daemon.config.upstream import UpstreamSettings


class Settings(Section):
    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    auth: AuthSettings = AuthSettings()
    log: LogSettings = LogSettings()
    shutdown: ShutdownSettings = ShutdownSettings()
    sse: SseSettings = SseSettings()
    import_: ImportSettings = Field(ImportSettings(), alias="import")
    upstream: UpstreamSettings = UpstreamSettings()
    cache: CacheSettings = CacheSettings()
    jobs: JobsSettings = JobsSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    plan: PlanSettings = PlanSettings()
