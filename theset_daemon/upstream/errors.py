"""Typed upstream failures: callers decide by type, never by parsing messages.

Every error names its provider and endpoint (the route template, e.g. ``/artists/{id}/albums``),
so a log line or a run's error list says exactly which call failed.
"""

from __future__ import annotations


class UpstreamError(Exception):
    """Base of every upstream failure."""

    #: Retrying the same call may succeed (5xx, 429, timeouts, broken connections).
    retryable = False
    #: The failure says the provider is unhealthy, so it counts toward opening the breaker.
    counts_for_breaker = False

    def __init__(self, provider: str, endpoint: str, message: str) -> None:
        super().__init__(f"{provider} {endpoint}: {message}")
        self.provider = provider
        self.endpoint = endpoint
        self.message = message


class UpstreamUnavailable(UpstreamError):
    """Nothing was sent: the provider's breaker is open, or the provider asked us (Retry-After)
    to wait longer than ``retry.max_delay_s``. Try again after ``retry_after_s``."""

    def __init__(
        self, provider: str, endpoint: str, retry_after_s: float, *, reason: str = "circuit open"
    ) -> None:
        super().__init__(provider, endpoint, f"{reason}, retry in {retry_after_s:.1f} s")
        self.retry_after_s = retry_after_s


class QuotaExhausted(UpstreamError):
    """Nothing was sent: the day's quota for this request's class is used up (our own count, the
    provider's ``Rate-Limit-Available``, or the provider's own quota answer). Never retried and
    never a breaker failure: the provider is healthy, the key is spent until ``retry_after_s``."""

    def __init__(self, provider: str, endpoint: str, resets_in_s: float, *, reason: str) -> None:
        super().__init__(provider, endpoint, f"{reason}; resets in {resets_in_s / 3600:.1f} h")
        self.reason = reason
        self.retry_after_s = resets_in_s


class UpstreamStatusError(UpstreamError):
    """The provider answered with an error status."""

    def __init__(self, provider: str, endpoint: str, status: int, detail: str) -> None:
        super().__init__(provider, endpoint, f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


class UpstreamRateLimited(UpstreamStatusError):
    """429. ``retry_after_s`` is what the provider asked for (Retry-After, Rate-Limit-Reset)."""

    retryable = True
    counts_for_breaker = True

    def __init__(
        self, provider: str, endpoint: str, detail: str, retry_after_s: float | None
    ) -> None:
        super().__init__(provider, endpoint, 429, detail)
        self.retry_after_s = retry_after_s


class UpstreamServerError(UpstreamStatusError):
    """5xx. ``retry_after_s`` is the Retry-After it carried (a 503 often says how long the
    provider expects to be down), else None."""

    retryable = True
    counts_for_breaker = True

    def __init__(
        self,
        provider: str,
        endpoint: str,
        status: int,
        detail: str,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(provider, endpoint, status, detail)
        self.retry_after_s = retry_after_s


class UpstreamClientError(UpstreamStatusError):
    """4xx other than 429: our request is wrong, retrying cannot help, the provider is healthy."""


class UpstreamNotFound(UpstreamClientError):
    """404: no such resource."""


class UpstreamAuthError(UpstreamClientError):
    """401/403: bad or expired credentials, or an endpoint this access level may not call."""


class UpstreamTransportError(UpstreamError):
    """Timeout, refused or broken connection, truncated body: no usable answer arrived."""

    retryable = True
    counts_for_breaker = True


class UpstreamMalformed(UpstreamError):
    """The answer arrived but is not the JSON we expect; names the endpoint and what was wrong.

    Invalid JSON is retryable (a truncated or garbled body is usually transient); a valid document
    of the wrong shape is not (the API changed, or we are wrong).
    """

    counts_for_breaker = True

    def __init__(self, provider: str, endpoint: str, message: str, *, retryable: bool) -> None:
        super().__init__(provider, endpoint, message)
        self.retryable = retryable
