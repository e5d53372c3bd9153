"""``[upstream]``: the mode, the built-in simulator, and each provider's address, credentials,
strict send rate, circuit breaker, retry policy and daily quota."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from theset_daemon.config.section import Section, http_url


class SimulatorSettings(Section):
    seed: int = 1
    artists: int = Field(200, ge=1, le=100_000)
    latency_ms: float = Field(20, ge=0, le=60_000)
    # Authenticated calls a day the simulator serves before the provider's quota 429.
    ticketmaster_daily_quota: int = Field(5000, ge=1, le=100_000_000)
    setlistfm_daily_quota: int = Field(1440, ge=1, le=100_000_000)


class BreakerSettings(Section):
    failure_threshold: int = Field(5, ge=1, le=1000)
    reset_timeout_s: float = Field(30, gt=0, le=3600)
    half_open_max_calls: int = Field(1, ge=1, le=100)


class RetrySettings(Section):
    max_attempts: int = Field(4, ge=1, le=20)
    base_delay_s: float = Field(0.5, ge=0, le=60)
    max_delay_s: float = Field(30, ge=0, le=3600)

    @model_validator(mode="after")
    def _base_not_above_max(self) -> RetrySettings:
        if self.base_delay_s > self.max_delay_s:
            raise ValueError("base_delay_s must not exceed max_delay_s")
        return self


class ProviderSettings(Section):
    """What every upstream has: a strict send rate, a daily quota shared by two classes of
    request (section 9 of the budget: imports are *interactive*, jobs *background*), a circuit
    breaker and a retry policy. Rate and quota hold per key, across every daemon."""

    max_rate_per_s: float = Field(gt=0, le=1000)
    #: Requests per UTC day with this key; 0: no daily quota.
    daily_quota: int = Field(0, ge=0, le=100_000_000)
    #: The share of ``daily_quota`` only imports may use: the jobs stop before it.
    interactive_reserve: float = Field(0.2, ge=0, le=1)
    #: The share of ``daily_quota`` imports may use at most, so they never starve the jobs.
    interactive_max: float = Field(0.6, ge=0, le=1)
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

    _urls = field_validator("api_base_url", "accounts_base_url")(http_url)


class ApiKeyProviderSettings(ProviderSettings):
    """A provider reached with one API key (and a daily quota by default)."""

    base_url: str
    api_key: SecretStr = SecretStr("")

    _urls = field_validator("base_url")(http_url)


class TicketmasterSettings(ApiKeyProviderSettings):
    base_url: str = "https://app.ticketmaster.com/discovery/v2"
    max_rate_per_s: float = Field(5, gt=0, le=1000)
    daily_quota: int = Field(5000, ge=0, le=100_000_000)


class SetlistfmSettings(ApiKeyProviderSettings):
    base_url: str = "https://api.setlist.fm/rest/1.0"
    max_rate_per_s: float = Field(2, gt=0, le=1000)
    daily_quota: int = Field(1440, ge=0, le=100_000_000)


class UpstreamSettings(Section):
    mode: Literal["simulated", "live"] = "simulated"
    simulator: SimulatorSettings = SimulatorSettings()
    spotify: SpotifySettings = SpotifySettings()
    ticketmaster: TicketmasterSettings = TicketmasterSettings()
    setlistfm: SetlistfmSettings = SetlistfmSettings()

    def of(self, provider: str) -> ProviderSettings:
        """The section of ``provider`` (``spotify``, ``ticketmaster``, ``setlistfm``)."""
        section: ProviderSettings = getattr(self, provider)
        return section
