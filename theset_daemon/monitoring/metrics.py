"""The daemon's own Prometheus metrics, beside those the upstream stack and the cache register on
the same per-app registry (requests by provider and status, breaker state, quota left, cache hit
ratio).

Job runs are counted from the runner's monitor hook. Gauges of live state (SSE streams open,
event-loop lag, database pool use, imports and jobs running) are read at scrape time by a custom
collector, so they are never stale and cost nothing between scrapes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from theset_daemon.db.pool import Database

# Job runs take from a second (calculate-trending) to an hour (a weekly catalog sync).
RUN_BUCKETS_S = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)


class JobRunMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.runs = Counter(
            "theset_job_runs",
            "Cron runs that ended, by job and status (succeeded, partial, failed).",
            ["job", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "theset_job_run_duration_seconds",
            "Duration of cron runs that ended, by job.",
            ["job"],
            buckets=RUN_BUCKETS_S,
            registry=registry,
        )

    async def record(self, run: dict[str, Any]) -> None:
        """The runner's monitor hook: count an ended run (interrupted ones end later)."""
        if run.get("status") not in ("succeeded", "partial", "failed"):
            return
        self.runs.labels(run["job"], run["status"]).inc()
        if run.get("durationMs") is not None:
            self.duration.labels(run["job"]).observe(run["durationMs"] / 1000)


class LiveStateCollector(Collector):
    """Gauges read at scrape time from the live objects."""

    def __init__(
        self,
        database: Database,
        sse_streams_open: Callable[[], int],
        loop_lag_s: Callable[[], float],
        imports_running: Callable[[], int],
        jobs_running: Callable[[], int],
    ) -> None:
        self._database = database
        self._sse = sse_streams_open
        self._lag = loop_lag_s
        self._imports = imports_running
        self._jobs = jobs_running

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "theset_sse_streams_open", "SSE progress streams open now.", value=self._sse()
        )
        yield GaugeMetricFamily(
            "theset_event_loop_lag_seconds",
            "How late the event loop ran the latest 0.5 s timer.",
            value=self._lag(),
        )
        pool = self._database.pool
        connections = GaugeMetricFamily(
            "theset_db_pool_connections",
            "Database pool connections: in use, idle, and the configured maximum.",
            labels=["state"],
        )
        size, idle = pool.get_size(), pool.get_idle_size()
        connections.add_metric(["in_use"], size - idle)
        connections.add_metric(["idle"], idle)
        connections.add_metric(["max"], pool.get_max_size())
        yield connections
        yield GaugeMetricFamily(
            "theset_imports_running", "Artist imports running here.", value=self._imports()
        )
        yield GaugeMetricFamily(
            "theset_jobs_running", "Cron jobs running here.", value=self._jobs()
        )
        # Asyncio tasks alive in the daemon's loop: a soak (bench/soak.py) judges that this does
        # not grow, which is how a leaked background task shows. Scrapes run in the loop; a
        # collect() from elsewhere (no running loop) has no tasks to count and skips the gauge.
        try:
            tasks = len(asyncio.all_tasks())
        except RuntimeError:
            return
        yield GaugeMetricFamily(
            "theset_asyncio_tasks", "Asyncio tasks alive in the daemon's event loop.", value=tasks
        )
