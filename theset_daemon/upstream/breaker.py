"""A circuit breaker per provider: closed -> open -> half-open -> closed.

Hand-written because the asyncio breakers on PyPI (aiobreaker, purgatory, ...) are either
unmaintained or count every exception alike; we need to count only what says the provider is
unhealthy (5xx, 429, timeouts, broken connections; never 400/401/404), to limit half-open probes
to ``half_open_max_calls`` in flight, and to read thresholds from reloadable settings.

The breaker is synchronous and holds no locks: every transition happens between awaits, on the
event loop's one thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum

from theset_daemon.config import BreakerSettings
from theset_daemon.log import get_logger

log = get_logger(__name__)


class BreakerState(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"

    @property
    def gauge_value(self) -> int:
        """0 closed, 1 half-open, 2 open: the higher, the worse (for the metrics gauge)."""
        return {"closed": 0, "half_open": 1, "open": 2}[self.value]


class BreakerOpenError(Exception):
    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"circuit open, retry in {retry_after_s:.1f} s")
        self.retry_after_s = retry_after_s


class CircuitBreaker:
    def __init__(
        self,
        provider: str,
        settings: Callable[[], BreakerSettings],
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState], None] | None = None,
    ) -> None:
        self.provider = provider
        self._settings = settings
        self._clock = clock
        self._on_change = on_change
        self._state = BreakerState.CLOSED
        self._consecutive_failures = 0
        self._opened_at = 0.0
        self._probes_in_flight = 0

    @property
    def state(self) -> BreakerState:
        """The state now (an open breaker whose reset timeout passed reads as half-open)."""
        if self._state is BreakerState.OPEN and self._remaining_open_s() <= 0:
            return BreakerState.HALF_OPEN
        return self._state

    def retry_after_s(self) -> float:
        return max(0.0, self._remaining_open_s()) if self._state is BreakerState.OPEN else 0.0

    def before_call(self) -> None:
        """Admit a call or raise :class:`BreakerOpenError`. Every admitted call must be followed
        by exactly one of :meth:`record_success`, :meth:`record_failure`, :meth:`record_neutral`."""
        if self._state is BreakerState.OPEN:
            remaining = self._remaining_open_s()
            if remaining > 0:
                raise BreakerOpenError(remaining)
            self._transition(BreakerState.HALF_OPEN)
        if self._state is BreakerState.HALF_OPEN:
            if self._probes_in_flight >= self._settings().half_open_max_calls:
                raise BreakerOpenError(self._settings().reset_timeout_s)
            self._probes_in_flight += 1

    def record_success(self) -> None:
        self._consecutive_failures = 0
        if self._state is BreakerState.HALF_OPEN:
            self._probes_in_flight -= 1
            self._transition(BreakerState.CLOSED)

    def record_neutral(self) -> None:
        """The provider answered (a 404, say): healthy, but the call did not succeed either."""
        self.record_success()

    def release(self) -> None:
        """The admitted call was abandoned (cancelled) before any answer: no verdict at all."""
        if self._state is BreakerState.HALF_OPEN:
            self._probes_in_flight = max(0, self._probes_in_flight - 1)

    def record_failure(self) -> None:
        if self._state is BreakerState.HALF_OPEN:
            self._probes_in_flight -= 1
            self._open()
            return
        self._consecutive_failures += 1
        threshold = self._settings().failure_threshold
        if self._state is BreakerState.CLOSED and self._consecutive_failures >= threshold:
            self._open()

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._transition(BreakerState.OPEN)

    def _remaining_open_s(self) -> float:
        return self._opened_at + self._settings().reset_timeout_s - self._clock()

    def _transition(self, new: BreakerState) -> None:
        old, self._state = self._state, new
        if new is BreakerState.CLOSED:
            self._probes_in_flight = 0
            self._consecutive_failures = 0
        if old is new:
            return
        if new is BreakerState.OPEN:
            log.warning(
                "breaker_opened",
                provider=self.provider,
                failures=self._consecutive_failures,
                reset_timeout_s=self._settings().reset_timeout_s,
                from_state=old.value,
            )
        elif new is BreakerState.CLOSED:
            log.info("breaker_closed", provider=self.provider)
        if self._on_change is not None:
            self._on_change(new)
