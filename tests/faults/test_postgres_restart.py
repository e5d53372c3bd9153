"""Postgres restarted under a running daemon: the daemon runs against a server the test owns
(``DATABASE_URL`` on a loopback port), and the test stops that server mid-run and starts it again
on the same port."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from tests.faults.pg_support import PostgresServer, postgres_server
from tests.faults.storm_support import (
    CRON_SECRET,
    Json,
    ended,
    exchange,
    get_run,
    query,
    request,
    seed_artists,
    trigger,
    wait_for_run,
)
from tests.plugins.daemon import Daemon, DaemonFactory, daemon_base, http_get
from tests.waiting import eventually
from theset_daemon import config
from theset_daemon.app import open_upstreams
from theset_daemon.cache import open_cache
from theset_daemon.config import SettingsHolder
from theset_daemon.db.pool import open_database
from theset_daemon.jobs.context import CalculateTrendingParams, JobContext, JobResult
from theset_daemon.jobs.registry import JobSpec
from theset_daemon.jobs.runner import (
    END_WRITE_RETRY_S,
    LEASE_TTL_S,
    SWEEP_INTERVAL_S,
    JobRunner,
)
from theset_daemon.jobs.summaries import CalculateTrendingSummary

ARTISTS = 6
CONFIG = """
[upstream.simulator]
artists = 12
latency_ms = 0
[jobs.update-active-artists]
batch_size = 1
delay_s = 1.0
"""
RUNNER_CONFIG = """
[log]
level = "warning"
[upstream.simulator]
artists = 5
latency_ms = 0
"""
# The run takes one artist a second. A brief outage ends while artists remain (they meet the
# database again); a long one outlasts them all, so the run's own end falls in it.
BRIEF_OUTAGE_S = 2.5
LONG_OUTAGE_S = ARTISTS * 1.0 + 2.0


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


# What a database going away looks like to a query: refused (down), cut (shutting down) or
# turned away (starting up).
OUTAGE_ERRORS = re.compile(
    r"Connect call failed|connection was closed|ConnectionDoesNotExist|terminating connection"
    r"|shutting down|starting up"
)


def names_the_outage(message: str | None) -> bool:
    return message is not None and OUTAGE_ERRORS.search(message) is not None


def readiness(daemon: Daemon) -> tuple[int, Json]:
    return http_get(daemon.base_url + "/readyz")


def wait_for_readiness(daemon: Daemon, status: int, timeout_s: float) -> Json:
    deadline = time.monotonic() + timeout_s
    seen: tuple[int, Json] = (0, {})
    while time.monotonic() < deadline:
        seen = readiness(daemon)
        if seen[0] == status:
            return seen[1]
        time.sleep(0.1)
    raise AssertionError(f"/readyz never answered {status} in {timeout_s} s: {seen}")


def mid_run(start_daemon: DaemonFactory, postgres: PostgresServer) -> tuple[Daemon, str, str]:
    """A ready daemon on a new database of ``postgres`` with ``ARTISTS`` artists seeded, and an
    update-active-artists run over them past its first artist: the daemon, the database's URL
    and the run's id."""
    database_url = postgres.create_database("theset")
    env = {"DATABASE_URL": database_url, "CRON_SECRET": CRON_SECRET}
    daemon = start_daemon(daemon_base() + CONFIG, env=env)
    daemon.wait_ready()
    sim_url = daemon.wait_for_log("simulator_started")["base_url"]
    _, catalog = request(f"{sim_url}/_sim/catalog?limit={ARTISTS}")
    seed_artists(database_url, catalog["artists"])
    assert readiness(daemon)[0] == 200

    run_id = trigger(daemon, "update-active-artists", {"limit": ARTISTS})
    wait_for_run(daemon, run_id, lambda r: r["progress"]["done"] >= 1, 30)
    return daemon, database_url, run_id


@pytest.mark.parametrize(
    ("outage_s", "expected"),
    [(BRIEF_OUTAGE_S, "partial"), (LONG_OUTAGE_S, "failed")],
    ids=["brief", "outlasting-the-run"],
)
def test_postgres_restart_mid_run(
    start_daemon: DaemonFactory, postgres: PostgresServer, outage_s: float, expected: str
) -> None:
    """Breaks: the daemon's Postgres stops (fast shutdown: every connection cut) while
    update-active-artists is between artists, stays down (briefly, or past the run's last
    artist, so the run ends while it is down), and comes back on the same port. Holds: the
    process stays up (``/healthz`` 200 throughout); ``/readyz`` is 503 naming the database while
    it is down and 200 once it is back, and a route that needs it answers 503
    ``database_unavailable`` with Retry-After meanwhile; the run ends rather than staying
    ``running``:
    ``partial`` when artists remained to meet the database again (those that met the outage
    listed with the connection error), ``failed`` with that error when the run could not even
    record its own progress; the next run of the job is accepted and succeeds; no run is left
    ``running``; the daemon still stops cleanly (exit 0)."""
    daemon, database_url, run_id = mid_run(start_daemon, postgres)
    postgres.stop("fast")
    down = wait_for_readiness(daemon, 503, 10)
    assert down["components"]["database"]["status"] == "down", down
    # A route that needs the database answers 503 with Retry-After (an outage), never 500.
    status, answer, headers = exchange(
        f"{daemon.base_url}/api/cron/runs/{run_id}", token=CRON_SECRET
    )
    assert (status, answer["error"]["code"]) == (503, "database_unavailable"), answer
    assert int(headers["Retry-After"]) > 0
    went_down = time.monotonic()
    while time.monotonic() - went_down < outage_s:
        assert http_get(daemon.base_url + "/healthz")[0] == 200
        assert daemon.proc.poll() is None
        time.sleep(0.2)
    postgres.start()
    up = wait_for_readiness(daemon, 200, 20)
    assert up["components"]["database"]["status"] == "up", up

    run = wait_for_run(daemon, run_id, ended, 60)
    assert run["status"] == expected, run
    assert run["errors"] and all(names_the_outage(e["message"]) for e in run["errors"]), run
    assert (run["error"] is None) if expected == "partial" else names_the_outage(run["error"]), run

    # The next run (the two most active artists, synced or not: short) is accepted and succeeds.
    again = wait_for_run(
        daemon, trigger(daemon, "update-active-artists", {"limit": 2, "forceSync": True}),
        ended, 60,
    )  # fmt: skip
    assert again["status"] == "succeeded" and again["errors"] == [], again
    assert again["summary"]["synced"] == 2, again["summary"]
    running = query(database_url, "SELECT id, job_name FROM cron_logs WHERE status = 'running'")
    assert running == [], running
    assert get_run(daemon, run_id)["status"] == run["status"]
    assert daemon.stop() == 0


async def test_a_run_whose_end_never_landed_is_swept_up_and_resumed(
    postgres: PostgresServer,
) -> None:
    """Breaks: the database stays away for longer than the runner retries a run's end write
    (here 0.5 s), so the row is left ``running`` under the runner's own name. Holds: once the
    database is back and the lease has expired, the runner's sweep takes the row as an orphan
    (it runs nothing of that job) and resumes it from its checkpoint, and it succeeds; a run is
    never ``running`` for ever, and the job is not blocked (a new trigger is accepted after)."""
    dsn = await asyncio.to_thread(postgres.create_database, "runner")
    holder = SettingsHolder(config.parse(RUNNER_CONFIG, {"DATABASE_URL": dsn}), Path("unused.toml"))
    gate = asyncio.Event()

    async def job(ctx: JobContext) -> JobResult:
        await gate.wait()
        return JobResult(summary=CalculateTrendingSummary(), items_total=1, items_failed=0)

    jobs = {"calculate-trending": JobSpec("calculate-trending", CalculateTrendingParams, job)}
    registry = CollectorRegistry()
    async with (
        open_database(holder.current.database) as database,
        open_cache(holder, registry) as cache,
        open_upstreams(holder, registry) as upstreams,
    ):
        runner = JobRunner(
            database, upstreams, cache, holder, jobs=jobs, lease_ttl_s=1,
            renew_interval_s=60, sweep_interval_s=60, end_write_retry_s=0.5,
        )  # fmt: skip
        await runner.start()
        try:
            run_id = await runner.trigger("calculate-trending")
            await asyncio.to_thread(postgres.stop, "fast")
            gate.set()
            await asyncio.wait_for(runner.wait(run_id), 10)  # it gave up writing its end
            await asyncio.to_thread(postgres.start)

            row = await database.pool.fetchrow(
                "SELECT status, holder, attempts FROM cron_logs WHERE id = $1", run_id
            )
            assert row is not None and dict(row) == {
                "status": "running", "holder": runner.holder_id, "attempts": 1,
            }  # fmt: skip
            await eventually(
                lambda: database.pool.fetchval(
                    "SELECT count(*) = 0 FROM job_leases WHERE expires_at > clock_timestamp()"
                ),
                what="the lease (1 s) expired",
            )
            assert await runner.resume_pending() == [run_id]
            resumed = await asyncio.wait_for(runner.wait(run_id), 10)
            assert resumed["status"] == "succeeded" and resumed["attempts"] == 2, resumed
            fresh = await asyncio.wait_for(runner.run("calculate-trending"), 10)
            assert fresh["status"] == "succeeded", fresh
        finally:
            await runner.close()


@pytest.mark.slow
def test_postgres_crashed_longer_than_the_end_write_retry(
    start_daemon: DaemonFactory, postgres: PostgresServer
) -> None:
    """Breaks: the daemon's Postgres crashes (immediate stop: no shutdown checkpoint, crash
    recovery at the next start) mid update-active-artists and stays down past the runner's
    end-write retry (60 s), so the run's end never lands while it is away. Holds: the daemon
    stays up and unready (503) throughout and ready again after; the run is not left ``running``
    for ever: once its lease has expired the sweep takes it over and resumes it (attempt 2), and
    it ends; the next run succeeds; nothing is left ``running``; the daemon stops cleanly."""
    daemon, database_url, run_id = mid_run(start_daemon, postgres)
    postgres.stop("immediate")
    wait_for_readiness(daemon, 503, 10)
    gave_up = daemon.wait_for_log("job_end_write_failed", timeout_s=END_WRITE_RETRY_S + 30)
    assert gave_up["run_id"] == run_id
    assert readiness(daemon)[0] == 503 and daemon.proc.poll() is None
    postgres.start()
    wait_for_readiness(daemon, 200, 30)

    # The lease (60 s from its last renewal) expires, then a sweep (every 30 s) resumes the run.
    resumed = daemon.wait_for_log("job_resumed", timeout_s=LEASE_TTL_S + SWEEP_INTERVAL_S + 30)
    assert resumed["run_id"] == run_id and resumed["attempt"] == 2, resumed
    run = wait_for_run(daemon, run_id, ended, 60)
    assert run["status"] in ("succeeded", "partial") and run["attempts"] == 2, run

    again = wait_for_run(
        daemon, trigger(daemon, "update-active-artists", {"limit": 2, "forceSync": True}),
        ended, 60,
    )  # fmt: skip
    assert again["status"] == "succeeded", again
    running = query(database_url, "SELECT id, job_name FROM cron_logs WHERE status = 'running'")
    assert running == [], running
    assert daemon.stop() == 0
