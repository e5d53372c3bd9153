"""Real notification receivers: an SMTP server (aiosmtpd) in the test's loop, and one aiohttp
server playing Slack's incoming webhook and PagerDuty's Events API v2."""

from __future__ import annotations

import asyncio
import email
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiosmtpd.smtp import SMTP, Envelope, Session

from theset_daemon import config
from theset_daemon.config import SettingsHolder


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


def holder_for(
    channels: Channels,
    slack_path: str = "/slack",
    extra: str = "",
    env: dict[str, str] | None = None,
) -> SettingsHolder:
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
    return SettingsHolder(config.parse(extra + text, env or {}), Path("unused"))
