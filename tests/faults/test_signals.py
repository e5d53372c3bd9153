"""Signals to the daemon process under steady HTTP load: a hundred SIGHUPs, then a SIGTERM.

The load is four client threads sending reads (an artist page, the trending list), health and
readiness checks and import-status polls, one connection a request, while an artist import and a
``complete-catalog-sync`` run are in flight. The simulator is its own process and Postgres is
external, so only the daemon is signalled.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.faults.process_support import (
    EventStream,
    Load,
    import_artist,
    import_state,
    jobs_config,
    problems,
    restart,
    run_sql,
    stop_timed,
    wait_for_import,
    wait_until,
)
from tests.faults.storm_support import (
    ADMIN_KEY,
    CRON_SECRET,
    Json,
    Simulator,
    ended,
    get_run,
    live_upstreams,
    request,
    seed_artists,
    trigger,
    wait_for_run,
)
from tests.plugins.daemon import Daemon, DaemonFactory, daemon_base
from theset_daemon.db.maintenance import INTEGRITY_CHECKS

SIM_ARTISTS = 12
SEEDED = 3
RELOADS = 100
BURST = 20
RELOAD_TIMEOUT_S = 10.0
GRACE_S = 6
RUN_TIMEOUT_S = 90.0
IMPORT_TIMEOUT_S = 90.0

# Two configs the reloads alternate between. Each changes a cache TTL (read at every store), a
# job knob a running job re-reads (batch_size) and a schedule (the scheduler reschedules).
VARIANTS: list[dict[str, Any]] = [
    {"ttl_s": 3600, "batch_size": 1, "schedule": "0 3 * * 0"},
    {"ttl_s": 1800, "batch_size": 2, "schedule": "0 4 * * 0"},
]
CHANGED_KEYS = {
    "cache.ttl_s.artist",
    "jobs.complete-catalog-sync.batch_size",
    "jobs.complete-catalog-sync.schedule",
}


def variant_config(sim: Simulator, variant: dict[str, Any], *, spotify_rate_per_s: int = 10) -> str:
    upstreams = live_upstreams(sim.base_url).replace(
        "max_rate_per_s = 10", f"max_rate_per_s = {spotify_rate_per_s}"
    )
    catalog_sync = {"batch_size": variant["batch_size"], "delay_s": 0.5,
                    "schedule": variant["schedule"]}  # fmt: skip
    return (
        daemon_base(grace_seconds=GRACE_S)
        + upstreams
        + f"\n[cache.ttl_s]\nartist = {variant['ttl_s']}\n"
        + jobs_config(complete_catalog_sync=catalog_sync)
    )


def rewrite(daemon: Daemon, text: str) -> None:
    """The daemon's config file, replaced at once: a reader (the daemon, on SIGHUP) sees the old
    file or the new one, never half of one."""
    scratch = daemon.config_path.with_suffix(".tmp")
    scratch.write_text(text.replace("{port}", str(daemon.port)))
    os.replace(scratch, daemon.config_path)


def seed_and_pick(database_url: str, sim: Simulator) -> Json:
    """Seeds ``SEEDED`` artists (slugs ``seeded-<n>``) for the reads and the run, and returns
    another, the one with the biggest catalog, to import (its import lasts the longest, and it
    stays apart from the artists the run syncs)."""
    catalog = sim.catalog(SIM_ARTISTS)
    artist: Json = max(catalog, key=lambda a: a["counts"]["albums"])
    seed_artists(database_url, [a for a in catalog if a is not artist][:SEEDED])
    return artist


def load_paths(job_id: str) -> list[str]:
    return [
        "/healthz",
        "/api/artists/seeded-0",
        "/readyz",
        "/api/trending/artists?period=week&limit=10",
        f"/api/artists/import/{job_id}",
        "/api/artists/seeded-1",
    ]


def test_a_hundred_sighups_under_load(
    start_daemon: DaemonFactory, database_url: str, sim: Simulator
) -> None:
    """Breaks: the config file changes under the daemon and a SIGHUP follows, a hundred times,
    while reads, health checks, an import and a catalog-sync run keep it busy; then twenty
    SIGHUPs at once. Holds: no request fails (no 5xx, no refused or reset connection); every
    reload is applied (one ``config_reloaded`` a signal, naming the changed keys; none fails or
    asks for a restart), the burst leaves the last file in force, the scheduler follows the last
    schedule; the same process serves throughout, and the import and the run complete."""
    env = {"DATABASE_URL": database_url, "CRON_SECRET": CRON_SECRET, "ADMIN_API_KEY": ADMIN_KEY}
    daemon = start_daemon(variant_config(sim, VARIANTS[0]), env=env)
    daemon.wait_ready()
    status, started = import_artist(daemon, seed_and_pick(database_url, sim)["spotifyId"])
    assert status == 202, (status, started)
    run_id = trigger(daemon, "complete-catalog-sync", {"maxArtists": SEEDED})

    with Load(daemon.base_url, load_paths(started["jobId"])) as load:
        wait_until("load flowing", lambda: len(load.outcomes) >= 20, 10)
        for n in range(1, RELOADS + 1):
            rewrite(daemon, variant_config(sim, VARIANTS[n % 2]))
            daemon.signal(signal.SIGHUP)
            reloaded = daemon.wait_for_log("config_reloaded", RELOAD_TIMEOUT_S, count=n)
            assert set(reloaded["changed"]) == CHANGED_KEYS, (n, reloaded)
        last = VARIANTS[RELOADS % 2]
        # Twenty at once: signals coalesce, reloads queue; the file read last is what holds.
        final = VARIANTS[(RELOADS + 1) % 2]
        rewrite(daemon, variant_config(sim, final))
        for _ in range(BURST):
            daemon.signal(signal.SIGHUP)
        daemon.wait_for_log("config_reloaded", RELOAD_TIMEOUT_S, count=RELOADS + 1)
        assert final != last
        # The scheduler applies a reload within it (the holder pushes it), so once the last
        # config_reloaded line is out, the last schedule is in force and logged.
        wait_until(
            "the last schedule in force",
            lambda: (
                health_schedule(daemon, "complete-catalog-sync") == final["schedule"]
                and daemon.events("job_rescheduled")[-1]["schedule"] == final["schedule"]
            ),
            RELOAD_TIMEOUT_S,
        )
        time.sleep(0.5)  # the load goes on past the last reload
    assert load.failures() == [], load.summary()
    assert len(load.outcomes) > 200, load.summary()

    reloads = daemon.events("config_reloaded")
    assert RELOADS + 1 <= len(reloads) <= RELOADS + BURST, len(reloads)
    assert all(set(e["changed"]) in (CHANGED_KEYS, set()) for e in reloads[RELOADS:])
    assert daemon.events("config_reload_failed") == []
    assert daemon.events("restart_required") == []
    rescheduled = daemon.events("job_rescheduled")
    assert rescheduled and rescheduled[-1]["schedule"] == final["schedule"], rescheduled[-3:]
    assert daemon.proc.poll() is None
    assert [e["pid"] for e in daemon.events("daemon_started")] == [daemon.proc.pid]

    assert wait_for_import(daemon, started["jobId"], IMPORT_TIMEOUT_S)["status"] == "completed"
    run = wait_for_run(daemon, run_id, ended, RUN_TIMEOUT_S)
    assert run["status"] in ("succeeded", "partial"), run


def running_run(daemon: Daemon) -> str | None:
    status, answer = request(
        f"{daemon.base_url}/api/cron/runs?job=complete-catalog-sync", token=CRON_SECRET
    )
    assert status == 200, (status, answer)
    return next((r["runId"] for r in answer["runs"] if r["status"] == "running"), None)


def in_background(call: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """``call()`` in a thread; its result (or the exception it raised) lands in the list."""
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(call())
        except Exception as exc:
            result.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def health_schedule(daemon: Daemon, job: str) -> str | None:
    status, health = request(
        f"{daemon.base_url}/api/monitoring/cron-health?jobName={job}", token=ADMIN_KEY
    )
    assert status == 200, (status, health)
    schedule: str | None = health["jobs"][0]["schedule"]
    return schedule


# --- SIGTERM -------------------------------------------------------------------------------------

# Where the run is when the signal comes: in a pause between batches (one artist a batch, a long
# pause), or inside an item (each Ticketmaster answer takes seconds: the show-sync item in flight
# is still waiting when the drain runs out, and is cancelled).
BETWEEN_BATCHES = {"batch_size": 1, "delay_s": 30}
INSIDE_AN_ITEM = {"batch_size": 1, "delay_s": 0}
SLOW_TICKETMASTER_MS = 4000
# Spotify at 2 requests a second: the biggest catalog takes tens of seconds to import.
SLOW_SPOTIFY_PER_S = 2
# Requests sent this long before the signal can still be in the listen backlog when the
# listener closes; the kernel resets those (no handler ever saw them). Anything sent earlier was
# accepted and must be answered.
BACKLOG_S = 0.05


@pytest.mark.parametrize("where", ["between_batches", "inside_an_item"])
def test_sigterm_under_load_interrupts_in_flight_work_and_the_restart_resumes_it(
    where: str, start_daemon: DaemonFactory, database_url: str, sim: Simulator
) -> None:
    """Breaks: SIGTERM under load, while an import is in its phases 2-3 and a catalog-sync run
    is between two batches, or inside an item whose upstream answers slowly (the run's drain and
    the import's both run out). Holds: no request gets a 5xx and every request accepted before
    the signal is answered, the run's ``?wait=true`` trigger with 202 ``interrupted``; the
    streams open (the import's progress, the run's events, the status page's) are closed
    cleanly; the process exits 0 within ``shutdown.grace_seconds``; the import and the run are
    both marked ``interrupted`` with their checkpoints; after a restart both resume
    (``import_resumed``, ``job_resumed``) and complete, without redoing what was done: the
    import with exactly the simulator's deduplicated catalog, the run succeeded or partial on
    its second attempt, the artists it synced before the signal not synced again; the progress
    stream, reconnected with ``Last-Event-ID``, carries on to ``complete`` with every event
    once."""
    env = {"DATABASE_URL": database_url, "CRON_SECRET": CRON_SECRET, "ADMIN_API_KEY": ADMIN_KEY}
    run_knobs = BETWEEN_BATCHES if where == "between_batches" else INSIDE_AN_ITEM
    config = (
        daemon_base(grace_seconds=GRACE_S)
        + live_upstreams(sim.base_url).replace(
            "max_rate_per_s = 10", f"max_rate_per_s = {SLOW_SPOTIFY_PER_S}"
        )
        + jobs_config(complete_catalog_sync=run_knobs)
    )
    daemon = start_daemon(config, env=env)
    daemon.wait_ready()
    artist = seed_and_pick(database_url, sim)
    if where == "inside_an_item":
        sim.fault("ticketmaster", latencyMs=SLOW_TICKETMASTER_MS, count=1000)
    # The run's trigger waits for its end (``?wait=true``): a request in flight through the stop.
    waiter, waited = in_background(
        lambda: request(f"{daemon.base_url}/api/cron/complete-catalog-sync?wait=true",
                        method="POST", body={"maxArtists": SEEDED}, token=CRON_SECRET,
                        timeout_s=GRACE_S + 30)
    )  # fmt: skip
    run_id = wait_until("the run started", lambda: running_run(daemon), 10)
    # Every kind of stream open through the stop: the run's events and the status page's.
    other_streams = [
        EventStream(f"{daemon.base_url}/api/cron/runs/{run_id}/events", token=CRON_SECRET),
        EventStream(f"{daemon.base_url}/status/events", token=ADMIN_KEY),
    ]
    # Between batches: once an artist is synced (the pause follows); inside an item: once the
    # artist phase is over (show-sync's first artist waits on Ticketmaster). The run gets there
    # before the import starts: an import's requests go first (people before background work),
    # so a run behind a running import would not move until the import had finished.
    done = 1 if where == "between_batches" else SEEDED
    wait_for_run(daemon, run_id, lambda r: r["progress"]["done"] >= done, RUN_TIMEOUT_S)
    status, started = import_artist(daemon, artist["spotifyId"])
    assert status == 202, (status, started)
    job_id = started["jobId"]
    progress_url = f"{daemon.base_url}/api/artists/import/progress/{job_id}"
    stream = EventStream(progress_url)

    with Load(daemon.base_url, load_paths(job_id)) as load:
        in_phases = ("shows", "songs")
        wait_until(
            "import in phases 2-3", lambda: import_state(daemon, job_id)["stage"] in in_phases, 30
        )
        signalled_s = time.monotonic()
        code, elapsed_s = stop_timed(daemon, GRACE_S + 30)
    assert code == 0, (code, "".join(daemon.raw_lines[-20:]))
    assert elapsed_s <= GRACE_S, elapsed_s
    assert [o for o in load.outcomes if o.status is not None and o.status >= 500] == []
    assert load.failures(answered_before_s=signalled_s - BACKLOG_S) == [], load.summary()
    # The waiting trigger was answered before the exit: 202, the run interrupted.
    waiter.join(5)
    assert waited and waited[0][0] == 202, waited
    assert (waited[0][1]["runId"], waited[0][1]["status"]) == (run_id, "interrupted"), waited
    # The progress stream was closed by the server, cleanly, with no terminal event.
    assert stream.wait_ended(5) == "closed", stream.ended
    assert stream.events and all(name == "progress" for _, name in stream.events), stream.events
    assert [s.wait_ended(5) for s in other_streams] == ["closed", "closed"]

    def synced(conn: Any) -> Any:
        return conn.fetch(
            """SELECT id, last_synced_at FROM artists
               WHERE last_synced_at IS NOT NULL AND slug LIKE 'seeded-%'"""
        )

    synced_before = {r["id"]: r["last_synced_at"] for r in run_sql(database_url, synced)}
    assert synced_before, "the run synced nothing before the signal"

    def stored(conn: Any) -> Any:
        return conn.fetchrow(
            """SELECT (SELECT status FROM import_status WHERE job_id = $1::uuid) AS import,
                      (SELECT status FROM cron_logs WHERE id = $2::uuid) AS run,
                      (SELECT finished_at FROM cron_logs WHERE id = $2::uuid) AS run_finished,
                      (SELECT checkpoint FROM cron_logs WHERE id = $2::uuid) AS run_checkpoint""",
            job_id,
            run_id,
        )

    row = run_sql(database_url, stored)
    assert (row["import"], row["run"], row["run_finished"]) == ("interrupted", "interrupted", None)
    assert row["run_checkpoint"] not in (None, "{}"), row
    assert [e["job_id"] for e in daemon.events("import_interrupted")] == [job_id]
    assert [e["run_id"] for e in daemon.events("job_interrupted")] == [run_id]

    # The next start, at full speed: both resume from their checkpoints and complete.
    rewrite(daemon, daemon_base() + live_upstreams(sim.base_url) + jobs_config())
    sim.clear_faults()
    again = restart(start_daemon, daemon, env)
    assert again.wait_for_log("import_resumed", 10)["job_id"] == job_id
    assert again.wait_for_log("job_resumed", 10)["run_id"] == run_id
    final = wait_for_import(again, job_id, IMPORT_TIMEOUT_S)
    assert final["status"] == "completed", final
    counts = artist["counts"]
    assert final["counts"]["songs"] == counts["tracks"] - counts["duplicate_tracks"], final
    run = wait_for_run(again, run_id, ended, RUN_TIMEOUT_S)
    assert run["status"] in ("succeeded", "partial") and run["attempts"] == 2, run
    assert get_run(again, run_id)["trigger"] == "http"
    # Resumed, not started over: what the first attempt synced is not synced again.
    synced_after = {r["id"]: r["last_synced_at"] for r in run_sql(database_url, synced)}
    assert {k: synced_after[k] for k in synced_before} == synced_before
    checks = [c for c in INTEGRITY_CHECKS if not c[0].startswith("artist_")]
    assert problems(database_url, checks) == {}
    # The progress stream, resumed from the last id it saw, goes on to the end: every event once.
    last_id = stream.events[-1][0]
    resumed = EventStream(f"{again.base_url}/api/artists/import/progress/{job_id}", last_id)
    assert resumed.wait_ended(30) == "closed", resumed.ended
    ids = [event_id for event_id, _ in stream.events + resumed.events]
    assert ids == list(range(ids[0], ids[-1] + 1)), ids
    assert resumed.events[-1][1] == "complete", resumed.events
