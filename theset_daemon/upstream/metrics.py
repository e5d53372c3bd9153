"""Prometheus metrics of the upstream stack, on the daemon's own registry (one per app, so tests
and two apps in one process never collide on the global registry)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class UpstreamMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "theset_upstream_requests",
            "Requests sent upstream, by provider, endpoint template and HTTP status "
            "(or 'timeout', 'connection_error').",
            ["provider", "endpoint", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "theset_upstream_request_duration_seconds",
            "Time from send to the whole body read.",
            ["provider", "endpoint"],
            registry=registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.rate_limited = Counter(
            "theset_upstream_rate_limited",
            "429 answers received, by provider.",
            ["provider"],
            registry=registry,
        )
        self.breaker_state = Gauge(
            "theset_upstream_breaker_state",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
            ["provider"],
            registry=registry,
        )
        self.quota_remaining = Gauge(
            "theset_upstream_quota_remaining",
            "Calls left today in the provider's daily quota, for every daemon on the key "
            "(-1: no daily quota).",
            ["provider"],
            registry=registry,
        )
        self.quota_used_today = Gauge(
            "theset_upstream_quota_used_today",
            "Calls counted today against the provider's key by every daemon, by class "
            "(interactive: imports; background: jobs).",
            ["provider", "class"],
            registry=registry,
        )
        self.limiter_shared = Gauge(
            "theset_upstream_limiter_shared",
            "1 while the provider's rate is shared through Redis, 0 while each daemon keeps "
            "to an equal split of it.",
            ["provider"],
            registry=registry,
        )
        self.live_daemons = Gauge(
            "theset_daemons_live",
            "Daemons on this database that beat within the last 15 s (this one included).",
            registry=registry,
        )
