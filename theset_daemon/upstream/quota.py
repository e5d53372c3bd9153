"""The daily call quota of a provider reached with an API key (Ticketmaster, setlist.fm): what is
left today, and what an answer says about it."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from multidict import CIMultiDictProxy


class QuotaLedger:
    """Calls left today (UTC): the provider's ``Rate-Limit-Available`` when it sends one, else
    ``daily_quota`` minus our own count. In memory: a restart forgets today's count, so the
    provider's own header (Ticketmaster sends it on every answer) is what keeps us honest."""

    def __init__(self, daily_quota: Callable[[], int], clock: Callable[[], float] = time.time):
        self._daily_quota = daily_quota
        self._clock = clock
        self._day = self._today()
        self._sent = 0
        self._reported: int | None = None
        self._sent_since_report = 0

    def _today(self) -> str:
        return datetime.fromtimestamp(self._clock(), UTC).date().isoformat()

    def _roll_over(self) -> None:
        if (today := self._today()) != self._day:
            self._day, self._sent, self._reported, self._sent_since_report = today, 0, None, 0

    @property
    def remaining(self) -> int:
        self._roll_over()
        ours = self._daily_quota() - self._sent
        if self._reported is None:
            return max(0, ours)
        return max(0, min(ours, self._reported - self._sent_since_report))

    def seconds_to_reset(self) -> float:
        now = datetime.fromtimestamp(self._clock(), UTC)
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
        return (midnight - now).total_seconds()

    def record_send(self) -> None:
        self._roll_over()
        self._sent += 1
        self._sent_since_report += 1

    def observe(self, available: int) -> None:
        self._roll_over()
        self._reported, self._sent_since_report = available, 0


def is_quota_violation(body: Any, headers: CIMultiDictProxy[str]) -> bool:
    """Whether a 429 says the daily quota is spent (``Rate-Limit-Available: 0``, or Apigee's
    ``QuotaViolation``) rather than the per-second rate."""
    if headers.get("Rate-Limit-Available") == "0":
        return True
    try:
        return bool(body["fault"]["detail"]["errorcode"] == "policies.ratelimit.QuotaViolation")
    except (KeyError, TypeError):
        return False


def rate_limit_reset_seconds(
    headers: Mapping[str, str], now: Callable[[], float] = time.time
) -> float | None:
    """Ticketmaster's ``Rate-Limit-Reset``: when the daily quota refills, as epoch milliseconds
    (the docs call it a UTC date; their example, and the API, use milliseconds)."""
    try:
        return max(0.0, int(headers.get("Rate-Limit-Reset", "")) / 1000 - now())
    except ValueError:
        return None
