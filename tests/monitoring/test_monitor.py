"""The monitor against a real Postgres and real receivers: each rule fires once, notifies each of
its channels once (also with two monitors on one database), and resolves when the condition goes.
Runs are planted as ``cron_logs`` rows: the monitor judges rows, whoever wrote them; artists as
``artists`` rows for the providers' ``quota_insufficient``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from tests.plugins.receivers import Channels, holder_for
from tests.waiting import eventually
from theset_daemon.config import SettingsHolder
from theset_daemon.db.pool import Database, open_database
from theset_daemon.monitoring.notify import Notifier
from theset_daemon.monitoring.service import Monitor
from theset_daemon.presence import LIVE_WITHIN_S, Presence

JOB = "update-active-artists"  # "0 */6 * * *"
START = datetime(2026, 11, 28, 0, 30, tzinfo=UTC)  # the daemon starts at 00:30


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def database(channels: Channels, database_url: str) -> AsyncIterator[Database]:
    holder = holder_for(channels, env={"DATABASE_URL": database_url})
    async with open_database(holder.current.database) as database:
        yield database


async def plant_run(database: Database, status: str, started: datetime, minutes: float = 1) -> None:
    finished = None if status == "running" else started + timedelta(minutes=minutes)
    await database.pool.execute(
        """INSERT INTO cron_logs (job_name, trigger, status, started_at, finished_at, duration_ms)
           VALUES ($1, 'schedule', $2, $3, $4, $5)""",
        JOB,
        status,
        started,
        finished,
        None if finished is None else int(minutes * 60_000),
    )


async def settle(monitor: Monitor) -> None:
    """Wait for the notification tasks (and their bookkeeping) to finish; fail if they never do."""
    await eventually(
        lambda: not monitor._notifier._tasks and not monitor._noting,
        what="the notifications sent and recorded",
    )


MonitorFactory = Callable[[Clock], Monitor]


@pytest.fixture
async def monitors(
    channels: Channels, database: Database, database_url: str
) -> AsyncIterator[MonitorFactory]:
    made: list[Monitor] = []
    async with aiohttp.ClientSession() as session:

        def make(clock: Clock) -> Monitor:
            holder: SettingsHolder = holder_for(channels, env={"DATABASE_URL": database_url})
            notifier = Notifier(holder, session)
            monitor = Monitor(database, holder, notifier, f"test:{len(made)}", clock)
            made.append(monitor)
            return monitor

        yield make
        for monitor in made:
            await monitor.close()


async def test_a_failure_streak_fires_once_per_channel_then_resolves(
    channels: Channels, database: Database, monitors: MonitorFactory
) -> None:
    clock = Clock(START)
    first, second = monitors(clock), monitors(clock)  # two daemons on one database
    for n in range(3):
        await plant_run(database, "failed", START + timedelta(minutes=1 + n))
    clock.now = START + timedelta(minutes=10)

    alerts = (await asyncio.gather(first.check(JOB), second.check(JOB)))[0]
    await asyncio.gather(settle(first), settle(second))
    assert {a["rule"] for a in alerts} == {"consecutive_failures", "error_rate"}
    assert len(channels.inbox.messages) == 1  # critical -> email, once
    assert [b["event_action"] for b in channels.pagerduty.bodies] == ["trigger"]
    assert len(channels.slack.bodies) == 1  # the error rate is a warning -> Slack, once
    # Judging again changes nothing and sends nothing.
    await first.check(JOB)
    await settle(first)
    assert len(channels.inbox.messages) == 1 and len(channels.pagerduty.bodies) == 1

    streak = next(a for a in alerts if a["rule"] == "consecutive_failures")
    stored = await database.pool.fetchrow(
        "SELECT channels FROM cron_alerts WHERE id = $1::uuid", streak["id"]
    )
    assert stored is not None and sorted(stored["channels"]) == ["email", "pagerduty"]

    # A successful run ends the streak: resolved once, PagerDuty resolve with the same dedup_key.
    await plant_run(database, "succeeded", START + timedelta(minutes=20))
    clock.now = START + timedelta(minutes=30)
    after = (await asyncio.gather(first.check(JOB), second.check(JOB)))[0]
    await asyncio.gather(settle(first), settle(second))
    assert {a["rule"] for a in after} == {"error_rate"}  # 3 of 4 runs failed: still over 10%
    trigger, resolve = channels.pagerduty.bodies
    assert resolve["event_action"] == "resolve" and resolve["dedup_key"] == trigger["dedup_key"]
    assert "RESOLVED" in channels.inbox.messages[1]["Subject"]


async def test_a_missed_run_fires_and_a_run_resolves_it(
    channels: Channels, database: Database, monitors: MonitorFactory
) -> None:
    clock = Clock(START)
    monitor = monitors(clock)
    clock.now = START + timedelta(hours=5, minutes=39)  # 06:09: the 06:00 fire is late
    assert await monitor.check(JOB) == []
    clock.now = START + timedelta(hours=5, minutes=40)  # 06:10: the 10-minute grace is over
    (missed,) = await monitor.check(JOB)
    await settle(monitor)
    assert missed["rule"] == "missed_execution" and missed["severity"] == "critical"
    assert len(channels.inbox.messages) == 1

    await plant_run(database, "succeeded", START + timedelta(hours=5, minutes=42))
    clock.now = START + timedelta(hours=5, minutes=45)
    assert await monitor.check(JOB) == []
    await settle(monitor)
    assert "RESOLVED" in channels.inbox.messages[1]["Subject"]


async def test_fires_before_the_daemon_started_are_never_missed(
    database: Database, monitors: MonitorFactory
) -> None:
    clock = Clock(START + timedelta(hours=6, minutes=30))  # started 06:30, after the 06:00 fire
    monitor = monitors(clock)
    clock.now += timedelta(minutes=30)
    assert await monitor.check(JOB) == []
    (report,) = await monitor.report(JOB)
    assert report.health.state == "never_run"
    assert report.health.next_run_at == datetime(2026, 11, 28, 12, tzinfo=UTC)


async def test_a_stall_covering_a_fire_is_reported_not_missed(
    database: Database, monitors: MonitorFactory
) -> None:
    clock = Clock(START)
    monitor = monitors(clock)
    await database.pool.execute(
        """INSERT INTO daemon_gaps (holder, kind, started_at, ended_at)
           VALUES ('test', 'stall', $1, $2)""",
        datetime(2026, 11, 28, 5, 59, tzinfo=UTC),
        datetime(2026, 11, 28, 6, 1, tzinfo=UTC),
    )
    clock.now = START + timedelta(hours=6)
    assert await monitor.check(JOB) == []
    (report,) = await monitor.report(JOB)
    assert report.health.fires_in_gaps == (datetime(2026, 11, 28, 6, tzinfo=UTC),)


async def test_a_restart_after_downtime_records_the_gap(database: Database) -> None:
    first = Presence(database, "host:1:first")
    await first.start()
    await first.close()  # stopped: its last beat is now
    await database.pool.execute(
        "UPDATE daemon_instances SET last_beat_at = last_beat_at - interval '1 hour',"
        " started_at = started_at - interval '2 hours'"
    )
    second = Presence(database, "host:2:second")
    await second.start()
    await second.close()
    (gap,) = await database.pool.fetch(
        "SELECT kind, ended_at - started_at AS length FROM daemon_gaps"
    )
    assert gap["kind"] == "down" and gap["length"] >= timedelta(minutes=59)


async def test_live_daemons_follow_starts_stops_and_silent_deaths(database: Database) -> None:
    one, two, three = (Presence(database, f"host:{n}:x") for n in range(3))
    await one.start()
    assert one.live == 1
    await two.start()
    await three.start()
    await one.beat()
    assert (one.live, three.live) == (3, 3)
    await two.close()  # a clean stop says so at once
    # A silent death (kill -9): its beats stop, and it stops counting LIVE_WITHIN_S later.
    await database.pool.execute(
        "UPDATE daemon_instances SET last_beat_at = now() - make_interval(secs => $1),"
        " started_at = now() - make_interval(secs => $1) WHERE holder = $2",
        LIVE_WITHIN_S + 1,
        three.instance,
    )
    await one.beat()
    assert one.live == 1
    await one.close()
    await three.close()


async def test_an_alert_still_active_is_sent_again_after_the_interval(
    channels: Channels, database: Database, database_url: str
) -> None:
    holder = holder_for(
        channels,
        extra="[monitoring]\nrenotify_interval_s = 0.3\n",
        env={"DATABASE_URL": database_url},
    )
    clock = Clock(START)
    async with aiohttp.ClientSession() as session:
        monitor = Monitor(database, holder, Notifier(holder, session), "test:renotify", clock)
        for n in range(3):
            await plant_run(database, "failed", START + timedelta(minutes=1 + n))
        clock.now = START + timedelta(minutes=10)
        await monitor.check(JOB)
        await monitor.check(JOB)  # too soon: nothing again
        await settle(monitor)
        assert len(channels.pagerduty.bodies) == 1
        await asyncio.sleep(0.4)
        await monitor.check(JOB)
        await settle(monitor)
        await monitor.close()
    assert [b["event_action"] for b in channels.pagerduty.bodies] == ["trigger", "trigger"]
    assert len({b["dedup_key"] for b in channels.pagerduty.bodies}) == 1
    count = await database.pool.fetchval(
        "SELECT notify_count FROM cron_alerts WHERE rule = 'consecutive_failures'"
    )
    assert count == 4  # email and PagerDuty, twice


async def test_a_slow_run_fires_while_running_and_a_quick_run_resolves_it(
    channels: Channels, database: Database, monitors: MonitorFactory
) -> None:
    clock = Clock(START)
    monitor = monitors(clock)
    await plant_run(database, "running", START + timedelta(minutes=1))
    clock.now = START + timedelta(minutes=4)
    assert await monitor.check(JOB) == []  # 3 minutes in: not slow yet
    clock.now = START + timedelta(minutes=7)
    (slow,) = await monitor.check(JOB)
    await monitor.check(JOB)
    await settle(monitor)
    assert slow["rule"] == "slow_run" and slow["severity"] == "warning"
    assert len(channels.slack.bodies) == 1 and "FIRING" in channels.slack.bodies[0]["text"]

    await database.pool.execute(
        """UPDATE cron_logs SET status = 'succeeded', finished_at = $1, duration_ms = 420000""",
        START + timedelta(minutes=8),
    )
    clock.now = START + timedelta(minutes=9)
    assert [a["rule"] for a in await monitor.check(JOB)] == ["slow_run"]  # it took 7 minutes
    await plant_run(database, "succeeded", START + timedelta(minutes=10), minutes=0.5)
    clock.now = START + timedelta(minutes=11)
    assert await monitor.check(JOB) == []
    await settle(monitor)
    assert len(channels.slack.bodies) == 2 and "RESOLVED" in channels.slack.bodies[1]["text"]


async def test_the_error_rate_fires_once_and_resolves_when_the_rate_falls(
    channels: Channels, database: Database, monitors: MonitorFactory
) -> None:
    clock = Clock(START)
    monitor = monitors(clock)
    # 1 failure in 3 runs (33%): over 10%, but no failure streak.
    await plant_run(database, "failed", START + timedelta(minutes=1))
    await plant_run(database, "succeeded", START + timedelta(minutes=3))
    await plant_run(database, "succeeded", START + timedelta(minutes=5))
    clock.now = START + timedelta(minutes=10)
    (rate,) = await monitor.check(JOB)
    await monitor.check(JOB)
    await settle(monitor)
    assert rate["rule"] == "error_rate"
    assert len(channels.slack.bodies) == 1 and channels.pagerduty.bodies == []
    # Successes dilute it under 10% (1 in 11).
    for n in range(8):
        await plant_run(database, "succeeded", START + timedelta(minutes=12 + 2 * n))
    clock.now = START + timedelta(minutes=40)
    assert await monitor.check(JOB) == []
    await settle(monitor)
    assert len(channels.slack.bodies) == 2 and "RESOLVED" in channels.slack.bodies[1]["text"]


async def test_quota_insufficient_fires_per_provider_and_resolves_when_the_quota_is_raised(
    channels: Channels, database: Database, database_url: str
) -> None:
    # 30 artists viewed today without a Ticketmaster attraction: 4 keyword searches a day each,
    # 120 a day, against the jobs' share of a 100-request day (80).
    await database.pool.execute(
        """WITH made AS (
               INSERT INTO artists (name, slug, spotify_id)
               SELECT 'Artist ' || n, 'artist-' || n, lpad(n::text, 22, '0')
               FROM generate_series(1, 30) AS n RETURNING id)
           INSERT INTO page_views (artist_id) SELECT id FROM made"""
    )
    routing = '[monitoring.routing]\npagerduty_rules = ["quota_insufficient"]\n'
    env = {"DATABASE_URL": database_url}
    tiny = "[upstream.ticketmaster]\ndaily_quota = 100\n"
    holder = holder_for(channels, extra=tiny + routing, env=env)
    async with aiohttp.ClientSession() as session:
        monitor = Monitor(database, holder, Notifier(holder, session), "test:quota", Clock(START))
        assert await monitor.check(JOB) == []  # one job's check: the plan is not judged
        (alert,) = await monitor.check()
        assert [a["id"] for a in await monitor.check()] == [alert["id"]]  # still active: once
        await settle(monitor)
        assert alert["job"] == "upstream:ticketmaster" and alert["rule"] == "quota_insufficient"
        assert alert["severity"] == "warning"
        assert alert["details"] == {
            "provider": "ticketmaster",
            "requestsPerDay": 120.0,
            "sharePerDay": 80.0,
            "daysToRefreshAll": 0.375,  # 30 keyword searches over 80 a day
        }
        # A warning goes to Slack; the message names the provider, the need and the share.
        (slack,) = channels.slack.bodies
        assert "FIRING" in slack["text"] and "upstream:ticketmaster" in slack["text"]
        for words in ("ticketmaster", "120 requests a day", "share of 80 a day"):
            assert words in slack["text"], words
        (page,) = channels.pagerduty.bodies
        assert page["dedup_key"] == "theset:upstream:ticketmaster:quota_insufficient"
        assert page["payload"]["custom_details"]["details"]["sharePerDay"] == 80.0

        # The quota raised (a reload): the plan fits the share again, at the next check.
        holder.current = holder_for(channels, extra=routing, env=env).current  # 5000: 4000 a day
        assert await monitor.check() == []
        await settle(monitor)
        await monitor.close()
    assert "RESOLVED" in channels.slack.bodies[1]["text"] and len(channels.slack.bodies) == 2
    assert [b["event_action"] for b in channels.pagerduty.bodies] == ["trigger", "resolve"]
    assert channels.pagerduty.bodies[1]["dedup_key"] == page["dedup_key"]
