"""The scheduler: standard cron day-of-week, fire times handed to the runner, one run per fire
across schedulers, reschedule on reload, pause, misfires and the start-up catch-up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.triggers.cron import CronTrigger
from structlog.testing import capture_logs

from tests.jobs.conftest import Knobs, Resources, RunnerFactory, settings_for
from theset_daemon.cron import cron_trigger, previous_fire_time, standard_day_of_week
from theset_daemon.jobs.scheduler import JobScheduler

WEDNESDAY_NOON = datetime(2026, 3, 4, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("0 3 * * 0", datetime(2026, 3, 8, 3, 0, tzinfo=UTC)),  # Sunday, as cron means it
        ("0 3 * * 7", datetime(2026, 3, 8, 3, 0, tzinfo=UTC)),  # 7 is Sunday too
        ("0 3 * * sun", datetime(2026, 3, 8, 3, 0, tzinfo=UTC)),
        ("0 3 * * 1", datetime(2026, 3, 9, 3, 0, tzinfo=UTC)),  # Monday
        ("0 3 * * 1-5", datetime(2026, 3, 5, 3, 0, tzinfo=UTC)),  # next weekday: Thursday
        ("0 3 * * 5-7", datetime(2026, 3, 6, 3, 0, tzinfo=UTC)),  # Fri-Sun
        ("0 3 * * 6,0", datetime(2026, 3, 7, 3, 0, tzinfo=UTC)),  # weekend
        ("0 3 * * */3", datetime(2026, 3, 7, 3, 0, tzinfo=UTC)),  # Sun, Wed, Sat
        ("30 2 * * 6", datetime(2026, 3, 7, 2, 30, tzinfo=UTC)),
        ("0 * * * *", datetime(2026, 3, 4, 13, 0, tzinfo=UTC)),
        ("0 */6 * * *", datetime(2026, 3, 4, 18, 0, tzinfo=UTC)),
        ("0 2 * * *", datetime(2026, 3, 5, 2, 0, tzinfo=UTC)),
    ],
)
def test_cron_schedules_fire_when_standard_cron_would(expression: str, expected: datetime) -> None:
    assert cron_trigger(expression).get_next_fire_time(None, WEDNESDAY_NOON) == expected


def test_apscheduler_3_from_crontab_reads_0_as_monday_which_is_why_we_translate() -> None:
    wrong = CronTrigger.from_crontab("0 3 * * 0", timezone=UTC)
    assert wrong.get_next_fire_time(None, WEDNESDAY_NOON).strftime("%A") == "Monday"


@pytest.mark.parametrize(
    ("field", "names"),
    [
        ("*", "*"),
        ("0", "sun"),
        ("7", "sun"),
        ("1-5", "mon,tue,wed,thu,fri"),
        ("mon-fri", "mon,tue,wed,thu,fri"),
        ("0,6", "sun,sat"),
        ("*/2", "sun,tue,thu,sat"),
        ("1-7/3", "sun,mon,thu"),
        ("5/1", "sun,fri,sat"),
    ],
)
def test_day_of_week_translation(field: str, names: str) -> None:
    assert standard_day_of_week(field) == names


@pytest.mark.parametrize("expression", ["0 3 * * 8", "0 3 * * 5-1", "0 3 * * funday",
                                        "0 3 * * */0", "0 3 * *", "61 * * * *"])  # fmt: skip
def test_bad_schedules_are_refused(expression: str) -> None:
    with pytest.raises(ValueError):
        cron_trigger(expression)


def test_previous_fire_time() -> None:
    weekly = cron_trigger("0 3 * * 0")
    assert previous_fire_time(weekly, WEDNESDAY_NOON, 8 * 86400) == datetime(
        2026, 3, 1, 3, 0, tzinfo=UTC
    )
    assert previous_fire_time(weekly, WEDNESDAY_NOON, 86400) is None  # not within a day
    on_the_dot = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
    assert previous_fire_time(weekly, on_the_dot, 8 * 86400) == on_the_dot


SchedulerFactory = Callable[..., Awaitable[JobScheduler]]


@pytest.fixture
async def make_scheduler(
    resources: Resources, make_runner: RunnerFactory
) -> AsyncIterator[SchedulerFactory]:
    started: list[JobScheduler] = []

    async def make(**runner_kwargs: object) -> JobScheduler:
        runner = await make_runner(**runner_kwargs)
        scheduler = JobScheduler(runner, resources.holder)
        await scheduler.start()
        started.append(scheduler)
        return scheduler

    yield make
    for scheduler in started:
        await scheduler.close()


async def test_one_fire_from_two_schedulers_runs_once(
    resources: Resources, make_scheduler: SchedulerFactory
) -> None:
    first, second = await make_scheduler(), await make_scheduler()
    fire = datetime(2026, 3, 4, 13, 0, tzinfo=UTC)
    with capture_logs() as logs:
        outcomes = await asyncio.gather(
            first.fire("calculate-trending", fire), second.fire("calculate-trending", fire)
        )
    run_ids = [o for o in outcomes if o is not None]
    assert len(run_ids) == 1
    skipped = [e for e in logs if e["event"] == "job_fire_skipped"]
    assert len(skipped) == 1 and skipped[0]["reason"] in ("already_running", "already_fired")
    owner = first if outcomes[0] is not None else second
    await owner.runner.wait(run_ids[0])
    # the same fire again, on either (a restart, a slow instance): skipped as already fired
    with capture_logs() as logs:
        assert await first.fire("calculate-trending", fire) is None
        assert await second.fire("calculate-trending", fire) is None
    assert [e["reason"] for e in logs if e["event"] == "job_fire_skipped"] == ["already_fired"] * 2
    rows = await resources.database.pool.fetch("SELECT trigger, scheduled_for FROM cron_logs")
    assert [(r["trigger"], r["scheduled_for"]) for r in rows] == [("schedule", fire)]


async def test_a_fire_that_finds_the_job_running_is_skipped_and_logged(
    make_scheduler: SchedulerFactory, knobs: Knobs
) -> None:
    scheduler = await make_scheduler()
    knobs.gate.clear()
    running = await scheduler.runner.trigger("update-active-artists")
    with capture_logs() as logs:
        skipped = await scheduler.fire("update-active-artists", datetime.now(UTC))
    assert skipped is None
    [entry] = [e for e in logs if e["event"] == "job_fire_skipped"]
    assert entry["reason"] == "already_running" and entry["running_run_id"] == str(running)
    knobs.gate.set()
    await scheduler.runner.wait(running)


async def test_apscheduler_fires_hand_the_fire_time_to_the_run(
    resources: Resources, make_scheduler: SchedulerFactory
) -> None:
    scheduler = await make_scheduler()
    due = datetime.now(UTC) + timedelta(milliseconds=300)
    scheduler._scheduler.modify_job("calculate-trending", next_run_time=due)
    async with asyncio.timeout(10):
        while not (row := await resources.database.pool.fetchrow(  # noqa: ASYNC110 (polling a table)
            "SELECT id, trigger, scheduled_for FROM cron_logs")):  # fmt: skip
            await asyncio.sleep(0.05)
    assert row["trigger"] == "schedule"
    assert row["scheduled_for"] == due  # the fire time, not the moment the run started
    await scheduler.runner.wait(row["id"])
    # and the job went back to its cron schedule
    next_fire = scheduler.next_run_times()["calculate-trending"]
    assert next_fire is not None and next_fire.minute == 0


async def test_a_fire_later_than_its_grace_is_skipped(
    resources: Resources, make_scheduler: SchedulerFactory
) -> None:
    scheduler = await make_scheduler()
    with capture_logs() as logs:
        await scheduler._fire_due("calculate-trending", [datetime.now(UTC) - timedelta(hours=2)])
    assert [e["event"] for e in logs] == ["job_fire_missed"]
    assert await resources.database.pool.fetchval("SELECT count(*) FROM cron_logs") == 0


async def test_a_reload_reschedules_pauses_and_resumes(
    resources: Resources, make_scheduler: SchedulerFactory
) -> None:
    scheduler = await make_scheduler()
    holder = resources.holder
    before = scheduler.next_run_times()
    assert all(when is not None for when in before.values())

    async def reloaded(text: str) -> dict[str, datetime | None]:
        url = holder.current.database.url.get_secret_value()
        with capture_logs() as logs:
            holder.current = settings_for(url, text)
        # Pushed: rescheduled within the assignment, not at a later poll.
        assert any(e["event"] == "job_rescheduled" for e in logs), logs
        return scheduler.next_run_times()

    after = await reloaded('[jobs.calculate-trending]\nschedule = "17 * * * *"\n')
    assert after["calculate-trending"] is not None and after["calculate-trending"].minute == 17
    assert after["update-active-artists"] == before["update-active-artists"]

    paused = await reloaded('[jobs.calculate-trending]\nschedule = "17 * * * *"\nenabled = false\n')
    assert paused["calculate-trending"] is None
    # paused means the schedule only: a trigger still runs the job
    run = await scheduler.runner.run("calculate-trending")
    assert run["status"] == "succeeded"

    resumed = await reloaded('[jobs.calculate-trending]\nschedule = "5 * * * *"\n')
    assert resumed["calculate-trending"] is not None and resumed["calculate-trending"].minute == 5


async def test_start_up_catches_up_a_missed_weekly_run_once(
    resources: Resources, make_runner: RunnerFactory, make_scheduler: SchedulerFactory
) -> None:
    pool = resources.database.pool
    now = datetime.now(UTC)
    expected = previous_fire_time(cron_trigger("0 3 * * 0"), now, 8 * 86400)
    assert expected is not None
    # The job ran three weeks ago, and not since: the last Sunday's fire was missed.
    await pool.execute(
        """INSERT INTO cron_logs (job_name, trigger, status, started_at, finished_at, duration_ms)
           VALUES ('complete-catalog-sync', 'schedule', 'succeeded', $1, $1, 1)""",
        now - timedelta(days=21),
    )
    first = await make_scheduler()
    row = await pool.fetchrow(
        "SELECT id, trigger FROM cron_logs WHERE job_name = 'complete-catalog-sync' "
        "AND scheduled_for = $1",
        expected,
    )
    assert row is not None and row["trigger"] == "schedule"
    await first.runner.wait(row["id"])
    # another instance (or a restart) starting now finds the fire done: nothing more
    second = await make_scheduler()
    assert await second.catch_up() == []
    assert await pool.fetchval("SELECT count(*) FROM cron_logs") == 2
    # the hourly job never catches up
    assert (
        await pool.fetchval("SELECT count(*) FROM cron_logs WHERE job_name = 'calculate-trending'")
        == 0
    )


async def test_no_catch_up_for_a_job_that_never_ran_or_ran_since(
    resources: Resources, make_scheduler: SchedulerFactory
) -> None:
    scheduler = await make_scheduler()
    assert await scheduler.catch_up() == []  # fresh install: a time before it ever ran
    await scheduler.runner.run("trending-artist-sync")  # a manual run after the last fire
    assert await scheduler.catch_up() == []
