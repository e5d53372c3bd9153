"""Cron expressions, read the standard way, as APScheduler 3 triggers.

Cron day-of-week. APScheduler 3's ``CronTrigger.from_crontab`` numbers weekdays from Monday = 0
(its own docs call this a historical mistake, fixed only in 4.x), so the contract's
``0 3 * * 0`` would run on Mondays. :func:`cron_trigger` reads the field the standard way
(0 and 7 = Sunday, names allowed, ranges and steps) and hands APScheduler weekday names, which
it cannot misread. (Where a schedule restricts both day-of-month and day-of-week, APScheduler
requires both to match, as 4.x and most modern crons do; classic cron fires when either does.)

Kept apart from the scheduler so the config can validate a schedule with the very reading the
scheduler and the monitor use (``0 3 * * 7`` is Sunday to all three).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # standard cron order: 0 = Sunday


def _weekday(text: str) -> int:
    if text.isdigit():
        number = int(text)
        if not 0 <= number <= 7:
            raise ValueError(f"day of week {text!r} is not 0-7")
        return number
    try:
        return _WEEKDAYS.index(text.lower())
    except ValueError:
        raise ValueError(f"day of week {text!r} is not 0-7 or sun-sat") from None


def standard_day_of_week(field: str) -> str:
    """A crontab day-of-week field (0 or 7 = Sunday) as APScheduler weekday names."""
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        base, slash, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() else 0
        if slash and step < 1:
            raise ValueError(f"day of week step in {part!r} must be a positive number")
        if base in ("*", "?"):
            first, last = 0, 6
        elif "-" in base:
            low, high = base.split("-", 1)
            first, last = _weekday(low), _weekday(high)
        else:
            first = _weekday(base)
            last = 7 if slash else first  # "n/step": from n to the end of the week
        if first > last:
            raise ValueError(f"day of week range {base!r} runs backwards")
        days.update(day % 7 for day in range(first, last + 1, step or 1))
    return ",".join(_WEEKDAYS[day] for day in sorted(days))


def cron_trigger(expression: str) -> CronTrigger:
    """A 5-field crontab expression (UTC) as a trigger, with the standard day-of-week."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"{expression!r}: a cron schedule has 5 fields, not {len(fields)}")
    minute, hour, day, month, day_of_week = fields
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=standard_day_of_week(day_of_week),
        timezone=UTC,
    )


def previous_fire_time(trigger: CronTrigger, now: datetime, lookback_s: float) -> datetime | None:
    """The trigger's latest fire time at or before ``now``, within ``lookback_s``
    (APScheduler 3 only computes forwards)."""
    latest: datetime | None = None
    candidate = trigger.get_next_fire_time(None, now - timedelta(seconds=lookback_s))
    while candidate is not None and candidate <= now:
        latest = candidate
        candidate = trigger.get_next_fire_time(latest, latest + timedelta(seconds=1))
    return latest
