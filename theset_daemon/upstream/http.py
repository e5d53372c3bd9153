"""The one HTTP stack every provider call goes through.

Per attempt, in order:

1. **Quota ledger** (Ticketmaster, setlist.fm): refuse with :class:`QuotaExhausted` once the daily
   quota is spent, instead of burning the key.
2. **Send gate**: waits out any Retry-After pause (set by a 429, or a 5xx that carries one, on
   *any* call to the provider, so no request at all goes out inside that window; a pause longer
   than ``retry.max_delay_s`` is not waited out: the call fails at once with
   :class:`UpstreamUnavailable`, nothing sent), then takes a send slot from an aiolimiter
   leaky bucket of capacity one. Capacity one is deliberate: ``AsyncLimiter(rate, 1)`` would
   allow a full burst on top of its refill, and the contract's rate is strict (no sliding second
   may hold more than ``max_rate_per_s`` sends), so sends are evenly spaced instead. The slot is
   taken just before the send and not held during the round-trip, so a slow answer never lowers
   throughput.
3. **Circuit breaker**: counts 5xx, 429, timeouts and broken connections; 4xx answers prove the
   provider healthy.
4. **Send**, with ``timeout_s`` on the whole exchange; metrics by provider, endpoint, status.

Around the attempts, tenacity retries what is retryable with exponential backoff and jitter, or
exactly the provider's ``Retry-After`` (seconds or HTTP date, on a 429 or a 5xx) /
``Rate-Limit-Reset`` when given.
A requested wait longer than ``retry.max_delay_s`` is not slept: the call fails at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiolimiter import AsyncLimiter
from multidict import CIMultiDictProxy
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from theset_daemon.config import ApiKeyProviderSettings, ProviderSettings
from theset_daemon.log import get_logger
from theset_daemon.upstream.breaker import BreakerOpenError, BreakerState, CircuitBreaker
from theset_daemon.upstream.errors import (
    QuotaExhausted,
    UpstreamAuthError,
    UpstreamClientError,
    UpstreamError,
    UpstreamMalformed,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamServerError,
    UpstreamStatusError,
    UpstreamTransportError,
    UpstreamUnavailable,
)
from theset_daemon.upstream.metrics import UpstreamMetrics

log = get_logger(__name__)

# The provider counts arrivals, not our sends, and arrivals jitter (a new connection, a busy loop
# on either side): one send delayed by J makes the next ones look J closer. Spacing sends so that
# any rate+1 of them span 1 s + this margin keeps every provider-side second within the limit
# for jitter up to the margin, at 1/(1 + margin) = 95% of the limit.
ARRIVAL_JITTER_MARGIN_S = 0.05
# A 429 without any header saying how long to wait holds every sender this long.
DEFAULT_RATE_LIMIT_PAUSE_S = 1.0


class ProviderPaused(Exception):
    """The provider asked for a pause longer than the caller will wait."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"paused for {retry_after_s:.1f} s")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: CIMultiDictProxy[str]
    body: Any


class SendGate:
    """Paces the sends of one provider: strict rate, a shared pause after a 429, and priority.

    Only one caller at a time waits inside the limiter; the others queue at a turnstile in front
    of it, urgent callers (a person waiting on an HTTP request: import phase 1) before background
    ones (import phases 2-3, syncs). A background caller waiting inside the limiter for the next
    slot gives that slot up when an urgent one arrives (it goes back to the head of the background
    queue), so an urgent call waits at most for the slot in progress, never behind a background
    send that merely reserved the next one. The slots themselves never move: the rate stays strict.
    """

    def __init__(self, max_rate_per_s: Callable[[], float]) -> None:
        self._max_rate_per_s = max_rate_per_s
        self._paused_until = 0.0
        self._limiter: AsyncLimiter | None = None
        self._limiter_rate = 0.0
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._background: deque[asyncio.Future[None]] = deque()
        self._busy = False
        # Set while a background caller waits inside the limiter: an urgent arrival resolves it.
        self._yield_slot: asyncio.Future[None] | None = None

    def pause_for(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        self._paused_until = max(self._paused_until, loop.time() + seconds)

    def paused_for_s(self) -> float:
        return max(0.0, self._paused_until - asyncio.get_running_loop().time())

    async def wait_turn(self, *, urgent: bool = False, max_pause_s: float = math.inf) -> None:
        """Return when this caller may send; raise :class:`ProviderPaused` instead of sleeping
        through a pause longer than ``max_pause_s`` (a provider may ask for hours)."""
        ahead = False  # a background caller that gave its slot up re-queues at the head
        while True:
            if (pause := self.paused_for_s()) > 0:
                if pause > max_pause_s:
                    raise ProviderPaused(pause)
                await asyncio.sleep(pause)
                continue
            await self._enter(urgent, ahead=ahead)
            try:
                acquired = await self._acquire(urgent)
            finally:
                self._leave()
            if not acquired:
                ahead = True
                continue
            if self.paused_for_s() <= 0:  # no 429 arrived while we queued for the slot
                return

    async def _acquire(self, urgent: bool) -> bool:
        """Wait in the limiter for the next slot; False when an urgent caller took it over."""
        limiter = self._current_limiter()
        if urgent or limiter.has_capacity():
            await limiter.acquire()
            return True
        self._yield_slot = asyncio.get_running_loop().create_future()
        slot = asyncio.ensure_future(limiter.acquire())
        try:
            await asyncio.wait((slot, self._yield_slot), return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._yield_slot = None
            if not slot.done():
                slot.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await slot
        return not slot.cancelled()

    async def _enter(self, urgent: bool, *, ahead: bool = False) -> None:
        """Wait for the turnstile; returns owning it."""
        if not self._busy:
            self._busy = True
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._urgent if urgent else self._background
        if ahead:
            queue.appendleft(turn)
        else:
            queue.append(turn)
        if urgent and self._yield_slot is not None and not self._yield_slot.done():
            self._yield_slot.set_result(None)  # the background caller in the limiter steps aside
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._leave()  # the turn was handed to us as we were cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):  # _leave may have skipped it already
                    queue.remove(turn)
            raise

    def _leave(self) -> None:
        for queue in (self._urgent, self._background):
            while queue:
                turn = queue.popleft()
                if not turn.done():
                    turn.set_result(None)
                    return
        self._busy = False

    def _current_limiter(self) -> AsyncLimiter:
        rate = self._max_rate_per_s()
        if self._limiter is None or rate != self._limiter_rate:  # new, or changed by a reload
            self._limiter = AsyncLimiter(1, (1 + ARRIVAL_JITTER_MARGIN_S) / rate)
            self._limiter_rate = rate
        return self._limiter


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


class Provider:
    """One upstream: its rate gate, breaker, retry policy, quota ledger and metrics.

    Settings are read through ``settings()`` on every call, so a SIGHUP that changes the rate,
    the breaker or the retry policy takes effect on the next call.
    """

    def __init__(
        self,
        name: str,
        settings: Callable[[], ProviderSettings],
        session: aiohttp.ClientSession,
        metrics: UpstreamMetrics,
        *,
        detail_of: Callable[[Any], str] = lambda body: "",
    ) -> None:
        self.name = name
        self._settings = settings
        self._session = session
        self._metrics = metrics
        self._detail_of = detail_of
        self.gate = SendGate(lambda: settings().max_rate_per_s)
        self.breaker = CircuitBreaker(
            name,
            lambda: settings().breaker,
            on_change=lambda s: metrics.breaker_state.labels(name).set(s.gauge_value),
        )
        metrics.breaker_state.labels(name).set(BreakerState.CLOSED.gauge_value)
        self.ledger: QuotaLedger | None = None
        first = settings()
        if isinstance(first, ApiKeyProviderSettings):
            self.ledger = QuotaLedger(lambda: self._quota_settings().daily_quota)
            metrics.quota_remaining.labels(name).set(first.daily_quota)
        #: Sends and 429s since start; jobs diff these for their per-run metrics.
        self.sent = 0
        self.rate_limited = 0

    def _quota_settings(self) -> ApiKeyProviderSettings:
        settings = self._settings()
        assert isinstance(settings, ApiKeyProviderSettings)
        return settings

    async def request(
        self,
        method: str,
        url: str,
        *,
        endpoint: str,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        urgent: bool = False,
    ) -> Response:
        """Send with every guard and retries; return the parsed JSON answer or raise an
        :class:`UpstreamError` subclass. ``urgent`` calls go out before queued background ones."""
        retry = self._settings().retry
        retrying = AsyncRetrying(
            stop=stop_after_attempt(retry.max_attempts),
            wait=self._wait_before_retry,
            retry=retry_if_exception(self._should_retry),
            reraise=True,
        )
        response: Response = await retrying(
            self._attempt, method, url, endpoint, params, headers, data, urgent
        )
        return response

    def _should_retry(self, exc: BaseException) -> bool:
        if not isinstance(exc, UpstreamError) or not exc.retryable:
            return False
        asked_s = getattr(exc, "retry_after_s", None)
        return asked_s is None or asked_s <= self._settings().retry.max_delay_s

    def _wait_before_retry(self, state: RetryCallState) -> float:
        retry = self._settings().retry
        exc = state.outcome.exception() if state.outcome else None
        asked_s = (
            exc.retry_after_s
            if isinstance(exc, UpstreamRateLimited | UpstreamServerError)
            else None
        )
        if asked_s is not None:
            return asked_s
        backoff = wait_exponential_jitter(
            multiplier=retry.base_delay_s, max=retry.max_delay_s, jitter=retry.base_delay_s
        )
        return float(backoff(state))

    async def _attempt(
        self,
        method: str,
        url: str,
        endpoint: str,
        params: Mapping[str, str | int] | None,
        headers: Mapping[str, str] | None,
        data: Mapping[str, str] | None,
        urgent: bool,
    ) -> Response:
        if self.ledger is not None and self.ledger.remaining <= 0:
            raise QuotaExhausted(
                self.name,
                endpoint,
                self._quota_settings().daily_quota,
                self.ledger.seconds_to_reset(),
            )
        try:
            await self.gate.wait_turn(urgent=urgent, max_pause_s=self._settings().retry.max_delay_s)
        except ProviderPaused as exc:
            # Sleeping through hours of Retry-After would hold a run (or a request) that long.
            raise UpstreamUnavailable(
                self.name, endpoint, exc.retry_after_s, reason="provider asked for a pause"
            ) from None
        try:
            self.breaker.before_call()
        except BreakerOpenError as exc:
            raise UpstreamUnavailable(self.name, endpoint, exc.retry_after_s) from None

        if self.ledger is not None:
            self.ledger.record_send()
        self.sent += 1
        settings = self._settings()
        started = time.perf_counter()
        try:
            async with self._session.request(
                method,
                url,
                params=params,
                headers=headers,
                data=data,
                timeout=aiohttp.ClientTimeout(total=settings.timeout_s),
            ) as answer:
                raw = await answer.read()
                status, answer_headers = answer.status, answer.headers
        except TimeoutError:
            raise self._transport_failure(
                endpoint, "timeout", f"no answer in {settings.timeout_s} s"
            ) from None
        except aiohttp.ClientError as exc:
            raise self._transport_failure(endpoint, "connection_error", repr(exc)) from None
        except BaseException:
            self.breaker.release()  # cancelled: says nothing about the provider's health
            raise
        finally:
            self._metrics.duration.labels(self.name, endpoint).observe(
                time.perf_counter() - started
            )
        self._metrics.requests.labels(self.name, endpoint, str(status)).inc()
        return self._classify(endpoint, status, answer_headers, raw)

    def _transport_failure(self, endpoint: str, label: str, detail: str) -> UpstreamError:
        self.breaker.record_failure()
        self._metrics.requests.labels(self.name, endpoint, label).inc()
        error = UpstreamTransportError(self.name, endpoint, detail)
        log.warning("upstream_request_failed", provider=self.name, endpoint=endpoint, error=detail)
        return error

    def _classify(
        self, endpoint: str, status: int, headers: CIMultiDictProxy[str], raw: bytes
    ) -> Response:
        if self.ledger is not None and (available := headers.get("Rate-Limit-Available")):
            with contextlib.suppress(ValueError):  # a garbled header: keep our own count
                self.ledger.observe(int(available))
        if self.ledger is not None:
            self._metrics.quota_remaining.labels(self.name).set(self.ledger.remaining)

        body = _parse_json(raw)
        if 200 <= status < 300:
            if body is _INVALID:
                self.breaker.record_failure()
                error = UpstreamMalformed(
                    self.name, endpoint, f"invalid JSON ({len(raw)} bytes)", retryable=True
                )
                log.warning("upstream_request_failed", provider=self.name, endpoint=endpoint,
                            status=status, error=error.message)  # fmt: skip
                raise error
            self.breaker.record_success()
            return Response(status, headers, body)

        detail = self._detail_of(body) if body is not _INVALID else ""
        detail = detail or raw[:200].decode("utf-8", "replace")
        if status == 429:
            raise self._rate_limited(endpoint, headers, body, detail)
        if status >= 500:
            self.breaker.record_failure()
            # A 503 (or any 5xx) that says when to come back is honoured like a 429's: nothing
            # at all goes to the provider before then, and the retry waits exactly that long.
            retry_after_s = retry_after_seconds(headers)
            if retry_after_s is not None:
                self.gate.pause_for(retry_after_s)
            log.warning("upstream_request_failed", provider=self.name, endpoint=endpoint,
                        status=status, error=detail, retry_after_s=retry_after_s)  # fmt: skip
            raise UpstreamServerError(self.name, endpoint, status, detail, retry_after_s)
        self.breaker.record_neutral()
        error_type: type[UpstreamStatusError] = UpstreamClientError
        if status == 404:
            error_type = UpstreamNotFound
        elif status in (401, 403):
            error_type = UpstreamAuthError
        raise error_type(self.name, endpoint, status, detail)

    def _rate_limited(
        self, endpoint: str, headers: CIMultiDictProxy[str], body: Any, detail: str
    ) -> UpstreamError:
        self.breaker.record_failure()
        self.rate_limited += 1
        self._metrics.rate_limited.labels(self.name).inc()
        retry_after_s = retry_after_seconds(headers)
        if self.ledger is not None and _is_quota_violation(body, headers):
            self.ledger.observe(0)
            self._metrics.quota_remaining.labels(self.name).set(0)
            log.error("upstream_quota_exhausted", provider=self.name, endpoint=endpoint)
            return QuotaExhausted(
                self.name,
                endpoint,
                self._quota_settings().daily_quota,
                rate_limit_reset_seconds(headers) or self.ledger.seconds_to_reset(),
            )
        pause_s = retry_after_s if retry_after_s is not None else DEFAULT_RATE_LIMIT_PAUSE_S
        self.gate.pause_for(pause_s)
        log.warning(
            "upstream_rate_limited",
            provider=self.name,
            endpoint=endpoint,
            retry_after_s=retry_after_s,
            detail=detail,
        )
        return UpstreamRateLimited(self.name, endpoint, detail, retry_after_s)


_INVALID = object()


def _parse_json(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return _INVALID


def _is_quota_violation(body: Any, headers: CIMultiDictProxy[str]) -> bool:
    if headers.get("Rate-Limit-Available") == "0":
        return True
    try:
        return bool(body["fault"]["detail"]["errorcode"] == "policies.ratelimit.QuotaViolation")
    except (KeyError, TypeError):
        return False


def retry_after_seconds(
    headers: Mapping[str, str], now: Callable[[], float] = time.time
) -> float | None:
    """How long the provider asked us to wait: ``Retry-After`` as seconds or as an HTTP date.
    None when it did not say."""
    value = headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now())


def rate_limit_reset_seconds(
    headers: Mapping[str, str], now: Callable[[], float] = time.time
) -> float | None:
    """Ticketmaster's ``Rate-Limit-Reset``: when the daily quota refills, as epoch milliseconds
    (the docs call it a UTC date; their example, and the API, use milliseconds)."""
    try:
        return max(0.0, int(headers.get("Rate-Limit-Reset", "")) / 1000 - now())
    except ValueError:
        return None
