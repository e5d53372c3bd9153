"""The daily quota of one provider's key: a durable ledger every daemon on the database shares,
and what an answer says about the quota.

Each send first reserves one unit in ``upstream_quota_days`` (``db/budget.py``), in one atomic
statement, for its class (``request_class.py``):

- *background* (the jobs) stops at ``daily_quota * (1 - interactive_reserve)``;
- *interactive* (the imports) stops at ``daily_quota * interactive_max``;
- both stop at ``daily_quota``, at the provider's own ``Rate-Limit-Available`` (what we sent
  since it was read counts against it), and before ``spent_until``, which a provider's own quota
  answer sets.

A refusal is :class:`QuotaExhausted`: nothing sent, never retried, not a breaker failure.
``daily_quota = 0`` means no quota: the units are still counted (the status page shows them) and a
quota answer still stops the provider until it says.

The count is in Postgres, not memory: it survives restarts and is one count for every daemon.
That costs one short statement a request, well inside the slowest provider's spacing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from theset_daemon.catalog.plan import background_share_per_day
from theset_daemon.config import ProviderSettings
from theset_daemon.db import budget as store
from theset_daemon.db.pool import Database
from theset_daemon.log import get_logger
from theset_daemon.upstream.errors import QuotaExhausted
from theset_daemon.upstream.request_class import RequestClass

log = get_logger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def next_utc_midnight(now: datetime) -> datetime:
    return datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)


@dataclass(frozen=True, slots=True)
class Caps:
    """The day's limits of one provider, in requests; None where there is none."""

    total: int | None
    interactive: int | None
    background: int | None

    @classmethod
    def of(cls, settings: ProviderSettings) -> Caps:
        quota = settings.daily_quota
        if quota == 0:
            return cls(None, None, None)
        return cls(
            total=quota,
            interactive=math.floor(quota * settings.interactive_max + 1e-9),  # 100 * 0.57: 56.99...
            background=int(
                background_share_per_day(
                    settings.max_rate_per_s, quota, settings.interactive_reserve
                )
            ),
        )

    def of_class(self, request_class: RequestClass) -> int | None:
        return self.interactive if request_class is RequestClass.INTERACTIVE else self.background


@dataclass(frozen=True, slots=True)
class Usage:
    """One provider's day as the ledger last saw it."""

    interactive: int
    background: int
    #: What the provider said was left (``Rate-Limit-Available``), less what we sent since.
    reported_left: int | None
    resets_at: datetime
    spent_until: datetime | None

    @classmethod
    def of(cls, row: asyncpg.Record) -> Usage:
        reported_left = None
        if row["reported_available"] is not None:
            sent_since = row["interactive"] + row["background"] - row["reported_at_total"]
            reported_left = max(0, row["reported_available"] - sent_since)
        return cls(
            row["interactive"], row["background"], reported_left, row["resets_at"],
            row["spent_until"],
        )  # fmt: skip

    @property
    def total(self) -> int:
        return self.interactive + self.background

    def remaining(self, caps: Caps, now: datetime) -> int | None:
        """Requests left today for anyone; None when the provider has no daily quota."""
        if self.spent_until is not None and self.spent_until > now:
            return 0
        figures = [] if self.reported_left is None else [self.reported_left]
        if caps.total is not None:
            figures.append(max(0, caps.total - self.total))
        return min(figures) if figures else None

    def refusal(
        self, caps: Caps, request_class: RequestClass, now: datetime
    ) -> tuple[str, datetime]:
        """Why a reservation of ``request_class`` was refused, and until when."""
        if self.spent_until is not None and self.spent_until > now:
            return "the provider answered that its daily quota is spent", self.spent_until
        if caps.total is not None and self.total >= caps.total:
            return f"daily quota of {caps.total} calls used up", self.resets_at
        if self.reported_left == 0:
            return "the provider reports no calls left today", self.resets_at
        return (
            f"the {request_class.value} share of the daily quota "
            f"({caps.of_class(request_class)} of {caps.total} calls) used up",
            self.resets_at,
        )


class DailyLedger:
    """The durable daily count of one provider's key, shared by every daemon on the database."""

    def __init__(
        self,
        provider: str,
        settings: Callable[[], ProviderSettings],
        database: Database,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.provider = provider
        self._settings = settings
        self._database = database
        self._clock = clock
        self._day_ready: date | None = None
        #: The day as last seen (reservations and answers update it): the gauges read it.
        self.usage: Usage | None = None

    @property
    def caps(self) -> Caps:
        return Caps.of(self._settings())

    def remaining(self) -> int | None:
        """Requests left today as last seen; None without a daily quota or before any count."""
        return None if self.usage is None else self.usage.remaining(self.caps, self._clock())

    async def reserve(self, request_class: RequestClass, endpoint: str) -> None:
        """Count one request of ``request_class`` about to be sent, or raise
        :class:`QuotaExhausted` (nothing counted) when today's share has no room."""
        caps, now = self.caps, self._clock()
        # A database error propagates as itself: the ledger is the database, and the caller's
        # own writes are failing with it.
        day = await self._ready(now)
        row = await store.reserve(
            self._database.pool, self.provider, day, request_class.value,
            total_cap=caps.total, class_cap=caps.of_class(request_class),
        )  # fmt: skip
        if row is None:
            row = await store.usage(self._database.pool, self.provider, day)
            assert row is not None  # _ready made it
            self.usage = Usage.of(row)
            reason, until = self.usage.refusal(caps, request_class, now)
            raise QuotaExhausted(
                self.provider, endpoint, (until - now).total_seconds(), reason=reason
            )
        self.usage = Usage.of(row)

    async def refund(self, request_class: RequestClass) -> None:
        """Give back a unit reserved for a request that was not sent after all."""
        await self._write(store.refund, request_class.value, now=self._clock())

    async def observe(self, headers: Mapping[str, str]) -> None:
        """Take the provider's own count (``Rate-Limit-Available``, ``Rate-Limit-Reset``)."""
        try:
            available = int(headers["Rate-Limit-Available"])
        except (KeyError, ValueError):  # not sent, or garbled: keep our own count
            return
        reset_s = rate_limit_reset_seconds(headers)
        now = self._clock()
        resets_at = None if reset_s is None else now + timedelta(seconds=reset_s)
        await self._write(store.observe_available, available, resets_at, now=now)

    async def spend(self, resets_in_s: float | None) -> float:
        """The provider answered that the quota is spent: nothing goes out until it resets
        (``resets_in_s`` when it said, else the day's reset). Returns the seconds to that."""
        now = self._clock()
        until = (
            now + timedelta(seconds=resets_in_s)
            if resets_in_s is not None
            else (self.usage.resets_at if self.usage is not None else next_utc_midnight(now))
        )
        await self._write(store.mark_spent, until, now=now)
        return (until - now).total_seconds()

    async def today(self) -> Usage | None:
        """The day's usage read fresh (another daemon may have counted since)."""
        day = self._clock().date()
        row = await store.usage(self._database.pool, self.provider, day)
        self.usage = None if row is None else Usage.of(row)
        return self.usage

    async def _ready(self, now: datetime) -> date:
        day = now.date()
        if self._day_ready != day:  # once a day per process: the row the reservations update
            await store.ensure_day(self._database.pool, self.provider, day, next_utc_midnight(now))
            self._day_ready = day
        return day

    async def _write(self, statement: Callable[..., Any], *args: Any, now: datetime) -> None:
        """What an answer said: best effort (the answer itself is what the caller waits for)."""
        try:
            day = await self._ready(now)
            row = await statement(self._database.pool, self.provider, day, *args)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("quota_ledger_unreachable", provider=self.provider,
                        error=type(exc).__name__)  # fmt: skip
            return
        if row is not None:
            self.usage = Usage.of(row)


def quota_answer(body: Any, headers: Mapping[str, str]) -> bool:
    """Whether a 429 is the provider's own "quota spent" answer rather than its per-second rate:
    Ticketmaster's Apigee ``QuotaViolation`` (or ``Rate-Limit-Available: 0``), setlist.fm's API
    Gateway usage-plan ``Limit Exceeded``, Spotify's ``QUOTA_EXCEEDED`` reason."""
    if headers.get("Rate-Limit-Available") == "0":
        return True
    if headers.get("x-amzn-ErrorType", "").startswith("LimitExceededException"):
        return True
    if not isinstance(body, dict):
        return False
    fault = body.get("fault")
    if isinstance(fault, dict) and isinstance(detail := fault.get("detail"), dict):
        return bool(detail.get("errorcode") == "policies.ratelimit.QuotaViolation")
    if body.get("message") == "Limit Exceeded":
        return True
    error = body.get("error")
    return isinstance(error, dict) and error.get("reason") == "QUOTA_EXCEEDED"


def rate_limit_reset_seconds(
    headers: Mapping[str, str], now: Callable[[], float] = time.time
) -> float | None:
    """Ticketmaster's ``Rate-Limit-Reset``: when the daily quota refills, as epoch milliseconds
    (the docs call it a UTC date; their example, and the API, use milliseconds)."""
    try:
        return max(0.0, int(headers.get("Rate-Limit-Reset", "")) / 1000 - now())
    except ValueError:
        return None
