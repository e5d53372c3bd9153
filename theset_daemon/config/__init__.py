"""Settings: ``config.toml`` plus environment overrides, validated into frozen data.

Loading is pure (file text + environment -> :class:`Settings` or :class:`ConfigError` listing every
problem with its key path). Applying is someone else's business: the runtime swaps the
:class:`SettingsHolder`'s value on SIGHUP, after :func:`apply_reload` has kept the values of keys
that only a restart can change.

The key names are part of the contract (CONTRACT.md section 6); ``config.toml`` at the repository
root documents each one.

Import every name from here (``from theset_daemon.config import Settings``); the modules behind
it are one concern each:

- ``section``: the base of every section and the URL check;
- ``daemon``: the process's own resources (server, database, redis, auth, log, shutdown, sse,
  import, cache);
- ``upstream``: the providers and the simulator;
- ``jobs``: each cron job's schedule and parameter defaults;
- ``monitoring``: alert thresholds and notification channels;
- ``settings``: :class:`Settings`, the whole tree;
- ``loading``: file and environment to settings, or every problem;
- ``reload``: what a reload changes and keeps, and :class:`SettingsHolder`.
"""

from theset_daemon.config.daemon import (
    AuthSettings,
    CacheSettings,
    CacheTtlSettings,
    DatabaseSettings,
    ImportSettings,
    LogSettings,
    RedisSettings,
    ServerSettings,
    ShutdownSettings,
    SseSettings,
)
from theset_daemon.config.jobs import (
    BatchedJobSettings,
    CalculateTrendingOptions,
    CalculateTrendingSettings,
    CompleteCatalogSyncOptions,
    CompleteCatalogSyncSettings,
    JobSettings,
    JobsSettings,
    TrendingArtistSyncOptions,
    TrendingArtistSyncSettings,
    UpdateActiveArtistsOptions,
    UpdateActiveArtistsSettings,
)
from theset_daemon.config.loading import (
    DEFAULT_CONFIG_PATH,
    ENV_OVERRIDES,
    ConfigError,
    ConfigProblem,
    load,
    parse,
    resolve_path,
)
from theset_daemon.config.monitoring import (
    AlertRule,
    EmailSettings,
    MonitoringSettings,
    NotifyChannel,
    PagerDutySettings,
    RoutingSettings,
    SlackSettings,
)
from theset_daemon.config.plan import PlanSettings
from theset_daemon.config.reload import (
    RESTART_REQUIRED,
    ConfigDiff,
    SettingsHolder,
    apply_reload,
    diff,
    flatten,
)
from theset_daemon.config.settings import Settings
from theset_daemon.config.upstream import (
    ApiKeyProviderSettings,
    BreakerSettings,
    ProviderSettings,
    RetrySettings,
    SetlistfmSettings,
    SimulatorSettings,
    SpotifySettings,
    TicketmasterSettings,
    UpstreamSettings,
)

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "ENV_OVERRIDES",
    "RESTART_REQUIRED",
    "AlertRule",
    "ApiKeyProviderSettings",
    "AuthSettings",
    "BatchedJobSettings",
    "BreakerSettings",
    "CacheSettings",
    "CacheTtlSettings",
    "CalculateTrendingOptions",
    "CalculateTrendingSettings",
    "CompleteCatalogSyncOptions",
    "CompleteCatalogSyncSettings",
    "ConfigDiff",
    "ConfigError",
    "ConfigProblem",
    "DatabaseSettings",
    "EmailSettings",
    "ImportSettings",
    "JobSettings",
    "JobsSettings",
    "LogSettings",
    "MonitoringSettings",
    "NotifyChannel",
    "PagerDutySettings",
    "PlanSettings",
    "ProviderSettings",
    "RedisSettings",
    "RetrySettings",
    "RoutingSettings",
    "ServerSettings",
    "SetlistfmSettings",
    "Settings",
    "SettingsHolder",
    "ShutdownSettings",
    "SimulatorSettings",
    "SlackSettings",
    "SpotifySettings",
    "SseSettings",
    "TicketmasterSettings",
    "TrendingArtistSyncOptions",
    "TrendingArtistSyncSettings",
    "UpdateActiveArtistsOptions",
    "UpdateActiveArtistsSettings",
    "UpstreamSettings",
    "apply_reload",
    "diff",
    "flatten",
    "load",
    "parse",
    "resolve_path",
]
