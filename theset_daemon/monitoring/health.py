"""A job's health state, as the better cron monitors compute it: from the schedule, the runs and
the clock, never from a flag someone forgot to clear.

States, most urgent first (the first that holds wins):

* ``running``   a run is in progress (``slow`` says whether it is past ``slow_run_s``);
* ``missed``    a scheduled fire got no run within ``missed_grace_s`` (the dead man's switch);
* ``late``      a scheduled fire has passed and its run has not started, still within the grace;
* ``failing``   the last finished run failed;
* ``never_run`` no run at all yet;
* ``ok``        otherwise.

Which fires are owed a run. Only fires after the *baseline*: the later of the moment monitoring
started (this daemon's start; CONTRACT.md section 8: "a time before the daemon existed is never
missed") and the end of the job's last run (a fire that found the job running was skipped on
purpose, not missed). A paused job (``enabled = false``) is owed nothing.

The daemon's own gaps. A fire that fell while the daemon was down, or while its event loop was
stalled, says nothing about the job: it is reported in ``fires_in_gaps``, never as ``missed``,
and the operator sees the gap itself in the status output.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

JobState = Literal["never_run", "ok", "running", "late", "missed", "failing"]
GapKind = Literal["down", "stall"]
ERROR_RATE_WINDOW = timedelta(hours=24)
MAX_FIRES_SCANNED = 10_000  # an every-minute job over a week; bounds a bad clock or baseline


class Schedule(Protocol):
    def next_fire_after(self, moment: datetime) -> datetime | None:
        """The first fire time strictly after ``moment`` (aware, UTC), or None."""


@dataclass(frozen=True, slots=True)
class RunFacts:
    status: Literal["running", "succeeded", "partial", "failed", "interrupted"]
    started_at: datetime
    finished_at: datetime | None = None
    run_id: str | None = None

    @property
    def duration(self) -> timedelta | None:
        return None if self.finished_at is None else self.finished_at - self.started_at


@dataclass(frozen=True, slots=True)
class Gap:
    """A stretch when the daemon could not run anything: down, or its loop stalled."""

    start: datetime
    end: datetime
    kind: GapKind

    def covers(self, moment: datetime) -> bool:
        return self.start <= moment <= self.end


@dataclass(frozen=True, slots=True)
class Thresholds:
    missed_grace_s: float = 600
    slow_run_s: float = 300


@dataclass(frozen=True, slots=True)
class JobHealth:
    state: JobState
    last_run: RunFacts | None
    next_run_at: datetime | None
    consecutive_failures: int
    runs_24h: int  # finished in the last 24 h
    failures_24h: int
    slow: bool  # the running run is past slow_run_s, or else the last finished run took longer
    overdue_fire: datetime | None  # the fire that makes the job late or missed
    fires_in_gaps: tuple[datetime, ...]  # owed fires that fell in the daemon's own gaps

    @property
    def error_rate_24h(self) -> float:
        return self.failures_24h / self.runs_24h if self.runs_24h else 0.0


def evaluate(
    *,
    schedule: Schedule,
    enabled: bool,
    runs: Sequence[RunFacts],
    now: datetime,
    watching_since: datetime,
    gaps: Sequence[Gap] = (),
    thresholds: Thresholds = Thresholds(),
) -> JobHealth:
    """The job's health at ``now``; ``runs`` newest first (by ``started_at``)."""
    last = runs[0] if runs else None
    finished = [run for run in runs if run.finished_at is not None]
    day_ago = now - ERROR_RATE_WINDOW
    recent = [run for run in finished if run.finished_at is not None and run.finished_at >= day_ago]

    overdue: datetime | None = None
    in_gaps: tuple[datetime, ...] = ()
    if enabled and (last is None or last.status != "running"):
        overdue, in_gaps = _overdue_fire(schedule, _baseline(last, watching_since), now, gaps)

    slow_limit = timedelta(seconds=thresholds.slow_run_s)
    if last is not None and last.status == "running":
        slow = now - last.started_at > slow_limit
    else:
        slow = bool(finished) and (finished[0].duration or timedelta()) > slow_limit

    consecutive = _consecutive_failures(finished)
    state: JobState
    if last is not None and last.status == "running":
        state = "running"
    elif overdue is not None:
        missed_at = overdue + timedelta(seconds=thresholds.missed_grace_s)
        state = "missed" if now >= missed_at else "late"
    elif finished and finished[0].status == "failed":
        state = "failing"
    elif last is None:
        state = "never_run"
    else:
        state = "ok"
    return JobHealth(
        state=state,
        last_run=last,
        next_run_at=schedule.next_fire_after(now) if enabled else None,
        consecutive_failures=consecutive,
        runs_24h=len(recent),
        failures_24h=sum(1 for run in recent if run.status == "failed"),
        slow=slow,
        overdue_fire=overdue,
        fires_in_gaps=in_gaps,
    )


def _baseline(last: RunFacts | None, watching_since: datetime) -> datetime:
    if last is None:
        return watching_since
    return max(watching_since, last.finished_at or last.started_at)


def _fires(schedule: Schedule, after: datetime, until: datetime) -> Iterator[datetime]:
    """Fire times in ``(after, until]``."""
    moment = after
    for _ in range(MAX_FIRES_SCANNED):
        fire = schedule.next_fire_after(moment)
        if fire is None or fire > until:
            return
        yield fire
        moment = fire


def _overdue_fire(
    schedule: Schedule, baseline: datetime, now: datetime, gaps: Sequence[Gap]
) -> tuple[datetime | None, tuple[datetime, ...]]:
    """The oldest owed fire with no run, and the owed fires that fell in the daemon's gaps."""
    in_gaps: list[datetime] = []
    for fire in _fires(schedule, baseline, now):
        if any(gap.covers(fire) for gap in gaps):
            in_gaps.append(fire)
            continue
        return fire, tuple(in_gaps)
    return None, tuple(in_gaps)


def _consecutive_failures(finished: Sequence[RunFacts]) -> int:
    """Failed runs in a row, newest first; ``partial`` is a success here (CONTRACT.md 8)."""
    count = 0
    for run in finished:
        if run.status != "failed":
            break
        count += 1
    return count
