"""What the simulator enforces and counts: per-second windows, daily quotas, faults, statistics.

Rate windows. Every request to a provider is timed when it reaches the simulator (before any
added latency). Two sliding windows per provider use those times:

- the *admission* window holds the requests that were let through; a request that would make it
  hold more than the provider's limit is answered with that provider's 429 and is **not** added,
  so a client that backs off gets served again as soon as the window slides (a rejected request
  is no send that the provider processed);
- the *observation* window holds every request, rejected ones included, and gives
  ``peak_rate_per_s``: the most requests the client sent in any window. A strict client
  (CONTRACT.md section 8) keeps it at or under its ``max_rate_per_s``.

The observation window is a full second, ``(t - 1 s, t]``: ``peak_rate_per_s`` is the contract's
measure, and a client must keep it within the limit even through arrival jitter (ours spaces its
sends for 50 ms of it). The admission window is ``(t - span, t]`` with
``span = 1 s - ARRIVAL_JITTER_S``: it decides 429s, and its
20 ms allowance is for the clock difference between a client that timed its send and the server
that times the arrival: on one machine, a request can reach the handler a few milliseconds late
(a new connection, a busy event loop) while the next one arrives on time, which would otherwise
squeeze two sends 1.000 s apart into one window. An off-by-one limiter is still caught; a token
bucket that allows a burst on top of its refill is caught by a wide margin.

Retry-After windows. Every answer to a provider request that carries ``Retry-After`` (a 429, or
a 500/503 fault given ``retryAfter``) announces a window: from when the answer leaves until that
many seconds later, the client must send that provider nothing. A request that arrives inside a
window announced earlier is counted in ``inside_retry_after``; a client that honours Retry-After
keeps it at 0. The window's end is exact. Its start allows :data:`RETRY_AFTER_IN_FLIGHT_S`: a
request the client sent just before it could read the announcing answer (another of its tasks,
between our write and its read) arrives a little after the answer left, and is no breach. A client
that ignores the header sends its next request at its own pace or backoff, well past that.

Unthrottled. With ``THESET_SIM_RATE_WINDOWS=off`` in its environment, a process builds simulators
without the admission window: every request is admitted whatever the rate, so no window 429. The
rest is unchanged: the observation window and ``peak_rate_per_s``, Retry-After windows, daily
quotas, faults and statistics. It is for tests that do not measure rates (the daemon's clients then
pace at their own ``max_rate_per_s`` alone); a simulator standing in for a provider keeps it unset.

Daily quotas (Ticketmaster, setlist.fm) count every request that passed authentication, per UTC
day, errors included (Ticketmaster counts 400s against the quota). A request refused for the quota
is not counted (``quota_used_today`` in ``/_sim/stats`` stops at the quota), nor is one answered
before the quota is consulted (a window 429, a queued fault, a refused key). Their sizes come from
``[upstream.simulator]`` (``SimLimits.from_settings``) unless a caller passes its own limits.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Literal

from theset_daemon.config import SimulatorSettings

Provider = Literal["spotify", "ticketmaster", "setlistfm"]
PROVIDERS: tuple[Provider, ...] = ("spotify", "ticketmaster", "setlistfm")
SpotifyMode = Literal["extended", "development"]

WINDOW_S = 1.0
ARRIVAL_JITTER_S = 0.02
#: How long after a Retry-After answer left a request may still arrive that was sent before the
#: client could read it (the same allowance as the admission window's, for the same reason).
RETRY_AFTER_IN_FLIGHT_S = ARRIVAL_JITTER_S
#: ``off``: the simulators built from then on admit every request (see "Unthrottled" above).
RATE_WINDOWS_ENV = "THESET_SIM_RATE_WINDOWS"


def rate_windows_enforced() -> bool:
    """False when ``THESET_SIM_RATE_WINDOWS=off``: no admission window, any rate is served."""
    return os.environ.get(RATE_WINDOWS_ENV, "on") != "off"


@dataclass(frozen=True)
class SimLimits:
    """The limits the simulator enforces, per provider."""

    spotify_per_s: float = 20  # sliding 1-second window, per provider
    ticketmaster_per_s: float = 5
    setlistfm_per_s: float = 2
    ticketmaster_daily_quota: int = 5000
    setlistfm_daily_quota: int = 1440
    token_ttl_s: int = 3600  # expires_in of issued Spotify tokens
    spotify_mode: SpotifyMode = "extended"

    @classmethod
    def from_settings(
        cls, settings: SimulatorSettings, *, spotify_mode: SpotifyMode = "extended"
    ) -> SimLimits:
        """The providers' documented rates with ``[upstream.simulator]``'s daily quotas."""
        return cls(
            ticketmaster_daily_quota=settings.ticketmaster_daily_quota,
            setlistfm_daily_quota=settings.setlistfm_daily_quota,
            spotify_mode=spotify_mode,
        )

    def per_second(self, provider: Provider) -> float:
        return {
            "spotify": self.spotify_per_s,
            "ticketmaster": self.ticketmaster_per_s,
            "setlistfm": self.setlistfm_per_s,
        }[provider]

    def daily_quota(self, provider: Provider) -> int | None:
        return {
            "spotify": None,  # Spotify publishes no daily quota for extended-mode apps
            "ticketmaster": self.ticketmaster_daily_quota,
            "setlistfm": self.setlistfm_daily_quota,
        }[provider]


class SlidingWindow:
    """Arrival times (monotonic seconds) within the last window span."""

    def __init__(self, span_s: float = WINDOW_S - ARRIVAL_JITTER_S) -> None:
        self.span_s = span_s
        self._times: deque[float] = deque()

    def count(self, now: float) -> int:
        while self._times and self._times[0] <= now - self.span_s:
            self._times.popleft()
        return len(self._times)

    def add(self, now: float) -> None:
        self._times.append(now)

    def free_in_s(self, now: float) -> float:
        """Seconds until the oldest arrival leaves the window."""
        return max(0.0, self._times[0] + self.span_s - now) if self._times else 0.0

    def clear(self) -> None:
        self._times.clear()


class RateWindow:
    """Admission: at most ``limit`` requests in any window; rejected ones are not counted."""

    def __init__(self, limit_per_s: float) -> None:
        self.limit_per_s = limit_per_s
        self._window = SlidingWindow()

    def admit(self, now: float) -> bool:
        if self._window.count(now) + 1 > self.limit_per_s:
            return False
        self._window.add(now)
        return True

    def retry_after_s(self, now: float) -> int:
        """Whole seconds a rejected client should wait (at least 1, as providers send)."""
        return max(1, math.ceil(self._window.free_in_s(now)))


@dataclass
class ProviderStats:
    requests: int = 0
    rate_limited: int = 0  # every 429 served: window, quota, or injected
    peak_rate_per_s: int = 0
    by_endpoint: Counter[str] = field(default_factory=Counter)
    retry_after_windows: int = 0  # answers that carried Retry-After (> 0 s)
    inside_retry_after: int = 0  # requests that arrived inside a window announced earlier
    _window: SlidingWindow = field(default_factory=lambda: SlidingWindow(WINDOW_S))
    # (announced at, ends at) of the windows not yet over, in monotonic seconds.
    _retry_after: list[tuple[float, float]] = field(default_factory=list)

    def record(self, endpoint: str, now: float) -> None:
        self.requests += 1
        self.by_endpoint[endpoint] += 1
        self._window.add(now)
        self.peak_rate_per_s = max(self.peak_rate_per_s, self._window.count(now))
        if self._in_retry_after(now):
            self.inside_retry_after += 1

    def announce_retry_after(self, now: float, seconds: float) -> None:
        """An answer leaving at ``now`` told the client to wait ``seconds``."""
        if seconds <= 0:
            return
        self.retry_after_windows += 1
        self._retry_after.append((now, now + seconds))

    def _in_retry_after(self, now: float) -> bool:
        # Windows differ in length, so any may be over: keep the ones still open.
        self._retry_after[:] = [w for w in self._retry_after if w[1] > now]
        return any(start + RETRY_AFTER_IN_FLIGHT_S <= now < end for start, end in self._retry_after)

    def reset(self) -> None:
        self.requests = self.rate_limited = self.peak_rate_per_s = 0
        self.retry_after_windows = self.inside_retry_after = 0
        self.by_endpoint.clear()
        self._window.clear()
        self._retry_after.clear()

    def as_json(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "rate_limited": self.rate_limited,
            "peak_rate_per_s": self.peak_rate_per_s,
            "by_endpoint": dict(sorted(self.by_endpoint.items())),
            "retry_after_windows": self.retry_after_windows,
            "inside_retry_after": self.inside_retry_after,
        }


class DailyQuota:
    """Calls per UTC day, as Ticketmaster's ``Rate-Limit*`` headers describe them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.over = 0
        self._day: dt.date | None = None

    def _roll(self, now: dt.datetime) -> None:
        if now.date() != self._day:
            self._day, self.used, self.over = now.date(), 0, 0

    def take(self, now: dt.datetime) -> bool:
        self._roll(now)
        if self.used >= self.limit:
            self.over += 1
            return False
        self.used += 1
        return True

    def used_today(self, now: dt.datetime) -> int:
        """Calls counted today (0 once the UTC day has turned, before the next call)."""
        self._roll(now)
        return self.used

    def reset(self) -> None:
        """Today starts over: nothing used, nothing refused."""
        self.used = self.over = 0

    @property
    def available(self) -> int:
        return max(0, self.limit - self.used)

    @staticmethod
    def reset_epoch_ms(now: dt.datetime) -> int:
        """The next UTC midnight, in epoch milliseconds (Ticketmaster's ``Rate-Limit-Reset``)."""
        midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), dt.UTC)
        return int(midnight.timestamp() * 1000)


@dataclass(frozen=True)
class Fault:
    """What to do to a request instead of (or on top of) answering it normally."""

    status: int | None = None  # 429, 500 or 503; None: answer normally
    retry_after_s: int | None = None
    latency_ms: float = 0
    malformed: bool = False  # 200 with a cut-off JSON body
    truncated: bool = False  # a Content-Length longer than the body sent, then close

    def as_json(self) -> dict[str, object]:
        return {
            "status": self.status,
            "retryAfter": self.retry_after_s,
            "latencyMs": self.latency_ms,
            "malformed": self.malformed,
            "truncated": self.truncated,
        }


@dataclass
class _Pending:
    fault: Fault
    remaining: int


class FaultBook:
    """Faults queued per provider, applied to that provider's next requests in order."""

    def __init__(self) -> None:
        self._queues: dict[Provider, deque[_Pending]] = {p: deque() for p in PROVIDERS}

    def add(self, provider: Provider, fault: Fault, count: int) -> None:
        self._queues[provider].append(_Pending(fault, count))

    def take(self, provider: Provider) -> Fault | None:
        queue = self._queues[provider]
        if not queue:
            return None
        pending = queue[0]
        pending.remaining -= 1
        if pending.remaining <= 0:
            queue.popleft()
        return pending.fault

    def clear(self, provider: Provider | None = None) -> None:
        for name in (provider,) if provider else PROVIDERS:
            self._queues[name].clear()

    def as_json(self) -> dict[str, list[dict[str, object]]]:
        return {
            name: [{**p.fault.as_json(), "remaining": p.remaining} for p in queue]
            for name, queue in self._queues.items()
        }
