"""``[monitoring]``: the alert rules' thresholds, re-notification, and where alerts go (email,
Slack, PagerDuty), with the notifier's retry policy."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from theset_daemon.config.section import Section, http_url
from theset_daemon.config.upstream import RetrySettings


class EmailSettings(Section):
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


class SlackSettings(Section):
    webhook_url: SecretStr = SecretStr("")


class PagerDutySettings(Section):
    events_url: str = "https://events.pagerduty.com/v2/enqueue"
    routing_key: SecretStr = SecretStr("")

    _urls = field_validator("events_url")(http_url)


NotifyChannel = Literal["email", "slack", "pagerduty"]
AlertRule = Literal[
    "error_rate", "slow_run", "consecutive_failures", "missed_execution", "quota_insufficient"
]


class RoutingSettings(Section):
    """Which channels each severity goes to; some rules also page PagerDuty (the seed's routing)."""

    critical: tuple[NotifyChannel, ...] = ("email",)
    warning: tuple[NotifyChannel, ...] = ("slack",)
    pagerduty_rules: tuple[AlertRule, ...] = ("consecutive_failures",)


class MonitoringSettings(Section):
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
