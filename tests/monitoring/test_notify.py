"""The notifiers against real receivers: an SMTP server (aiosmtpd) in this loop, and aiohttp
servers playing Slack's webhook and PagerDuty's Events API. Nothing is mocked."""

from __future__ import annotations

import asyncio
import email
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiosmtpd.smtp import SMTP, Envelope, Session

from theset_daemon import config
from theset_daemon.config import SettingsHolder
from theset_daemon.monitoring.notify import Notification, Notifier, channels_for


@dataclass
class Inbox:
    messages: list[email.message.Message] = field(default_factory=list)

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@dataclass
class Receiver:
    """An HTTP endpoint that answers ``fail_first`` requests with 500, then 202."""

    fail_first: int = 0
    bodies: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        if self.attempts <= self.fail_first:
            return web.Response(status=500, text="try later")
        self.bodies.append(await request.json())
        return web.json_response({"status": "success"}, status=202)


@dataclass
class Channels:
    inbox: Inbox
    slack: Receiver
    pagerduty: Receiver
    smtp_port: int
    http: TestServer


@pytest.fixture
async def channels(aiohttp_server: Any) -> AsyncIterator[Channels]:
    inbox = Inbox()
    loop = asyncio.get_running_loop()
    smtp = await loop.create_server(lambda: SMTP(inbox), "127.0.0.1", 0)
    slack, pagerduty = Receiver(), Receiver()
    app = web.Application()
    app.router.add_post("/slack", slack.handle)
    app.router.add_post("/v2/enqueue", pagerduty.handle)
    http: TestServer = await aiohttp_server(app)
    yield Channels(inbox, slack, pagerduty, smtp.sockets[0].getsockname()[1], http)
    smtp.close()
    await smtp.wait_closed()


def holder_for(channels: Channels, slack_path: str = "/slack") -> SettingsHolder:
    base = str(channels.http.make_url("")).rstrip("/")
    text = f"""
    [monitoring.email]
    smtp_host = "127.0.0.1"
    smtp_port = {channels.smtp_port}
    starttls = false
    sender = "daemon@theset.test"
    recipients = ["oncall@theset.test"]
    [monitoring.slack]
    webhook_url = "{base}{slack_path}"
    [monitoring.pagerduty]
    events_url = "{base}/v2/enqueue"
    routing_key = "R0UT1NGKEY"
    [monitoring.notify_retry]
    max_attempts = 3
    base_delay_s = 0.01
    max_delay_s = 0.05
    """
    return SettingsHolder(config.parse(text, {}), Path("unused"))


def alert(rule: str, severity: str, action: str = "fire") -> Notification:
    return Notification(
        action=action,  # type: ignore[arg-type]
        alert_id="0b7e0b5e-1111-4222-8333-944445555666",
        job="update-active-artists",
        rule=rule,
        severity=severity,  # type: ignore[arg-type]
        message="update-active-artists: the last 3 runs failed",
        fired_at=datetime(2026, 11, 28, 12, tzinfo=UTC),
        resolved_at=datetime(2026, 11, 28, 13, tzinfo=UTC) if action == "resolve" else None,
    )


async def send_all(notifier: Notifier, notification: Notification) -> list[bool]:
    return list(await asyncio.gather(*notifier.send(notification)))


async def test_a_critical_failure_streak_reaches_email_and_pagerduty_once_each(
    channels: Channels,
) -> None:
    async with aiohttp.ClientSession() as session:
        notifier = Notifier(holder_for(channels), session)
        assert await send_all(notifier, alert("consecutive_failures", "critical")) == [True, True]
        assert await send_all(notifier, alert("consecutive_failures", "critical", "resolve")) == [
            True,
            True,
        ]
        await notifier.close()

    fired, resolved = channels.inbox.messages
    assert (
        fired["Subject"] == "[theset] FIRING critical consecutive_failures: update-active-artists"
    )
    assert fired["X-Theset-Alert-Id"] == "0b7e0b5e-1111-4222-8333-944445555666"
    assert "RESOLVED" in resolved["Subject"]
    trigger, resolve = channels.pagerduty.bodies
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    assert (
        trigger["dedup_key"]
        == resolve["dedup_key"]
        == "theset:update-active-artists:consecutive_failures"
    )
    assert trigger["routing_key"] == "R0UT1NGKEY"
    assert trigger["payload"]["custom_details"]["id"] == "0b7e0b5e-1111-4222-8333-944445555666"
    assert channels.slack.bodies == []  # critical goes to email, not Slack


async def test_a_warning_goes_to_slack_only(channels: Channels) -> None:
    async with aiohttp.ClientSession() as session:
        notifier = Notifier(holder_for(channels), session)
        assert await send_all(notifier, alert("slow_run", "warning")) == [True]
    (body,) = channels.slack.bodies
    assert "slow_run" in body["text"] and "0b7e0b5e-1111-4222-8333-944445555666" in body["text"]
    assert channels.inbox.messages == [] and channels.pagerduty.bodies == []


async def test_a_failing_receiver_is_retried_then_delivered_once(channels: Channels) -> None:
    channels.slack.fail_first = 2
    async with aiohttp.ClientSession() as session:
        notifier = Notifier(holder_for(channels), session)
        assert await send_all(notifier, alert("error_rate", "warning")) == [True]
    assert channels.slack.attempts == 3 and len(channels.slack.bodies) == 1


async def test_a_receiver_that_stays_down_is_logged_never_raised(channels: Channels) -> None:
    channels.slack.fail_first = 100
    async with aiohttp.ClientSession() as session:
        notifier = Notifier(holder_for(channels), session)
        assert await send_all(notifier, alert("error_rate", "warning")) == [False]
    assert channels.slack.attempts == 3  # max_attempts, then given up


async def test_a_client_error_is_not_retried(channels: Channels) -> None:
    async with aiohttp.ClientSession() as session:
        notifier = Notifier(holder_for(channels, slack_path="/nowhere"), session)
        assert await send_all(notifier, alert("error_rate", "warning")) == [False]
    assert channels.slack.attempts == 0  # the 404 came from the router, once


def test_unconfigured_channels_are_skipped() -> None:
    settings = config.parse("", {}).monitoring
    assert channels_for(alert("consecutive_failures", "critical"), settings) == []
