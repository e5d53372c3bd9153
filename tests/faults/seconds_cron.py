"""``python -m tests.faults.seconds_cron run --config PATH``: the daemon, with one test-only change:
a schedule may lead with a seconds field (6 fields: ``second minute hour day month weekday``).

Why. The contract's schedules are 5-field crontab, minute resolution, so fifty real scheduled fires
of one job take fifty minutes. Widening the reading to seconds here, in the test harness, keeps
everything else the production daemon's: its runtime and signals, APScheduler's
``AsyncIOScheduler`` firing on the wall clock, the scheduler's fire path with its
``scheduled_for``, the runner's lease and the ``UNIQUE (job_name, scheduled_for)`` key. The
production reading (``theset_daemon.cron.cron_trigger``) is kept for 5-field schedules and
wrapped, not copied: the day-of-week field is still read the standard way.

The change is made before any of the daemon's modules binds ``cron_trigger`` (the config's
validator, the scheduler, the monitor import it by name), so all of them read the same way.
"""

from __future__ import annotations

import sys
from datetime import UTC

from apscheduler.triggers.cron import CronTrigger

from theset_daemon import cron

_minute_resolution = cron.cron_trigger


def cron_trigger(expression: str) -> CronTrigger:
    fields = expression.split()
    if len(fields) != 6:
        return _minute_resolution(expression)
    second, minute, hour, day, month, day_of_week = fields
    _minute_resolution(" ".join(fields[1:]))  # the same checks of the other fields
    return CronTrigger(
        second=second,
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=cron.standard_day_of_week(day_of_week),
        timezone=UTC,
    )


def main() -> int:
    cron.cron_trigger = cron_trigger
    from theset_daemon.cli import main as daemon_main

    return daemon_main()


if __name__ == "__main__":
    sys.exit(main())
