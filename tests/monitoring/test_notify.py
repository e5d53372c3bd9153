"""The notifiers against real receivers: an SMTP server (aiosmtpd) in this loop, and aiohttp
servers playing Slack's webhook and PagerDuty's Events API. Nothing is mocked."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import aiohttp

from tests.plugins.receivers import Channels, holder_for
from theset_daemon import config
from theset_daemon.monitoring.notify import Notification, Notifier, channels_for


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
    return list(await asyncio.gather(*notifier.send(notification).values()))


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
