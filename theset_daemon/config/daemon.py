"""The sections of the process's own resources: ``[server]``, ``[database]``, ``[redis]``,
``[auth]``, ``[log]``, ``[shutdown]``, ``[sse]``, ``[import]`` and ``[cache]``."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from theset_daemon.config.section import Section


class ServerSettings(Section):
    host: str = Field("127.0.0.1", min_length=1)
    # 0 asks the kernel for a free port (tests); the bound port is logged at start-up.
    port: int = Field(8080, ge=0, le=65535)
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = Field(65536, ge=1024, le=16 * 1024 * 1024)
    # The reverse proxies whose X-Forwarded-For is believed (addresses or CIDR blocks); kept as
    # canonical network text, so a reload compares and logs them as written.
    trusted_proxies: tuple[str, ...] = Field((), max_length=1000)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_networks(cls, proxies: tuple[str, ...]) -> tuple[str, ...]:
        networks = []
        for proxy in proxies:
            try:
                networks.append(str(ipaddress.ip_network(proxy.strip(), strict=False)))
            except ValueError:
                raise ValueError(
                    f"{proxy!r} is not an IP address or CIDR block like '10.0.0.0/8'"
                ) from None
        return tuple(networks)

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


class DatabaseSettings(Section):
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


class RedisSettings(Section):
    url: SecretStr = SecretStr("")
    token: SecretStr = SecretStr("")

    @field_validator("url")
    @classmethod
    def _redis_url(cls, url: SecretStr) -> SecretStr:
        value = url.get_secret_value()
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL, or empty")
        return url


class AuthSettings(Section):
    cron_secret: SecretStr = SecretStr("")
    admin_api_key: SecretStr = SecretStr("")


class LogSettings(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"


class ShutdownSettings(Section):
    grace_seconds: float = Field(25, gt=0, le=600)


class SseSettings(Section):
    heartbeat_seconds: float = Field(15, gt=0, le=300)
    queue_max_events: int = Field(256, ge=1, le=100_000)


class ImportSettings(Section):
    per_client_per_minute: int = Field(30, ge=1, le=100_000)
    phase1_timeout_seconds: float = Field(3, gt=0, le=60)
    # A POST for an artist whose last import completed this recently answers with that job and
    # calls no provider; 0 turns the reuse off.
    reuse_within_s: int = Field(3600, ge=0, le=7 * 86400)
    # Imports whose phases 2-3 run at once on this daemon; past it a new one is refused (503).
    max_running: int = Field(20, ge=1, le=10_000)


class CacheTtlSettings(Section):
    artist: int = Field(3600, ge=1)
    show: int = Field(21600, ge=1)
    songs: int = Field(86400, ge=1)
    setlists: int = Field(3600, ge=1)
    trending: int = Field(1800, ge=1)


class CacheSettings(Section):
    memory_max_entries: int = Field(10_000, ge=1, le=10_000_000)
    ttl_s: CacheTtlSettings = CacheTtlSettings()
