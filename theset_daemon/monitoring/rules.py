"""The alert rules (the seed's four per job, thresholds from ``[monitoring]``, and one per
upstream provider): which hold now.

A rule that holds is an *active condition*; the monitor keeps at most one open alert per
(job, rule) in ``cron_alerts``, fires it when the condition appears and resolves it when the
condition is gone. So each rule is written as "does it hold now", and firing once, resolving once
and re-notifying on an interval are the monitor's business, not the rule's.

| rule                   | holds when                                                  | severity |
|------------------------|-------------------------------------------------------------|----------|
| `error_rate`           | over `error_rate_threshold` of the runs that finished in    | warning  |
|                        | the last 24 h failed, counting at least 3 runs              |          |
| `slow_run`             | the running run is past `slow_run_s`, or the last finished  | warning  |
|                        | run took longer (a later quick run clears it)               |          |
| `consecutive_failures` | the last `consecutive_failures` finished runs all failed    | critical |
| `missed_execution`     | the job's state is `missed` (the dead man's switch)         | critical |
| `quota_insufficient`   | the refresh plan needs more requests a day of a provider    | warning  |
|                        | than the jobs' share of its day (:func:`quota_conditions`)  |          |

A run that its share of a provider's daily quota stopped (``"quotaStopped"`` in its summary) ends
``partial``, and counts as no failure for any rule, by choice: the budget doing its job is not the
job failing (``jobs/quota_stops.py``). The day's usage is shown by ``/api/monitoring/upstream``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from theset_daemon.monitoring.forecast import Forecast
from theset_daemon.monitoring.health import JobHealth

Rule = Literal[
    "error_rate", "slow_run", "consecutive_failures", "missed_execution", "quota_insufficient"
]
Severity = Literal["warning", "critical"]
RULES: tuple[Rule, ...] = (
    "error_rate", "slow_run", "consecutive_failures", "missed_execution", "quota_insufficient"
)  # fmt: skip
#: The alerts' ``job`` for a provider's rules: ``upstream:<provider>`` (see :func:`upstream_job`).
UPSTREAM_JOB_PREFIX = "upstream:"
MIN_RUNS_FOR_ERROR_RATE = 3


@dataclass(frozen=True, slots=True)
class RuleThresholds:
    error_rate_threshold: float = 0.10
    slow_run_s: float = 300
    consecutive_failures: int = 3


@dataclass(frozen=True, slots=True)
class Condition:
    rule: Rule
    severity: Severity
    message: str
    details: dict[str, Any] = field(default_factory=dict)


def conditions(job: str, health: JobHealth, limits: RuleThresholds) -> dict[Rule, Condition]:
    """Every rule that holds for ``job`` now, by rule."""
    found: list[Condition] = []
    if (
        health.runs_24h >= MIN_RUNS_FOR_ERROR_RATE
        and health.error_rate_24h > limits.error_rate_threshold
    ):
        found.append(
            Condition(
                "error_rate",
                "warning",
                f"{job}: {health.failures_24h} of {health.runs_24h} runs failed in the last 24 h "
                f"({health.error_rate_24h:.0%}, threshold {limits.error_rate_threshold:.0%})",
                {"runs": health.runs_24h, "failures": health.failures_24h},
            )
        )
    if health.slow and health.last_run is not None:
        run = health.last_run
        what = "is still running" if run.status == "running" else "took longer than"
        found.append(
            Condition(
                "slow_run",
                "warning",
                f"{job}: a run {what} {limits.slow_run_s:.0f} s",
                {"startedAt": run.started_at.isoformat(), "slowRunS": limits.slow_run_s},
            )
        )
    if health.consecutive_failures >= limits.consecutive_failures:
        found.append(
            Condition(
                "consecutive_failures",
                "critical",
                f"{job}: the last {health.consecutive_failures} runs failed",
                {"consecutiveFailures": health.consecutive_failures},
            )
        )
    if health.state == "missed" and health.overdue_fire is not None:
        found.append(
            Condition(
                "missed_execution",
                "critical",
                f"{job}: the run scheduled for {health.overdue_fire.isoformat()} did not start",
                {"scheduledFor": health.overdue_fire.isoformat()},
            )
        )
    return {condition.rule: condition for condition in found}


def upstream_job(provider: str) -> str:
    """The ``job`` of a provider's alerts. Alerts are kept per (job, rule) (one active at a time,
    PagerDuty's ``dedup_key = "theset:<job>:<rule>"``), so a provider takes a job-like key:
    ``upstream:ticketmaster``, never the name of a job (no job is called that), and the
    dedup key reads ``theset:upstream:ticketmaster:quota_insufficient``."""
    return f"{UPSTREAM_JOB_PREFIX}{provider}"


def quota_conditions(forecasts: Mapping[str, Forecast]) -> dict[str, dict[Rule, Condition]]:
    """``quota_insufficient`` (warning), by :func:`upstream_job`: for each provider whose refresh
    plan needs more requests a day than the jobs' background share of its day
    (``monitoring/forecast.py``), so some artists will fall behind their target age however the
    jobs are scheduled. It resolves when the plan fits again: a raised quota or a lower reserve
    (the share is read from the settings in force), longer target ages, or fewer active artists.
    A provider with no share at all (``interactive_reserve = 1``) fires as soon as the plan needs
    any request of it. Every provider has an entry, empty when nothing holds."""
    found: dict[str, dict[Rule, Condition]] = {}
    for provider, expected in forecasts.items():
        holding: dict[Rule, Condition] = {}
        if not expected.fits:
            per_day, share = expected.requests_per_day, expected.share_per_day
            holding["quota_insufficient"] = Condition(
                "quota_insufficient",
                "warning",
                f"{provider}: the refresh plan needs {per_day:,.0f} requests a day, over the "
                f"jobs' share of {share:,.0f} a day; some artists will fall behind their "
                f"target age (one refresh of every artist takes "
                f"{expected.days_to_refresh_all:.1f} days)",
                {
                    "provider": provider,
                    "requestsPerDay": round(per_day, 1),
                    "sharePerDay": round(share, 1),
                    "daysToRefreshAll": round(expected.days_to_refresh_all, 3),
                },
            )
        found[upstream_job(provider)] = holding
    return found
