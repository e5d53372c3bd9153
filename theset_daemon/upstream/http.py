"""The one HTTP stack every provider call goes through.

Per attempt, in order, for the request's class (``request_class.py``: imports are interactive,
jobs background):

1. **Send gate** (``gate.py``), and at its front the **daily quota** (``quota.py``): reserve
   one unit of the class's share of today's quota in the shared ledger, or fail with
   :class:`QuotaExhausted`, nothing sent, never retried (a unit whose request is then not sent
   is given back). The gate: waits out any Retry-After pause (set by a 429, or a 5xx that
   carries one, on *any* call to the provider, so no request at all goes out inside that window;
   a pause longer than ``retry.max_delay_s`` is not waited out: the call fails at once with
   :class:`UpstreamUnavailable`, nothing sent), then takes the next evenly spaced send slot, and
   the key's slot in the window every daemon shares (``cluster.py``), in priority order.
2. **Circuit breaker**: counts 5xx, 429, timeouts and broken connections; 4xx answers (and a
   provider's quota answer) prove the provider healthy.
3. **Send**, with ``timeout_s`` on the whole exchange; metrics by provider, endpoint, status.
   The provider's own quota figures (``Rate-Limit-Available``) and its quota answer go to the
   ledger.

Around the attempts, tenacity retries what is retryable with exponential backoff and jitter, or
exactly the provider's ``Retry-After`` (seconds or HTTP date, on a 429 or a 5xx) /
``Rate-Limit-Reset`` when given.
A requested wait longer than ``retry.max_delay_s`` is not slept: the call fails at once.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from theset_daemon.config import ProviderSettings
from theset_daemon.log import get_logger
from theset_daemon.upstream import request_class
from theset_daemon.upstream.breaker import BreakerOpenError, BreakerState, CircuitBreaker
from theset_daemon.upstream.cluster import SharedLimiter
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
from theset_daemon.upstream.gate import ProviderPaused, SendGate
from theset_daemon.upstream.metrics import UpstreamMetrics
from theset_daemon.upstream.quota import (
    DailyLedger,
    next_utc_midnight,
    quota_answer,
    rate_limit_reset_seconds,
)
from theset_daemon.upstream.request_class import Priority, RequestClass

log = get_logger(__name__)

# A 429 without any header saying how long to wait holds every sender this long.
DEFAULT_RATE_LIMIT_PAUSE_S = 1.0


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: CIMultiDictProxy[str]
    body: Any


class Provider:
    """One upstream: its rate gate, breaker, retry policy, quota ledger and metrics.

    Settings are read through ``settings()`` on every call, so a SIGHUP that changes the rate,
    the breaker, the retry policy or the quota takes effect on the next call. Without a
    ``ledger`` nothing is counted per day, and without a ``cluster`` the rate is this process's
    alone: the daemon always has both, the HTTP stack's own tests need neither.
    """

    def __init__(
        self,
        name: str,
        settings: Callable[[], ProviderSettings],
        session: aiohttp.ClientSession,
        metrics: UpstreamMetrics,
        *,
        detail_of: Callable[[Any], str] = lambda body: "",
        ledger: DailyLedger | None = None,
        cluster: SharedLimiter | None = None,
    ) -> None:
        self.name = name
        self._settings = settings
        self._session = session
        self._metrics = metrics
        self._detail_of = detail_of
        self.ledger = ledger
        self.cluster = cluster
        self.gate = SendGate(lambda: settings().max_rate_per_s, cluster)
        self.breaker = CircuitBreaker(
            name,
            lambda: settings().breaker,
            on_change=lambda s: metrics.breaker_state.labels(name).set(s.gauge_value),
        )
        metrics.breaker_state.labels(name).set(BreakerState.CLOSED.gauge_value)
        #: Sends and 429s since start; jobs diff these for their per-run metrics.
        self.sent = 0
        self.rate_limited = 0

    @property
    def settings(self) -> ProviderSettings:
        """The provider's settings in force (the monitoring reads its rate and quota)."""
        return self._settings()

    async def request(
        self,
        method: str,
        url: str,
        *,
        endpoint: str,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
    ) -> Response:
        """Send with every guard and retries; return the parsed JSON answer or raise an
        :class:`UpstreamError` subclass. Interactive calls go out before background ones."""
        retry = self._settings().retry
        retrying = AsyncRetrying(
            stop=stop_after_attempt(retry.max_attempts),
            wait=self._wait_before_retry,
            retry=retry_if_exception(self._should_retry),
            reraise=True,
        )
        response: Response = await retrying(
            self._attempt, method, url, endpoint, params, headers, data, request_class.current()
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
        priority: Priority,
    ) -> Response:
        kind = priority.request_class
        # The unit is reserved once the caller is at the front of the gate, before its send slot:
        # not between the slot and the send, where a database round trip would delay sends past
        # their slots (and delayed sends bunch up at the provider), and not on entering the
        # queue, where a kill -9 would leave every queued caller's unit counted but never sent.
        # A unit whose request never goes out is given back.
        reserved = False

        async def reserve() -> None:
            nonlocal reserved
            assert self.ledger is not None
            await self.ledger.reserve(kind, endpoint)
            reserved = True
            self._show_quota()

        try:
            await self._wait_to_send(priority, endpoint, reserve if self.ledger else None)
        except BaseException:
            if reserved:
                assert self.ledger is not None
                await asyncio.shield(self.ledger.refund(kind))
            raise

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
        return await self._classify(endpoint, status, answer_headers, raw)

    async def _wait_to_send(
        self, priority: Priority, endpoint: str, reserve: Callable[[], Awaitable[None]] | None
    ) -> None:
        """The quota's unit and the send slot (in priority order), then the breaker's
        permission."""
        try:
            max_pause_s = self._settings().retry.max_delay_s
            await self.gate.wait_turn(
                priority=priority, max_pause_s=max_pause_s, first_in_turn=reserve
            )
        except ProviderPaused as exc:
            # Sleeping through hours of Retry-After would hold a run (or a request) that long.
            raise UpstreamUnavailable(
                self.name, endpoint, exc.retry_after_s, reason="provider asked for a pause"
            ) from None
        try:
            self.breaker.before_call()
        except BreakerOpenError as exc:
            raise UpstreamUnavailable(self.name, endpoint, exc.retry_after_s) from None

    def _transport_failure(self, endpoint: str, label: str, detail: str) -> UpstreamError:
        self.breaker.record_failure()
        self._metrics.requests.labels(self.name, endpoint, label).inc()
        error = UpstreamTransportError(self.name, endpoint, detail)
        log.warning("upstream_request_failed", provider=self.name, endpoint=endpoint, error=detail)
        return error

    async def _classify(
        self, endpoint: str, status: int, headers: CIMultiDictProxy[str], raw: bytes
    ) -> Response:
        if self.ledger is not None and "Rate-Limit-Available" in headers:
            await self.ledger.observe(headers)
            self._show_quota()

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
            if quota_answer(body if body is not _INVALID else None, headers):
                raise await self._quota_spent(endpoint, headers)
            raise await self._rate_limited(endpoint, headers, detail)
        if status >= 500:
            self.breaker.record_failure()
            # A 503 (or any 5xx) that says when to come back is honoured like a 429's: nothing
            # at all goes to the provider before then, and the retry waits exactly that long.
            retry_after_s = retry_after_seconds(headers)
            if retry_after_s is not None:
                await self._pause_everyone(retry_after_s)
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

    async def _rate_limited(
        self, endpoint: str, headers: CIMultiDictProxy[str], detail: str
    ) -> UpstreamError:
        self.breaker.record_failure()
        self.rate_limited += 1
        self._metrics.rate_limited.labels(self.name).inc()
        retry_after_s = retry_after_seconds(headers)
        await self._pause_everyone(
            retry_after_s if retry_after_s is not None else DEFAULT_RATE_LIMIT_PAUSE_S
        )
        log.warning(
            "upstream_rate_limited",
            provider=self.name,
            endpoint=endpoint,
            retry_after_s=retry_after_s,
            detail=detail,
        )
        return UpstreamRateLimited(self.name, endpoint, detail, retry_after_s)

    async def _quota_spent(self, endpoint: str, headers: CIMultiDictProxy[str]) -> UpstreamError:
        """The provider's own quota answer: a healthy provider and a spent key, until it says
        (``Rate-Limit-Reset``, ``Retry-After``) or the day's reset."""
        self.breaker.record_neutral()
        self.rate_limited += 1
        self._metrics.rate_limited.labels(self.name).inc()
        said_s = rate_limit_reset_seconds(headers)
        if said_s is None:
            said_s = retry_after_seconds(headers)
        if self.ledger is not None:
            resets_in_s = await self.ledger.spend(said_s)
            self._show_quota()
        else:
            now = datetime.now(UTC)
            resets_in_s = said_s or (next_utc_midnight(now) - now).total_seconds()
        log.error("upstream_quota_exhausted", provider=self.name, endpoint=endpoint,
                  resets_in_s=round(resets_in_s))  # fmt: skip
        return QuotaExhausted(
            self.name, endpoint, resets_in_s,
            reason="the provider answered that its daily quota is spent",
        )  # fmt: skip

    async def _pause_everyone(self, seconds: float) -> None:
        """No request to this provider, from this daemon or (through Redis) any other, for
        ``seconds``."""
        self.gate.pause_for(seconds)
        if self.cluster is not None:
            await self.cluster.pause_for(seconds)

    def _show_quota(self) -> None:
        assert self.ledger is not None
        usage = self.ledger.usage
        if usage is None:
            return
        for kind in RequestClass:
            used = usage.interactive if kind is RequestClass.INTERACTIVE else usage.background
            self._metrics.quota_used_today.labels(self.name, kind.value).set(used)
        remaining = self.ledger.remaining()
        self._metrics.quota_remaining.labels(self.name).set(-1 if remaining is None else remaining)


_INVALID = object()


def _parse_json(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return _INVALID


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
