"""Settings: ``config.toml`` plus environment overrides, validated into frozen data.

Loading is pure (file text + environment -> :class:`Settings` or :class:`ConfigError` listing every
problem with its key path). Applying is someone else's business: the runtime swaps the
:class:`SettingsHolder`'s value on SIGHUP, after :func:`apply_reload` has kept the values of keys
that only a restart can change.

The key names are part of the contract (CONTRACT.md section 6); ``config.toml`` at the repository
root documents each one.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from theset_daemon.cron import cron_trigger

DEFAULT_CONFIG_PATH = Path("config.toml")

#: Environment variable -> dotted key it overrides. An empty variable counts as unset.
ENV_OVERRIDES: dict[str, str] = {
    "DATABASE_URL": "database.url",
    "REDIS_URL": "redis.url",
    "REDIS_TOKEN": "redis.token",
    "CRON_SECRET": "auth.cron_secret",
    "ADMIN_API_KEY": "auth.admin_api_key",
    "SPOTIFY_CLIENT_ID": "upstream.spotify.client_id",
    "SPOTIFY_CLIENT_SECRET": "upstream.spotify.client_secret",
    "TICKETMASTER_API_KEY": "upstream.ticketmaster.api_key",
    "SETLISTFM_API_KEY": "upstream.setlistfm.api_key",
}

#: Keys (or key prefixes ending in ".") whose new value needs a restart: they are bound to a
#: socket, a pool or a process started once. Every other key is applied live on SIGHUP.
RESTART_REQUIRED: tuple[str, ...] = (
    "server.host",
    "server.port",
    "server.max_body_bytes",
    "database.",
    "redis.",
    "upstream.mode",
    "upstream.simulator.",
    "upstream.spotify.api_base_url",
    "upstream.spotify.accounts_base_url",
    "upstream.ticketmaster.base_url",
    "upstream.setlistfm.base_url",
    "cache.memory_max_entries",
    "shutdown.grace_seconds",
    "sse.queue_max_events",
)


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class ServerSettings(_Section):
    host: str = Field("127.0.0.1", min_length=1)
    # 0 asks the kernel for a free port (tests); the bound port is logged at start-up.
    port: int = Field(8080, ge=0, le=65535)
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = Field(65536, ge=1024, le=16 * 1024 * 1024)

    @field_validator("cors_origins")
    @classmethod
    def _origins_are_origins(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        for origin in origins:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ValueError(f"{origin!r} is not an origin like 'https://theset.live'")
            if origin.endswith("/"):
                raise ValueError(f"{origin!r} must not end with '/'")
        return origins

    @property
    def local_url(self) -> str:
        """Where a command on this machine reaches the daemon (import, trigger, status)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"


class DatabaseSettings(_Section):
    url: SecretStr = SecretStr("")
    data_dir: Path = Path(".theset/pg")
    pool_min_size: int = Field(2, ge=0, le=100)
    pool_max_size: int = Field(10, ge=1, le=200)

    @field_validator("url")
    @classmethod
    def _postgres_url(cls, url: SecretStr) -> SecretStr:
        value = url.get_secret_value()
        if value and not value.startswith(("postgres://", "postgresql://")):
            raise ValueError("must be a postgresql:// URL, or empty for the embedded database")
        return url

    @model_validator(mode="after")
    def _min_not_above_max(self) -> DatabaseSettings:
        if self.pool_min_size > self.pool_max_size:
            raise ValueError("pool_min_size must not exceed pool_max_size")
        return self


class RedisSettings(_Section):
    url: SecretStr = SecretStr("")
    token: SecretStr = SecretStr("")

    @field_validator("url")
    @classmethod
    def _redis_url(cls, url: SecretStr) -> SecretStr:
        value = url.get_secret_value()
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL, or empty")
        return url


class AuthSettings(_Section):
    cron_secret: SecretStr = SecretStr("")
    admin_api_key: SecretStr = SecretStr("")


class LogSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"


class ShutdownSettings(_Section):
    grace_seconds: float = Field(25, gt=0, le=600)


class SseSettings(_Section):
    heartbeat_seconds: float = Field(15, gt=0, le=300)
    queue_max_events: int = Field(256, ge=1, le=100_000)


class ImportSettings(_Section):
    per_client_per_minute: int = Field(30, ge=1, le=100_000)
    phase1_timeout_seconds: float = Field(3, gt=0, le=60)


class SimulatorSettings(_Section):
    seed: int = 1
    artists: int = Field(200, ge=1, le=100_000)
    latency_ms: float = Field(20, ge=0, le=60_000)


class BreakerSettings(_Section):
    failure_threshold: int = Field(5, ge=1, le=1000)
    reset_timeout_s: float = Field(30, gt=0, le=3600)
    half_open_max_calls: int = Field(1, ge=1, le=100)


class RetrySettings(_Section):
    max_attempts: int = Field(4, ge=1, le=20)
    base_delay_s: float = Field(0.5, ge=0, le=60)
    max_delay_s: float = Field(30, ge=0, le=3600)

    @model_validator(mode="after")
    def _base_not_above_max(self) -> RetrySettings:
        if self.base_delay_s > self.max_delay_s:
            raise ValueError("base_delay_s must not exceed max_delay_s")
        return self


def _http_url(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"{url!r} is not an http(s) URL")
    return url.rstrip("/")


class ProviderSettings(_Section):
    """What every upstream has: a strict send rate, a circuit breaker and a retry policy."""

    max_rate_per_s: float = Field(gt=0, le=1000)
    # Whole exchange, send to last body byte; a slower answer counts as a failure.
    timeout_s: float = Field(10, gt=0, le=300)
    breaker: BreakerSettings = BreakerSettings()
    retry: RetrySettings = RetrySettings()


class SpotifySettings(ProviderSettings):
    api_base_url: str = "https://api.spotify.com/v1"
    accounts_base_url: str = "https://accounts.spotify.com"
    api_mode: Literal["extended", "development"] = "extended"
    client_id: SecretStr = SecretStr("")
    client_secret: SecretStr = SecretStr("")
    max_rate_per_s: float = Field(10, gt=0, le=1000)

    _urls = field_validator("api_base_url", "accounts_base_url")(_http_url)


class ApiKeyProviderSettings(ProviderSettings):
    """A provider reached with one API key and a daily call quota."""

    base_url: str
    api_key: SecretStr = SecretStr("")
    daily_quota: int = Field(ge=1)

    _urls = field_validator("base_url")(_http_url)


class TicketmasterSettings(ApiKeyProviderSettings):
    base_url: str = "https://app.ticketmaster.com/discovery/v2"
    max_rate_per_s: float = Field(5, gt=0, le=1000)
    daily_quota: int = Field(5000, ge=1)


class SetlistfmSettings(ApiKeyProviderSettings):
    base_url: str = "https://api.setlist.fm/rest/1.0"
    max_rate_per_s: float = Field(2, gt=0, le=1000)
    daily_quota: int = Field(1440, ge=1)


class UpstreamSettings(_Section):
    mode: Literal["simulated", "live"] = "simulated"
    simulator: SimulatorSettings = SimulatorSettings()
    spotify: SpotifySettings = SpotifySettings()
    ticketmaster: TicketmasterSettings = TicketmasterSettings()
    setlistfm: SetlistfmSettings = SetlistfmSettings()


class CacheTtlSettings(_Section):
    artist: int = Field(3600, ge=1)
    show: int = Field(21600, ge=1)
    songs: int = Field(86400, ge=1)
    setlists: int = Field(3600, ge=1)
    trending: int = Field(1800, ge=1)


class CacheSettings(_Section):
    memory_max_entries: int = Field(10_000, ge=1, le=10_000_000)
    ttl_s: CacheTtlSettings = CacheTtlSettings()


class JobSettings(_Section):
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


class JobsSettings(_Section):
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


class EmailSettings(_Section):
    smtp_host: str = ""
    smtp_port: int = Field(587, ge=1, le=65535)
    starttls: bool = True
    username: str = ""
    password: SecretStr = SecretStr("")
    sender: str = ""
    recipients: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _complete_when_enabled(self) -> EmailSettings:
        if self.smtp_host and (not self.sender or not self.recipients):
            raise ValueError("sender and recipients are required when smtp_host is set")
        return self


class SlackSettings(_Section):
    webhook_url: SecretStr = SecretStr("")


class PagerDutySettings(_Section):
    events_url: str = "https://events.pagerduty.com/v2/enqueue"
    routing_key: SecretStr = SecretStr("")

    _urls = field_validator("events_url")(_http_url)


NotifyChannel = Literal["email", "slack", "pagerduty"]
AlertRule = Literal["error_rate", "slow_run", "consecutive_failures", "missed_execution"]


class RoutingSettings(_Section):
    """Which channels each severity goes to; some rules also page PagerDuty (the seed's routing)."""

    critical: tuple[NotifyChannel, ...] = ("email",)
    warning: tuple[NotifyChannel, ...] = ("slack",)
    pagerduty_rules: tuple[AlertRule, ...] = ("consecutive_failures",)


class MonitoringSettings(_Section):
    error_rate_threshold: float = Field(0.10, gt=0, le=1)
    slow_run_s: float = Field(300, gt=0)
    consecutive_failures: int = Field(3, ge=1, le=1000)
    missed_grace_s: float = Field(600, ge=0)
    # An alert still active this long after its last notification is sent again; 0 never.
    renotify_interval_s: float = Field(14_400, ge=0)
    routing: RoutingSettings = RoutingSettings()
    notify_retry: RetrySettings = RetrySettings(max_attempts=5, base_delay_s=1, max_delay_s=60)
    email: EmailSettings = EmailSettings()
    slack: SlackSettings = SlackSettings()
    pagerduty: PagerDutySettings = PagerDutySettings()


class Settings(_Section):
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


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class ConfigError(Exception):
    """The configuration could not be loaded; ``problems`` lists every one, with its key path."""

    def __init__(self, source: str, problems: list[ConfigProblem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: {len(problems)} problem(s): " + "; ".join(map(str, problems)))


def resolve_path(cli_path: str | None, env: Mapping[str, str]) -> Path:
    """``--config`` wins, then ``$THESET_CONFIG``, then ``./config.toml``."""
    return Path(cli_path or env.get("THESET_CONFIG") or DEFAULT_CONFIG_PATH)


def load(path: Path, env: Mapping[str, str] | None = None) -> Settings:
    """Read ``path`` (TOML), apply environment overrides, validate; or raise ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        hint = "pass --config PATH or set THESET_CONFIG"
        raise ConfigError(str(path), [ConfigProblem("<file>", f"{exc.strerror}; {hint}")]) from exc
    return parse(text, os.environ if env is None else env, source=str(path))


def parse(text: str, env: Mapping[str, str], *, source: str = "<string>") -> Settings:
    try:
        raw: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [ConfigProblem("<file>", f"not valid TOML: {exc}")]) from exc
    for variable, key in ENV_OVERRIDES.items():
        if value := env.get(variable):
            _set_path(raw, key, value)
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(source, [_problem(error) for error in exc.errors()]) from None


def _problem(error: Mapping[str, Any]) -> ConfigProblem:
    key = ".".join(str(part) for part in error["loc"]) or "<root>"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key (see config.toml for the documented keys)"
    return ConfigProblem(key, message)


def _set_path(tree: dict[str, Any], dotted: str, value: object) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        child = tree.setdefault(part, {})
        if not isinstance(child, dict):  # the file has a scalar where a table belongs
            return  # leave it: validation reports the file's mistake
        tree = child
    tree[leaf] = value


def flatten(settings: BaseModel) -> dict[str, Any]:
    """Dotted key (as written in config.toml) -> value, secrets unwrapped for comparison only."""
    out: dict[str, Any] = {}

    def walk(model: BaseModel, prefix: str) -> None:
        for name, field in type(model).model_fields.items():
            value = getattr(model, name)
            key = prefix + (field.alias or name)
            if isinstance(value, BaseModel):
                walk(value, key + ".")
            else:
                out[key] = value.get_secret_value() if isinstance(value, SecretStr) else value

    walk(settings, "")
    return out


def _needs_restart(key: str) -> bool:
    return any(key == r or (r.endswith(".") and key.startswith(r)) for r in RESTART_REQUIRED)


@dataclass(frozen=True, slots=True)
class ConfigDiff:
    reloadable: tuple[str, ...]
    restart_required: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.reloadable or self.restart_required)


def diff(old: Settings, new: Settings) -> ConfigDiff:
    """The changed keys, split into those applied live and those that need a restart."""
    before, after = flatten(old), flatten(new)
    changed = sorted(key for key in after if before.get(key) != after[key])
    return ConfigDiff(
        reloadable=tuple(k for k in changed if not _needs_restart(k)),
        restart_required=tuple(k for k in changed if _needs_restart(k)),
    )


def apply_reload(old: Settings, new: Settings) -> tuple[Settings, ConfigDiff]:
    """The settings in force after a reload: ``new``, but restart-only keys keep ``old``."""
    changes = diff(old, new)
    if not changes.restart_required:
        return new, changes
    tree = new.model_dump(by_alias=True)
    kept = flatten(old)
    for key in changes.restart_required:
        _set_path(tree, key, kept[key])
    return Settings.model_validate(tree), changes


class SettingsHolder:
    """The one mutable place settings live; components read ``holder.current`` each time.

    A reload swaps the whole object in one assignment, so a reader never sees half a reload, and
    the assignment tells every subscriber at once, in the same turn of the loop (the scheduler
    reschedules before the reload is logged). A subscriber must not raise.
    """

    def __init__(self, settings: Settings, path: Path) -> None:
        self._current = settings
        self.path = path
        self._subscribers: list[Callable[[Settings], None]] = []

    @property
    def current(self) -> Settings:
        return self._current

    @current.setter
    def current(self, settings: Settings) -> None:
        self._current = settings
        for subscriber in list(self._subscribers):
            subscriber(settings)

    def subscribe(self, subscriber: Callable[[Settings], None]) -> Callable[[], None]:
        """Call ``subscriber`` with every new settings object; returns the unsubscribe."""
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)
