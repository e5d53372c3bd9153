"""kill -9 of the daemon at random points of an artist import and of ``complete-catalog-sync``.

What breaks: the daemon process dies by SIGKILL at a time drawn from a seeded RNG (the seed is
in every failure's report; ``THESET_FAULT_SEED=<seed>`` replays it). No shutdown code runs:
nothing is marked interrupted, no lease is released, no end is written, a transaction in flight
is rolled back by Postgres. The database (an external Postgres, ``DATABASE_URL``) and the
simulator (its own process, ``theset-daemon simulate``) live on, as they would in production.

What must hold after each restart on the same database:

* everything completes: the import reaches ``completed`` (resumed from its checkpoint, or, when
  the kill came before phase 1 committed, started again as a client would); the run is resumed
  (its holder's process is gone, so its lease is taken at once) and ends ``succeeded`` or
  ``partial``, each of its phases recorded once;
* no duplicate row: no external id twice in any table, one studio song per artist and
  normalised title (the dedup rule; live recordings are each their own song), one setlist per
  (show, artist, type), and the artist's song count exactly the simulator's
  ``tracks - duplicate_tracks``;
* nothing left ``running`` or ``interrupted`` (``import_status``, ``cron_logs``), no lease held,
  event logs numbered 1..n;
* no vote lost: votes planted on setlist songs before the sync, some on a planted duplicate song
  that the sync's cleanup merges away, are all there after it, with their tallies.

Each test runs a CI-sized number of trials unmarked and ten under ``-m slow``.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from typing import Any

import asyncpg
import pytest

from tests.faults.process_support import (
    EXTRA_CHECKS,
    count_rows,
    cron_post,
    fault_rng,
    import_artist,
    import_state,
    jobs_config,
    kill9,
    noted,
    problems,
    restart,
    run_sql,
    wait_for_event,
    wait_for_import,
)
from tests.faults.storm_support import (
    CRON_SECRET,
    Json,
    Simulator,
    ended,
    get_run,
    live_upstreams,
    wait_for_run,
)
from tests.jobs.catalog_support import plant_song, plant_vote
from tests.plugins.daemon import Daemon, DaemonFactory, daemon_base
from tests.waiting import wait_until
from theset_daemon.db.maintenance import INTEGRITY_CHECKS
from theset_daemon.jobs.complete_catalog_sync import PHASES

# Ten trials take 25-45 s here, more on a busy machine: past the suite's default timeout (120 s).
TRIALS = [
    pytest.param(2, id="ci"),
    pytest.param(10, id="slow", marks=[pytest.mark.slow, pytest.mark.timeout(400)]),
]
SIM_ARTISTS = 40
# An import takes about this long per release at the default Spotify rate (10/s) with the
# simulator answering at once (measured: 71 releases, 2.6 s); kills are drawn over that span
# plus a margin, so most land in phases 2-3, a few in phase 1 or after the end.
IMPORT_S_PER_ALBUM = 0.04
IMPORT_KILL_MARGIN_S = 0.3
# Phase 1 (in the request) takes tens of milliseconds: a quarter of the kills aim there.
PHASE1_KILL_SHARE = 0.25
PHASE1_KILL_SPAN_S = 0.1
IMPORT_TIMEOUT_S = 60.0
RUN_TIMEOUT_S = 90.0
CATALOG_ARTISTS = 4
VOTES_PER_TRIAL = 6
KILL_SPAN_FACTOR = 1.2
# Imports keep no artist totals (complete-catalog-sync's cleanup recounts them): those checks
# apply to the catalog-sync trials only.
IMPORT_CHECKS = [c for c in INTEGRITY_CHECKS if not c[0].startswith("artist_")]


def daemon_config(sim: Simulator, **jobs: dict[str, Any]) -> str:
    return daemon_base() + live_upstreams(sim.base_url) + jobs_config(**jobs)


# --- imports -------------------------------------------------------------------------------------


def post_in_background(daemon: Daemon, spotify_id: str) -> tuple[threading.Thread, list[Any]]:
    """POST the import from a thread, so the kill can land while phase 1 is in the request."""
    answer: list[Any] = []

    def post() -> None:
        try:
            answer.append(import_artist(daemon, spotify_id))
        except Exception as exc:  # the kill reset the connection: the client saw no answer
            answer.append(exc)

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    return thread, answer


def jobs_of_artist(database_url: str, spotify_id: str) -> list[asyncpg.Record]:
    return list(
        run_sql(
            database_url,
            lambda conn: conn.fetch(
                """SELECT s.job_id, s.status, s.attempts FROM import_status s
                   JOIN artists a ON a.id = s.artist_id
                   WHERE a.spotify_id = $1 ORDER BY s.started_at""",
                spotify_id,
            ),
        )
    )


def stored_songs(database_url: str, spotify_id: str) -> tuple[int, int]:
    row = run_sql(
        database_url,
        lambda conn: conn.fetchrow(
            """SELECT count(*) AS songs, count(*) FILTER (WHERE s.is_live) AS live
               FROM songs s JOIN artists a ON a.id = s.artist_id WHERE a.spotify_id = $1""",
            spotify_id,
        ),
    )
    return int(row["songs"]), int(row["live"])


@pytest.mark.parametrize("trials", TRIALS)
def test_kill_9_at_random_points_of_imports(
    trials: int, start_daemon: DaemonFactory, database_url: str, sim: Simulator
) -> None:
    """Breaks: the daemon, killed at a random instant of an artist import (in phase 1 inside
    the request, in phases 2-3, or just after the end). Holds: after a restart the import
    completes, the artist's songs are exactly the simulator's deduplicated catalog with its live
    tracks flagged, no row is duplicated, no job is left running or interrupted."""
    seed, rng = fault_rng()
    env = {"DATABASE_URL": database_url}
    # The biggest catalogs: their imports last long enough for the kill to land inside.
    artists = sorted(sim.catalog(SIM_ARTISTS), key=lambda a: -a["counts"]["albums"])[:trials]
    daemon = start_daemon(daemon_config(sim), env=env)
    daemon.wait_ready()
    for trial, artist in enumerate(artists):
        span_s = IMPORT_S_PER_ALBUM * artist["counts"]["albums"] + IMPORT_KILL_MARGIN_S
        if rng.random() < PHASE1_KILL_SHARE:
            span_s = PHASE1_KILL_SPAN_S
        kill_after_s = round(rng.uniform(0, span_s), 3)
        with noted(seed=seed, trial=trial, kill_after_s=kill_after_s, artist=artist["name"]):
            poster, answer = post_in_background(daemon, artist["spotifyId"])
            time.sleep(kill_after_s)
            kill9(daemon)
            poster.join(15)
            daemon = restart(start_daemon, daemon, env)

            jobs = jobs_of_artist(database_url, artist["spotifyId"])
            if not jobs:  # killed before phase 1 committed: the client tries again
                assert not (answer and isinstance(answer[0], tuple) and answer[0][0] == 202)
                status, body = import_artist(daemon, artist["spotifyId"])
                assert status == 202, (status, body)
                jobs = jobs_of_artist(database_url, artist["spotifyId"])
            assert len(jobs) == 1, jobs  # one import of the artist, never a second beside it
            job_id = str(jobs[0]["job_id"])
            if answer and isinstance(answer[0], tuple):
                assert answer[0][0] == 202 and answer[0][1]["jobId"] == job_id, answer
            final = wait_for_import(daemon, job_id, IMPORT_TIMEOUT_S)
            # Where the kill landed (shown with a failure): retried, resumed, or already done.
            seen = answer[0][0] if answer and isinstance(answer[0], tuple) else answer[:1]
            print(f"trial {trial}: killed after {kill_after_s} s, answer {seen}, "
                  f"attempts {jobs[0]['attempts']}, {final['status']}")  # fmt: skip
            assert final["status"] == "completed", final
            assert final["stage"] == "done" and final["progress"] == 100, final

            counts = artist["counts"]
            songs, live = stored_songs(database_url, artist["spotifyId"])
            assert songs == counts["tracks"] - counts["duplicate_tracks"], (songs, counts)
            assert live == counts["live_tracks"], (live, counts)
            assert final["counts"]["songs"] == songs, final
            assert final["counts"]["shows"] == counts["upcoming_shows"], (final, counts)
            assert problems(database_url, IMPORT_CHECKS + list(EXTRA_CHECKS)) == {}


def test_the_daily_counts_equal_the_requests_sent_across_a_kill_9(
    start_daemon: DaemonFactory, database_url: str, sim: Simulator
) -> None:
    """Breaks: the daemon, killed in the middle of an import's phases 2-3. Holds: after the
    restart and the import's end, the quota ledger's count for each provider equals the requests
    the provider received, give or take the two that may have been in flight at the kill
    (reserved, never sent; or sent, never answered)."""
    env = {"DATABASE_URL": database_url}
    artist = max(sim.catalog(SIM_ARTISTS), key=lambda a: a["counts"]["albums"])
    daemon = start_daemon(daemon_config(sim), env=env)
    daemon.wait_ready()
    sim.reset_stats()
    status, started = import_artist(daemon, artist["spotifyId"])
    assert status == 202, started
    in_phases = ("shows", "songs")
    wait_until(
        "phases 2-3", lambda: import_state(daemon, started["jobId"])["stage"] in in_phases, 10
    )
    time.sleep(0.5)  # inside phases 2-3
    kill9(daemon)
    daemon = restart(start_daemon, daemon, env)
    final = wait_for_import(daemon, started["jobId"], IMPORT_TIMEOUT_S)
    assert final["status"] == "completed", final

    def counted(conn: asyncpg.Connection) -> Any:
        return conn.fetch(
            """SELECT provider, interactive + background AS total FROM upstream_quota_days
               WHERE day = (now() AT TIME ZONE 'UTC')::date"""
        )

    ledger = {row["provider"]: row["total"] for row in run_sql(database_url, counted)}
    received = {p: int(s["requests"]) for p, s in sim.stats().items()}
    for provider in ("spotify", "ticketmaster"):
        assert abs(ledger.get(provider, 0) - received[provider]) <= 2, (provider, ledger, received)


# --- complete-catalog-sync -----------------------------------------------------------------------

# Two artists a batch with a short pause: a run over four artists lasts a few seconds, so the
# kills spread over its phases.
PACED_CATALOG_SYNC = {"batch_size": 2, "delay_s": 0.5}
CATALOG_BODY: Json = {"maxArtists": CATALOG_ARTISTS}


# Setlist entries in an order drawn from the fault seed (its RNG gives ``pick``), keyed by what
# the simulator makes the same in every run (show and track ids), so a seed replays its picks.
_ENTRIES = """setlist_songs ss JOIN songs s ON s.id = ss.song_id
              JOIN setlists l ON l.id = ss.setlist_id JOIN shows sh ON sh.id = l.show_id"""
_ENTRY_KEY = "sh.ticketmaster_id || s.spotify_id"


async def _plant_duplicate_with_votes(conn: asyncpg.Connection, votes: int, pick: str) -> int:
    """A second copy of a studio song that is on a predicted setlist (a compilation repeat, as
    an older import could have left it), itself on that setlist with ``votes`` votes of distinct
    users, and one more vote on the original's entry. The cleanup merges the copy into the
    original: its entry folds into the original's, its votes move there. Returns the votes
    planted."""
    original = await conn.fetchrow(
        f"""SELECT s.id, s.artist_id, s.name, s.normalized_title, ss.setlist_id, ss.id AS entry
            FROM {_ENTRIES} WHERE NOT s.is_live ORDER BY md5({_ENTRY_KEY} || $1) LIMIT 1""",
        pick,
    )
    assert original is not None, "no predicted setlist to vote on"
    copy = await plant_song(
        conn, original["artist_id"], original["name"], original["normalized_title"],
        album_type="compilation", album_name="Greatest Hits (fault test)",
        release_date=dt.date(2030, 1, 1),
    )  # fmt: skip
    entry = await conn.fetchval(
        """INSERT INTO setlist_songs (setlist_id, song_id, position)
           SELECT $1, $2, max(position) + 1 FROM setlist_songs WHERE setlist_id = $1
           RETURNING id""",
        original["setlist_id"],
        copy,
    )
    for _ in range(votes):
        await plant_vote(conn, uuid.uuid4(), entry)
    await plant_vote(conn, uuid.uuid4(), original["entry"], vote_type="down")
    return votes + 1


async def _plant_votes(conn: asyncpg.Connection, votes: int, pick: str) -> None:
    """Votes of distinct users on random setlist songs (a user has one vote per setlist song,
    so none of these may be collapsed by a merge)."""
    entries = await conn.fetch(
        f"""SELECT ss.id FROM {_ENTRIES} ORDER BY md5({_ENTRY_KEY} || $1) LIMIT $2""",
        pick,
        votes,
    )
    for n, entry in enumerate(entries):
        await plant_vote(conn, uuid.uuid4(), entry["id"], vote_type="up" if n % 3 else "down")


def runs_of(database_url: str) -> set[str]:
    rows = run_sql(
        database_url,
        lambda conn: conn.fetch(
            "SELECT id FROM cron_logs WHERE job_name = 'complete-catalog-sync'"
        ),
    )
    return {str(r["id"]) for r in rows}


def trigger_in_background(daemon: Daemon) -> tuple[threading.Thread, list[Any]]:
    answer: list[Any] = []

    def post() -> None:
        try:
            answer.append(cron_post(daemon, "complete-catalog-sync", CATALOG_BODY))
        except Exception as exc:
            answer.append(exc)

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    return thread, answer


def assert_run_complete(run: Json) -> None:
    assert run["status"] in ("succeeded", "partial"), run
    assert [p["name"] for p in run["summary"]["phases"]] == list(PHASES), run
    assert run["summary"]["integrity"]["ok"], run["summary"]["integrity"]


@pytest.mark.parametrize("trials", TRIALS)
def test_kill_9_at_random_points_of_complete_catalog_sync(
    trials: int, start_daemon: DaemonFactory, database_url: str, sim: Simulator
) -> None:
    """Breaks: the daemon, killed at a random instant of a ``complete-catalog-sync`` run (its
    artist-sync, show-sync, data-cleanup or integrity-checks phase, or just after its end).
    Holds: after a restart the run is taken over from its dead holder and resumed from its
    checkpoint, and ends succeeded or partial with each phase recorded once; nothing is left
    running; no row is duplicated; every vote planted before the run is still there (those on a
    duplicate song moved to the song it was merged into) with every counter matching its rows."""
    seed, rng = fault_rng()
    env = {"DATABASE_URL": database_url, "CRON_SECRET": CRON_SECRET}
    daemon = start_daemon(daemon_config(sim, complete_catalog_sync=PACED_CATALOG_SYNC), env=env)
    daemon.wait_ready()
    # The catalog: a few artists imported whole (shows, songs, predicted setlists to vote on),
    # the smallest catalogs with a few upcoming shows, imported at once.
    catalog = sorted(
        (a for a in sim.catalog(SIM_ARTISTS) if a["counts"]["upcoming_shows"] >= 3),
        key=lambda a: a["counts"]["albums"],
    )[:CATALOG_ARTISTS]
    started = [import_artist(daemon, artist["spotifyId"]) for artist in catalog]
    assert all(status == 202 for status, _ in started), started
    for _, body in started:
        assert wait_for_import(daemon, body["jobId"], IMPORT_TIMEOUT_S)["status"] == "completed"
    # Their MusicBrainz ids, as an earlier run would have stored them, so every run costs the
    # same and the first one measures them all.
    run_sql(
        database_url,
        lambda conn: conn.executemany(
            "UPDATE artists SET mbid = $2 WHERE spotify_id = $1",
            [(a["spotifyId"], a["mbid"]) for a in catalog],
        ),
    )
    pick = str(rng.random())
    run_sql(database_url, lambda conn: _plant_votes(conn, 4 * VOTES_PER_TRIAL, pick))

    # One run without a kill: its phases' lengths are the spans the kills are drawn over.
    status, body = cron_post(daemon, "complete-catalog-sync", CATALOG_BODY)
    assert status == 202, (status, body)
    baseline = wait_for_run(daemon, body["runId"], ended, RUN_TIMEOUT_S)
    assert_run_complete(baseline)
    phase_s = {p["name"]: p["durationMs"] / 1000 for p in baseline["summary"]["phases"]}

    # Each trial aims at one phase, in turn from a random first one, so the short maintenance
    # phases get their kills too: a kill time within that phase's length (a little past it, so
    # some land between two phases), counted from the end of the phase before.
    first = rng.randrange(len(PHASES))
    for trial in range(trials):
        phase = PHASES[(first + trial) % len(PHASES)]
        kill_after_s = round(rng.uniform(0, phase_s[phase] * KILL_SPAN_FACTOR), 3)
        pick = str(rng.random())
        planted = run_sql(
            database_url, lambda conn, pick=pick: _plant_duplicate_with_votes(conn, 2, pick)
        )
        votes_before = count_rows(database_url, "votes")
        assert planted and problems(database_url, EXTRA_CHECKS[:1]) == {"duplicate_studio_songs": 1}
        runs_before = runs_of(database_url)
        finished_before = len(daemon.events("catalog_sync_phase_finished"))
        with noted(seed=seed, trial=trial, phase=phase, kill_after_s=kill_after_s):
            poster, answer = trigger_in_background(daemon)
            if phase != PHASES[0]:
                previous = PHASES[PHASES.index(phase) - 1]
                wait_for_event(daemon, "catalog_sync_phase_finished", finished_before,
                               RUN_TIMEOUT_S, phase=previous)  # fmt: skip
            time.sleep(kill_after_s)
            kill9(daemon)
            poster.join(15)
            daemon = restart(start_daemon, daemon, env)

            new = runs_of(database_url) - runs_before
            if not new:  # killed before the run's row committed: trigger again
                assert not (answer and isinstance(answer[0], tuple) and answer[0][0] == 202)
                status, body = cron_post(daemon, "complete-catalog-sync", CATALOG_BODY)
                assert status == 202, (status, body)
                new = {body["runId"]}
            assert len(new) == 1, new  # one run per trigger, never a second beside it
            run_id = new.pop()
            if answer and isinstance(answer[0], tuple):
                assert answer[0][0] == 202 and answer[0][1]["runId"] == run_id, answer
            run = wait_for_run(daemon, run_id, ended, RUN_TIMEOUT_S)
            print(f"trial {trial}: killed {kill_after_s} s into {phase}, "
                  f"attempts {run['attempts']}, {run['status']}")  # fmt: skip
            assert_run_complete(run)
            if run["attempts"] > 1:  # it was running when killed: taken over and resumed
                assert [e["run_id"] for e in daemon.events("job_resumed")] == [run_id]

            assert count_rows(database_url, "votes") == votes_before
            assert problems(database_url) == {}
            assert get_run(daemon, run_id)["status"] == run["status"]
