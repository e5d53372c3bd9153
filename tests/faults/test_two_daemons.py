"""Two daemon processes on one database (one ``DATABASE_URL``), with the same schedule.

Scheduled fires. Both daemons run ``calculate-trending`` every two seconds. The contract's
schedules are minute-granular (5-field crontab), so fifty real fires would take fifty minutes;
the daemons here are started through ``tests.faults.seconds_cron``, which lets a schedule lead
with a seconds field and changes nothing else (see its docstring): each daemon's own APScheduler
fires on the wall clock, both at the same instants, and both go through the production fire path
(``JobScheduler.fire`` with the fire's ``scheduled_for``, the runner's lease, the
``UNIQUE (job_name, scheduled_for)`` key) against the same rows. Two seconds apart, because a
fire that finds the job still running is skipped by design (``already_running``); a run of
calculate-trending on a small catalog takes a fraction of that.

Takeover. When one of the two is killed (-9) in the middle of a run and an import, the survivor
takes both over from the dead holder at its next sweep, resumes them and completes them.

Manual triggers. A second trigger of a running job, on either daemon, is refused with 409
``already_running`` naming the running run; two triggers sent to the two daemons at the same
instant start one run between them.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.faults.process_support import (
    EXTRA_CHECKS,
    WrappedDaemon,
    cron_post,
    events_of,
    import_artist,
    import_state,
    jobs_config,
    kill9,
    problems,
    run_sql,
    wait_for_import,
    wait_until,
)
from tests.faults.storm_support import (
    CRON_SECRET,
    Json,
    Simulator,
    ended,
    live_upstreams,
    seed_artists,
    wait_for_run,
)
from tests.plugins.daemon import Daemon, DaemonFactory, daemon_base, free_port
from theset_daemon.db.maintenance import INTEGRITY_CHECKS
from theset_daemon.importer import service as importer
from theset_daemon.jobs import runner

FIRE_EVERY_S = 2
EVERY_TWO_SECONDS = f"*/{FIRE_EVERY_S} * * * * *"
# Fifty fires take 100 s: past the suite's default timeout (120 s) on a busy machine.
FIRES = [
    pytest.param(10, id="ci"),
    pytest.param(50, id="slow", marks=[pytest.mark.slow, pytest.mark.timeout(300)]),
]
SEEDED = 4

WrappedFactory = Callable[[str, dict[str, str]], WrappedDaemon]


@pytest.fixture
def start_seconds_daemon(tmp_path: Path, daemon_env: dict[str, str]) -> Iterator[WrappedFactory]:
    """Daemons started through ``tests.faults.seconds_cron``; all stopped afterwards."""
    started: list[WrappedDaemon] = []

    def start(config_text: str, env: dict[str, str]) -> WrappedDaemon:
        port = free_port()
        config_path = tmp_path / f"seconds-{len(started)}.toml"
        config_path.write_text(config_text.replace("{port}", str(port)))
        daemon = WrappedDaemon(
            config_path, {**daemon_env, **env}, port, "tests.faults.seconds_cron"
        )
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()


def attempts(daemon: Daemon) -> dict[str, str]:
    """This daemon's scheduled fires of calculate-trending: scheduled_for -> what it did."""
    seen: dict[str, str] = {}
    for event in daemon.events("job_started"):
        if event["job"] == "calculate-trending" and event["scheduled_for"]:
            seen[event["scheduled_for"]] = "ran"
    for event in daemon.events("job_fire_skipped"):
        if event["job"] == "calculate-trending":
            seen[event["scheduled_for"]] = event["reason"]
    return seen


@pytest.mark.parametrize("fires", FIRES)
def test_each_scheduled_fire_runs_exactly_once_across_two_daemons(
    fires: int, start_seconds_daemon: WrappedFactory, database_url: str, sim: Simulator
) -> None:
    """Breaks: two daemons on one database fire the same job at the same instants (``fires``
    fires, two seconds apart). Holds: every fire has exactly one run in ``cron_logs`` (one row
    per (job, scheduled_for), none duplicated, none missing, each succeeded); every fire was
    attempted by both daemons, one ran it and the other skipped it (``already_running`` or
    ``already_fired``), so the once-only guarantee was exercised at every fire, not avoided."""
    env = {"DATABASE_URL": database_url, "CRON_SECRET": CRON_SECRET}
    config = (
        daemon_base()
        + live_upstreams(sim.base_url)
        + jobs_config(calculate_trending={"enabled": True, "schedule": EVERY_TWO_SECONDS})
    )
    daemons = [start_seconds_daemon(config, env), start_seconds_daemon(config, env)]
    for daemon in daemons:
        daemon.wait_ready()
    seed_artists(database_url, sim.catalog(SEEDED))  # something to score

    # The window: from the first fire after both are up, ``fires`` fires.
    now = datetime.now(UTC)
    first = (now + timedelta(seconds=FIRE_EVERY_S)).replace(microsecond=0)
    first += timedelta(seconds=-first.second % FIRE_EVERY_S)
    expected = [first + timedelta(seconds=FIRE_EVERY_S * n) for n in range(fires)]
    wanted = {when.isoformat() for when in expected}

    def all_attempted() -> bool:
        return all(wanted <= set(attempts(d)) for d in daemons)

    wait_until("both daemons at every fire", all_attempted, FIRE_EVERY_S * fires + 30, 0.2)

    def window_ended() -> bool:  # the last fire's run may still be running
        running = run_sql(
            database_url,
            lambda conn: conn.fetchval(
                """SELECT count(*) FROM cron_logs WHERE job_name = 'calculate-trending'
                   AND status = 'running' AND scheduled_for <= $1""",
                expected[-1],
            ),
        )
        return running == 0

    wait_until("every run of the window ended", window_ended, 30, 0.1)
    rows = run_sql(
        database_url,
        lambda conn: conn.fetch(
            """SELECT scheduled_for, status, trigger, holder FROM cron_logs
               WHERE job_name = 'calculate-trending' AND scheduled_for BETWEEN $1 AND $2
               ORDER BY scheduled_for""",
            expected[0],
            expected[-1],
        ),
    )
    stored = Counter(row["scheduled_for"] for row in rows)
    assert sorted(stored) == expected, f"missing: {sorted(set(expected) - set(stored))}"
    assert [when for when, n in stored.items() if n > 1] == []
    assert {(row["status"], row["trigger"]) for row in rows} == {("succeeded", "schedule")}

    seen = [attempts(daemon) for daemon in daemons]
    for when in sorted(wanted):
        did = sorted(s[when] for s in seen)
        assert did[0] in ("already_fired", "already_running") and did[1] == "ran", (when, did)
    winners = Counter(row["holder"] for row in rows)
    reasons = Counter(r for s in seen for w, r in s.items() if w in wanted)
    print(f"{fires} fires, runs per daemon: {dict(winners)}, outcomes: {dict(reasons)}")
    assert not events_of(daemons, "job_fire_failed")
    assert all(daemon.proc.poll() is None for daemon in daemons)


# --- manual triggers -----------------------------------------------------------------------------

# One artist a batch, half a minute between batches: a run stays active for the whole test.
LONG_RUNS = {"batch_size": 1, "delay_s": 30}
LONG_JOBS = ("complete-catalog-sync", "update-active-artists", "trending-artist-sync")
LONG_BODIES: dict[str, Json] = {
    "complete-catalog-sync": {"maxArtists": SEEDED},
    "update-active-artists": {"limit": SEEDED, "forceSync": True},
    "trending-artist-sync": {"limit": SEEDED, "skipRecentlyUpdated": False},
}


def post_at_once(daemons: list[Daemon], job: str) -> list[tuple[int, Json]]:
    """The same trigger to every daemon, released at the same instant."""
    gate = threading.Barrier(len(daemons))
    answers: list[Any] = [None] * len(daemons)

    def post(n: int) -> None:
        gate.wait(5)
        answers[n] = cron_post(daemons[n], job, LONG_BODIES[job])

    threads = [threading.Thread(target=post, args=(n,)) for n in range(len(daemons))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    return answers


def test_a_running_job_refuses_triggers_on_either_daemon_with_409_and_its_run_id(
    start_daemon: DaemonFactory, database_url: str, sim: Simulator
) -> None:
    """Breaks: two daemons on one database get the same trigger at the same instant, then more
    triggers while the run is active. Holds: one run starts between them (one 202, one 409
    ``already_running`` carrying that run's ``runId``), and every later trigger, on either
    daemon, gets 409 with the same ``runId``; ``cron_logs`` holds one running run per job."""
    env = {"DATABASE_URL": database_url, "CRON_SECRET": CRON_SECRET}
    knobs = {job.replace("-", "_"): LONG_RUNS for job in LONG_JOBS}
    config = daemon_base() + live_upstreams(sim.base_url) + jobs_config(**knobs)
    daemons = [start_daemon(config, env=env), start_daemon(config, env=env)]
    for daemon in daemons:
        daemon.wait_ready()
    seed_artists(database_url, sim.catalog(SEEDED))

    for job in LONG_JOBS:
        answers = post_at_once(daemons, job)
        statuses = sorted(status for status, _ in answers)
        assert statuses == [202, 409], (job, answers)
        run_id = next(body["runId"] for status, body in answers if status == 202)
        refused = next(body for status, body in answers if status == 409)
        assert refused["error"]["code"] == "already_running" and refused["runId"] == run_id
        for daemon in daemons + daemons:  # each twice, while the run is active
            status, body = cron_post(daemon, job, LONG_BODIES[job])
            assert (status, body["error"]["code"], body["runId"]) == (
                409,
                "already_running",
                run_id,
            ), (job, body)

    running = run_sql(
        database_url,
        lambda conn: conn.fetch(
            "SELECT job_name, count(*) AS n FROM cron_logs WHERE status = 'running' GROUP BY 1"
        ),
    )
    assert {row["job_name"]: row["n"] for row in running} == dict.fromkeys(LONG_JOBS, 1)


# --- takeover ------------------------------------------------------------------------------------

# Spotify at 2 requests a second and one artist a batch a second apart: the import and the run
# are both mid-way when the kill comes.
SLOW_SPOTIFY = {"max_rate_per_s = 10": "max_rate_per_s = 2"}
PACED_RUN = {"batch_size": 1, "delay_s": 1}
# The survivor's sweeps: the runner's every SWEEP_INTERVAL_S (looked at every RENEW_INTERVAL_S),
# the importer's every SWEEP_INTERVAL_S (looked at every HEARTBEAT_INTERVAL_S); a margin for a
# busy machine.
RUN_TAKEOVER_S = runner.SWEEP_INTERVAL_S + runner.RENEW_INTERVAL_S + 10
IMPORT_TAKEOVER_S = importer.SWEEP_INTERVAL_S + importer.HEARTBEAT_INTERVAL_S + 10


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_survivor_takes_over_the_run_and_the_import_of_a_killed_daemon(
    start_daemon: DaemonFactory, database_url: str, sim: Simulator
) -> None:
    """Breaks: one of two daemons on one database is killed (-9) while it runs
    complete-catalog-sync and an import. Holds: the other takes both over at its next sweep (its
    holder's process is gone: no wait for the lease to expire), resumes them from their
    checkpoints and completes them: the run succeeded or partial on its second attempt, the
    import with exactly the simulator's deduplicated catalog; no duplicate row, nothing left
    running, no lease held."""
    env = {"DATABASE_URL": database_url, "CRON_SECRET": CRON_SECRET}
    upstreams = live_upstreams(sim.base_url)
    for old, new in SLOW_SPOTIFY.items():
        upstreams = upstreams.replace(old, new)
    config = daemon_base() + upstreams + jobs_config(complete_catalog_sync=PACED_RUN)
    doomed, survivor = start_daemon(config, env=env), start_daemon(config, env=env)
    doomed.wait_ready()
    survivor.wait_ready()
    catalog = sorted(sim.catalog(12), key=lambda a: -a["counts"]["albums"])
    artist = catalog[0]
    seed_artists(database_url, catalog[1 : SEEDED + 1])
    status, started = import_artist(doomed, artist["spotifyId"])
    assert status == 202, started
    status, body = cron_post(doomed, "complete-catalog-sync", {"maxArtists": SEEDED})
    assert status == 202, body
    run_id = body["runId"]
    wait_for_run(doomed, run_id, lambda r: r["progress"]["done"] >= 1, 60)
    job_id = started["jobId"]
    in_phases = ("shows", "songs")
    wait_until(
        "import in phases 2-3", lambda: import_state(doomed, job_id)["stage"] in in_phases, 30
    )
    kill9(doomed)

    assert survivor.wait_for_log("job_resumed", RUN_TAKEOVER_S)["run_id"] == run_id
    assert survivor.wait_for_log("import_resumed", IMPORT_TAKEOVER_S)["job_id"] == job_id
    run = wait_for_run(survivor, run_id, ended, 90)
    assert run["status"] in ("succeeded", "partial") and run["attempts"] == 2, run
    final = wait_for_import(survivor, job_id, 90)
    assert final["status"] == "completed", final
    counts = artist["counts"]
    assert final["counts"]["songs"] == counts["tracks"] - counts["duplicate_tracks"], final
    checks = [c for c in INTEGRITY_CHECKS if not c[0].startswith("artist_")]
    assert problems(database_url, checks + list(EXTRA_CHECKS)) == {}
