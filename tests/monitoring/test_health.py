"""The health state machine and the rules, as tables over time (pure: no clock, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from theset_daemon.monitoring.health import Gap, JobHealth, RunFacts, Thresholds, evaluate
from theset_daemon.monitoring.rules import RuleThresholds, conditions

T0 = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)  # the daemon starts here


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


class Hourly:
    """Fires on the hour (the shape of `0 * * * *`)."""

    def next_fire_after(self, moment: datetime) -> datetime | None:
        return moment.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def run(status: str, start: float, end: float | None = None) -> RunFacts:
    return RunFacts(status, at(start), None if end is None else at(end))  # type: ignore[arg-type]


GRACE = Thresholds(missed_grace_s=600, slow_run_s=300)


def health(
    now: float,
    runs: list[RunFacts],
    *,
    enabled: bool = True,
    gaps: tuple[Gap, ...] = (),
    since: float = 0,
) -> JobHealth:
    return evaluate(
        schedule=Hourly(),
        enabled=enabled,
        runs=sorted(runs, key=lambda r: r.started_at, reverse=True),
        now=at(now),
        watching_since=at(since),
        gaps=gaps,
        thresholds=GRACE,
    )


# (now in minutes after T0, runs, expected state) -- the first fire is at minute 60.
TIMELINE = [
    (30, [], "never_run"),  # nothing owed yet: the daemon started at minute 0
    (60.5, [], "late"),  # the 01:00 fire has passed, its run has not started
    (69.9, [], "late"),  # still within the 10-minute grace
    (70, [], "missed"),  # the grace is over: the dead man's switch
    (61, [run("running", 60.01)], "running"),
    (62, [run("succeeded", 60.01, 61)], "ok"),
    (62, [run("partial", 60.01, 61)], "ok"),  # partial counts as a success
    (62, [run("failed", 60.01, 61)], "failing"),
    (62, [run("interrupted", 60.01)], "ok"),  # will resume; nothing owed since it started
    (125, [run("succeeded", 60.01, 61)], "late"),  # the 02:00 fire is now owed
    (135, [run("failed", 60.01, 61)], "missed"),  # missed outranks failing
    # A fire that found the job running was skipped on purpose: owed fires start after the end.
    (200, [run("succeeded", 60.01, 190)], "ok"),
]


@pytest.mark.parametrize(("now", "runs", "expected"), TIMELINE)
def test_state_over_time(now: float, runs: list[RunFacts], expected: str) -> None:
    assert health(now, runs).state == expected


def test_a_time_before_the_daemon_existed_is_never_missed() -> None:
    # Started at 01:30: the 01:00 fire predates us. At 01:45 nothing is owed.
    assert health(105, [], since=90).state == "never_run"
    assert health(125, [], since=90).state == "late"  # 02:00 is owed
    assert health(131, [], since=90).state == "missed"


def test_a_paused_job_is_owed_nothing() -> None:
    state = health(300, [run("succeeded", 60.01, 61)], enabled=False)
    assert state.state == "ok" and state.next_run_at is None


def test_fires_in_the_daemons_own_gaps_are_not_missed() -> None:
    stall = Gap(at(59), at(62), "stall")
    state = health(80, [], gaps=(stall,))
    assert state.state == "never_run"
    assert state.fires_in_gaps == (at(60),)
    # The next fire outside the gap is owed as usual.
    assert health(131, [], gaps=(stall,)).state == "missed"


def test_next_run_and_slow_runs() -> None:
    state = health(64, [run("running", 60.01)])
    assert state.next_run_at == at(120) and not state.slow
    assert health(66, [run("running", 60.01)]).slow  # past 300 s while running
    assert health(70, [run("succeeded", 60.01, 66)]).slow  # the last run took 6 minutes
    quick = [run("succeeded", 60.01, 66), run("succeeded", 120.01, 121)]
    assert not health(125, quick).slow  # a later quick run clears it


def test_consecutive_failures_and_error_rate() -> None:
    runs = [run("succeeded", 0.5, 1)] + [run("failed", m + 0.01, m + 1) for m in (60, 120, 180)]
    state = health(185, runs)
    assert state.consecutive_failures == 3
    assert (state.runs_24h, state.failures_24h) == (4, 3)
    # Runs older than 24 h leave the error rate.
    assert health(185 + 24 * 60, runs).runs_24h == 0


RULES = RuleThresholds(error_rate_threshold=0.10, slow_run_s=300, consecutive_failures=3)


@pytest.mark.parametrize(
    ("now", "runs", "expected"),
    [
        (62, [run("succeeded", 60.01, 61)], set()),
        # Two of two failed: the error rate needs at least 3 runs.
        (122, [run("failed", 60.01, 61), run("failed", 120.01, 121)], set()),
        (
            182,
            [run("failed", m + 0.01, m + 1) for m in (60, 120, 180)],
            {"error_rate", "consecutive_failures"},
        ),
        (
            182,
            [
                run("succeeded", 0.01, 1),
                run("failed", 60.01, 61),
                run("succeeded", 120.01, 121),
                run("succeeded", 180.01, 181),
            ],
            {"error_rate"},  # 1 of 4 is over 10%
        ),
        (67, [run("running", 60.01)], {"slow_run"}),
        (75, [], {"missed_execution"}),
    ],
)
def test_rules_hold_exactly_when_their_condition_does(
    now: float, runs: list[RunFacts], expected: set[str]
) -> None:
    sorted_runs = sorted(runs, key=lambda r: r.started_at, reverse=True)
    assert set(conditions("calculate-trending", health(now, sorted_runs), RULES)) == expected


def test_a_missed_execution_names_the_fire() -> None:
    found = conditions("calculate-trending", health(75, []), RULES)["missed_execution"]
    assert found.severity == "critical"
    assert found.details == {"scheduledFor": at(60).isoformat()}
