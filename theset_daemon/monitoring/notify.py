"""The notifiers: email (aiosmtplib), Slack (incoming webhook) and PagerDuty (Events API v2).

Each notification names the alert ``id``, ``job`` and ``rule`` (CONTRACT.md section 8), says
whether the alert fired or resolved, and goes to the channels its routing picks:

* critical -> email, warning -> Slack (the seed's routing; ``[monitoring.routing]`` changes it);
* the rules in ``pagerduty_rules`` (by default ``consecutive_failures``) also page PagerDuty, with
  ``dedup_key = "theset:<job>:<rule>"`` for both the ``trigger`` and the ``resolve``, so PagerDuty
  folds them into one incident.

Sending never blocks a job: :meth:`Notifier.send` starts one task per channel and returns. Each
channel retries with tenacity (exponential back-off; a 4xx other than 429 is not retried, since
sending the same bad request again cannot help), and a channel that still fails is logged,
never raised. :meth:`Notifier.close` waits a bounded time for what is in flight at shutdown.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Any, Literal

import aiohttp
import aiosmtplib
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from theset_daemon.config import MonitoringSettings, SettingsHolder
from theset_daemon.log import get_logger

log = get_logger(__name__)

Channel = Literal["email", "slack", "pagerduty"]
Action = Literal["fire", "resolve"]
HTTP_TIMEOUT_S = 10.0
CLOSE_WAIT_S = 5.0


@dataclass(frozen=True, slots=True)
class Notification:
    action: Action
    alert_id: str
    job: str
    rule: str
    severity: Literal["warning", "critical"]
    message: str
    fired_at: datetime
    resolved_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        state = "FIRING" if self.action == "fire" else "RESOLVED"
        return f"[theset] {state} {self.severity} {self.rule}: {self.job}"

    @property
    def dedup_key(self) -> str:
        return f"theset:{self.job}:{self.rule}"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.alert_id,
            "action": self.action,
            "job": self.job,
            "rule": self.rule,
            "severity": self.severity,
            "message": self.message,
            "firedAt": self.fired_at.isoformat(),
            "resolvedAt": self.resolved_at.isoformat() if self.resolved_at else None,
            "details": self.details,
        }


class ChannelError(Exception):
    def __init__(self, channel: Channel, detail: str, *, retryable: bool = True) -> None:
        super().__init__(f"{channel}: {detail}")
        self.retryable = retryable


def channels_for(notification: Notification, settings: MonitoringSettings) -> list[Channel]:
    """The configured channels this notification goes to (unconfigured ones are skipped)."""
    routing = settings.routing
    wanted: list[Channel] = list(
        routing.critical if notification.severity == "critical" else routing.warning
    )
    if notification.rule in routing.pagerduty_rules and "pagerduty" not in wanted:
        wanted.append("pagerduty")
    configured = {
        "email": bool(settings.email.smtp_host),
        "slack": bool(settings.slack.webhook_url.get_secret_value()),
        "pagerduty": bool(settings.pagerduty.routing_key.get_secret_value()),
    }
    return [channel for channel in wanted if configured[channel]]


class Notifier:
    def __init__(self, holder: SettingsHolder, session: aiohttp.ClientSession) -> None:
        self._holder = holder
        self._session = session
        self._tasks: set[asyncio.Task[bool]] = set()
        self._host = socket.gethostname()
        self._senders: dict[Channel, Callable[[Notification, MonitoringSettings], Awaitable[None]]]
        self._senders = {"email": self._email, "slack": self._slack, "pagerduty": self._pagerduty}

    def send(self, notification: Notification) -> dict[Channel, asyncio.Task[bool]]:
        """Start sending to every routed channel; returns the tasks (True when delivered)."""
        settings = self._holder.current.monitoring
        started: dict[Channel, asyncio.Task[bool]] = {}
        for channel in channels_for(notification, settings):
            task = asyncio.create_task(
                self._deliver(channel, notification, settings),
                name=f"notify-{channel}-{notification.alert_id}",
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            started[channel] = task
        return started

    async def _deliver(
        self, channel: Channel, notification: Notification, settings: MonitoringSettings
    ) -> bool:
        retry = settings.notify_retry
        logged = log.bind(
            channel=channel,
            alert_id=notification.alert_id,
            job=notification.job,
            rule=notification.rule,
        )
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(retry.max_attempts),
                wait=wait_exponential(multiplier=retry.base_delay_s, max=retry.max_delay_s),
                retry=retry_if_exception(
                    lambda exc: not isinstance(exc, ChannelError) or exc.retryable
                ),
                reraise=True,
            ):
                with attempt:
                    await self._senders[channel](notification, settings)
        except Exception as exc:  # a channel down must never break the monitor or a job
            logged.error("notification_failed", error=str(exc))
            return False
        logged.info("notification_sent", action=notification.action)
        return True

    async def _email(self, notification: Notification, settings: MonitoringSettings) -> None:
        email = settings.email
        message = EmailMessage()
        message["From"] = email.sender
        message["To"] = ", ".join(email.recipients)
        message["Subject"] = notification.title
        message["X-Theset-Alert-Id"] = notification.alert_id
        message.set_content(_text(notification))
        await aiosmtplib.send(
            message,
            hostname=email.smtp_host,
            port=email.smtp_port,
            start_tls=email.starttls,
            username=email.username or None,
            password=email.password.get_secret_value() or None,
            timeout=HTTP_TIMEOUT_S,
        )

    async def _slack(self, notification: Notification, settings: MonitoringSettings) -> None:
        url = settings.slack.webhook_url.get_secret_value()
        emoji = ":rotating_light:" if notification.action == "fire" else ":white_check_mark:"
        body = {"text": f"{emoji} {notification.title}\n{_text(notification)}"}
        await self._post("slack", url, body)

    async def _pagerduty(self, notification: Notification, settings: MonitoringSettings) -> None:
        pagerduty = settings.pagerduty
        body: dict[str, Any] = {
            "routing_key": pagerduty.routing_key.get_secret_value(),
            "event_action": "trigger" if notification.action == "fire" else "resolve",
            "dedup_key": notification.dedup_key,
        }
        if notification.action == "fire":
            body["payload"] = {
                "summary": notification.message,
                "source": self._host,
                "severity": notification.severity,
                "component": notification.job,
                "class": notification.rule,
                "custom_details": notification.as_json(),
            }
        await self._post("pagerduty", pagerduty.events_url, body)

    async def _post(self, channel: Channel, url: str, body: dict[str, Any]) -> None:
        timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S)
        try:
            async with self._session.post(url, json=body, timeout=timeout) as response:
                if response.status >= 300:
                    detail = (await response.text())[:200]
                    retryable = response.status >= 500 or response.status == 429
                    raise ChannelError(
                        channel, f"HTTP {response.status}: {detail}", retryable=retryable
                    )
        except aiohttp.ClientError as exc:
            raise ChannelError(channel, f"{type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        """Give in-flight notifications a bounded time, then cancel them."""
        if not self._tasks:
            return
        _done, pending = await asyncio.wait(set(self._tasks), timeout=CLOSE_WAIT_S)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


def _text(notification: Notification) -> str:
    lines = [
        notification.message,
        "",
        f"alert id: {notification.alert_id}",
        f"job:      {notification.job}",
        f"rule:     {notification.rule}",
        f"severity: {notification.severity}",
        f"fired at: {notification.fired_at.isoformat()}",
    ]
    if notification.resolved_at is not None:
        lines.append(f"resolved: {notification.resolved_at.isoformat()}")
    return "\n".join(lines)
