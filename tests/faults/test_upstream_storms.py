"""Upstream storms against the real daemon process and the simulator as its own process: 429s and
5xx with Retry-After, plain 500s, timeouts (latency past ``timeout_s``), malformed JSON and
truncated bodies, injected through ``POST /_sim/faults`` while cron runs are under way.

The tests hold the same line: the breakers open; no request reaches a provider inside a
Retry-After window it announced (``inside_retry_after``); no 1-second window holds more sends to a
provider than its ``max_rate_per_s`` (``peak_rate_per_s``); the run ends ``partial`` with every
failure counted and listed (CONTRACT.md section 8), within a bound, the daemon still up; and what
was stored is consistent: a failed artist keeps what the providers that answered returned and no
more, synced ones are complete, the next run mends the rest.

The faults meet a run that already has a success (they go in once its first artist is synced,
or they hit a phase after one that asks other providers), so it is ``partial`` by construction,
not ``failed``; and the jobs pace one artist per batch with a pause longer than the breaker's
reset timeout, so an open breaker is probed again while artists remain. The slow sustained storm
is random (seeded): there any status may come out, and what holds is that everything ends, with
its failures counted.
"""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from tests.faults.storm_support import (
    CRON_SECRET,
    Json,
    Simulator,
    assert_counted,
    ended,
    exchange,
    live_upstreams,
    query,
    request,
    seed_artists,
    trigger,
    wait_for_run,
)
from tests.plugins.daemon import Daemon, DaemonFactory, daemon_base

RATES_PER_S = {"spotify": 10, "ticketmaster": 5, "setlistfm": 2}
BREAKER_AND_RETRY = """
[upstream.{provider}.breaker]
failure_threshold = 3
reset_timeout_s = {reset_s}
[upstream.{provider}.retry]
max_attempts = 2
base_delay_s = 0.1
max_delay_s = 5
"""
BREAKER_RESET_S = 0.5
# One artist per batch, paced past the breaker's reset timeout: an open breaker is probed again
# while artists remain.
PACE_S = 0.7
PACED_JOBS = f"""
[jobs.update-active-artists]
batch_size = 1
delay_s = {PACE_S}
[jobs.complete-catalog-sync]
batch_size = 1
delay_s = {PACE_S}
"""
ARTISTS = 6
CATALOG_ARTISTS = 4


def start_storm_daemon(start_daemon: DaemonFactory, sim: Simulator, database_url: str) -> Daemon:
    resilience = "".join(
        BREAKER_AND_RETRY.format(provider=p, reset_s=BREAKER_RESET_S) for p in RATES_PER_S
    )
    config = (
        daemon_base() + live_upstreams(sim.base_url, timeout_s=1, extra=resilience) + PACED_JOBS
    )
    daemon = start_daemon(config, env={"DATABASE_URL": database_url, "CRON_SECRET": CRON_SECRET})
    daemon.wait_ready()
    return daemon


def assert_upstream_discipline(sim: Simulator) -> None:
    """No request inside an announced Retry-After window; no second over the configured rate."""
    stats = sim.stats()
    for provider, limit in RATES_PER_S.items():
        figures = stats[provider]
        assert figures["inside_retry_after"] == 0, (provider, figures)
        assert figures["peak_rate_per_s"] <= limit, (provider, figures)


def inject_after_first_success(
    daemon: Daemon, sim: Simulator, run_id: str, done_before: int, faults: list[Json]
) -> None:
    """Queue ``faults`` once ``done_before`` items are done and none has failed: the run already
    has a success, so it cannot end ``failed``, and it still has items to fail."""
    run = wait_for_run(daemon, run_id, lambda r: r["progress"]["done"] >= done_before, 30)
    assert run["status"] == "running" and run["errors"] == [], run
    assert run["progress"]["done"] < run["progress"]["total"], run
    for fault in faults:
        sim.fault(**fault)


def seeded_rows(database_url: str) -> list[Any]:
    """The seeded artists (not the supporting acts stored from the shows' bills) with their
    Ticketmaster shows (the simulator's ``upcoming_shows``, whatever their status; the past shows
    of setlist.fm's setlists are not among them)."""
    return query(
        database_url,
        """SELECT a.id, a.spotify_id, a.last_synced_at,
                  (SELECT count(*) FROM shows s WHERE s.headliner_artist_id = a.id
                     AND s.ticketmaster_id IS NOT NULL) AS shows
           FROM artists a WHERE a.slug LIKE 'seeded-%'""",
    )


def test_rate_limit_and_unavailable_storm_with_retry_after(
    start_daemon: DaemonFactory, sim: Simulator, database_url: str
) -> None:
    """Breaks: Spotify answers update-active-artists with 429 (Retry-After 1) twice, then 503
    (Retry-After 2) twice, mid-run. Holds: the Spotify breaker opens; nothing is sent to Spotify
    inside either window; no provider's second goes over its rate; the run ends ``partial`` with
    each failed artist listed; a failed artist's releases are left unsynced while the shows
    Ticketmaster returned for it are kept, and a synced one has both; the next run (triggered:
    every artist, due or not, the failed ones first) succeeds and leaves none unsynced."""
    daemon = start_storm_daemon(start_daemon, sim, database_url)
    catalog = sim.catalog(ARTISTS)
    artist_ids = seed_artists(database_url, catalog)

    run_id = trigger(daemon, "update-active-artists", {"limit": ARTISTS})
    inject_after_first_success(daemon, sim, run_id, 1, [
        {"provider": "spotify", "status": 429, "retryAfter": 1, "count": 2},
        {"provider": "spotify", "status": 503, "retryAfter": 2, "count": 2},
    ])  # fmt: skip
    run = wait_for_run(daemon, run_id, ended, 60)
    assert_counted(run)
    summary = run["summary"]
    assert summary["selected"] == ARTISTS and summary["skipped"] == 0, summary
    assert summary["failed"] == len(run["errors"]), run
    assert summary["synced"] + summary["failed"] == ARTISTS, summary
    assert sim.pending_faults()["spotify"] == [], "every injected fault was met"

    assert "spotify" in {e["provider"] for e in daemon.events("breaker_opened")}
    assert_upstream_discipline(sim)
    stats = sim.stats()
    assert stats["spotify"]["retry_after_windows"] >= 3, stats["spotify"]

    failed = {e["artistId"] for e in run["errors"]}
    assert failed < set(artist_ids), run["errors"]
    stored = {str(r["id"]): r for r in seeded_rows(database_url)}
    upcoming = {a["spotifyId"]: a["counts"]["upcoming_shows"] for a in catalog}
    for artist_id, row in stored.items():
        # Spotify failed for the failed ones; what Ticketmaster returned for them is kept.
        assert (row["last_synced_at"] is None) == (artist_id in failed), dict(row)
        assert row["shows"] == upcoming[row["spotify_id"]], dict(row)

    # The next run, triggered, does what it is asked (CONTRACT.md section 9): every artist.
    again = wait_for_run(daemon, trigger(daemon, "update-active-artists", {"limit": ARTISTS}),
                         ended, 60)  # fmt: skip
    assert again["status"] == "succeeded" and again["errors"] == [], again
    assert again["summary"]["synced"] == ARTISTS, again["summary"]
    assert again["summary"]["skipped"] == 0, again["summary"]
    rows = seeded_rows(database_url)
    assert all(r["last_synced_at"] is not None for r in rows)
    assert {r["spotify_id"]: r["shows"] for r in rows} == upcoming
    assert_upstream_discipline(sim)
    assert daemon.proc.poll() is None


def test_broken_answers_storm_during_the_show_sync(
    start_daemon: DaemonFactory, sim: Simulator, database_url: str
) -> None:
    """Breaks: complete-catalog-sync's show-sync phase meets, from Ticketmaster, a 500, a
    truncated body (a Content-Length promising more, then the connection closes), a timeout
    (latency past ``timeout_s``) and a 500; then from setlist.fm malformed JSON twice and a 500
    with Retry-After 1. Holds: both breakers open; no request inside the window, no second over
    a rate; every fault is met and the run ends ``partial`` with the failed artists listed, its
    show-sync phase ``partial`` and the integrity checks clean; a second run succeeds and then
    every artist has all its upcoming shows."""
    daemon = start_storm_daemon(start_daemon, sim, database_url)
    catalog = sim.catalog(CATALOG_ARTISTS)
    seed_artists(database_url, catalog)
    # Queued before the run: its artist-sync phase asks neither provider, so its artists are the
    # successes that make the run partial, and the show-sync meets the faults from its first.
    for fault in [
        # Four, the slow one third: its timeout lands after the fourth has opened the breaker
        # (a success recorded between failures would reset their count).
        {"provider": "ticketmaster", "status": 500},
        {"provider": "ticketmaster", "truncated": True},
        {"provider": "ticketmaster", "latencyMs": 1500},
        {"provider": "ticketmaster", "status": 500},
        {"provider": "setlistfm", "malformed": True, "count": 2},
        {"provider": "setlistfm", "status": 500, "retryAfter": 1},
    ]:
        sim.fault(**fault)
    body = {"maxArtists": CATALOG_ARTISTS}
    run_id = trigger(daemon, "complete-catalog-sync", body)
    run = wait_for_run(daemon, run_id, ended, 90)
    assert_counted(run)
    phases = {p["name"]: p["status"] for p in run["summary"]["phases"]}
    assert phases == {
        "artist-sync": "succeeded",
        "show-sync": "partial",
        "data-cleanup": "succeeded",
        "integrity-checks": "succeeded",
    }, run["summary"]
    violations = [v for v in run["summary"]["integrity"]["violations"] if v["count"]]
    assert run["summary"]["integrity"]["ok"] and not violations, violations
    assert sim.pending_faults() == {"spotify": [], "ticketmaster": [], "setlistfm": []}
    opened = {e["provider"] for e in daemon.events("breaker_opened")}
    assert {"ticketmaster", "setlistfm"} <= opened, daemon.events("upstream_request_failed")
    assert_upstream_discipline(sim)
    failures = daemon.events("upstream_request_failed")
    assert {"timeout", "payload", "invalid JSON"} <= {kind_of(f) for f in failures}, failures

    again = wait_for_run(daemon, trigger(daemon, "complete-catalog-sync", body), ended, 90)
    assert again["status"] == "succeeded" and again["errors"] == [], again
    upcoming = {a["spotifyId"]: a["counts"]["upcoming_shows"] for a in catalog}
    assert {r["spotify_id"]: r["shows"] for r in seeded_rows(database_url)} == upcoming
    assert_upstream_discipline(sim)
    assert daemon.proc.poll() is None


def test_a_provider_asking_for_minutes_ends_the_run_instead_of_holding_it(
    start_daemon: DaemonFactory, sim: Simulator, database_url: str
) -> None:
    """Breaks: mid update-active-artists, Spotify answers 429 with Retry-After 120, past
    ``retry.max_delay_s`` (5). Holds: nothing at all goes to Spotify for those 120 s; the run
    does not sit them out: every artist left fails at once ("provider asked for a pause") and
    the run ends ``partial`` within seconds, each failure listed; an import asked for meanwhile
    is refused at once with 503 and a Retry-After near what Spotify asked for."""
    daemon = start_storm_daemon(start_daemon, sim, database_url)
    catalog = sim.catalog(ARTISTS + 1)
    seed_artists(database_url, catalog[:ARTISTS])

    run_id = trigger(daemon, "update-active-artists", {"limit": ARTISTS})
    inject_after_first_success(
        daemon, sim, run_id, 1, [{"provider": "spotify", "status": 429, "retryAfter": 120}]
    )
    injected = time.monotonic()
    run = wait_for_run(daemon, run_id, ended, 60)
    # The artists left, one per batch with the pauses between: well under the 120 s asked for.
    assert time.monotonic() - injected < ARTISTS * PACE_S + 5, run
    assert_counted(run)
    assert run["summary"]["synced"] >= 1 and run["summary"]["failed"] >= 2, run["summary"]
    paused = [e for e in run["errors"] if "provider asked for a pause" in e["message"]]
    assert len(paused) == run["summary"]["failed"] - 1, run["errors"]  # all but the 429's own

    started = time.monotonic()
    status, answer, headers = exchange(
        f"{daemon.base_url}/api/artists/import",
        method="POST",
        body={"spotifyId": catalog[ARTISTS]["spotifyId"]},
    )
    assert time.monotonic() - started < 1.0
    assert status == 503 and answer["error"]["code"] == "upstream_unavailable", answer
    waited_s = time.monotonic() - injected
    assert 120 - waited_s - 5 <= int(headers["Retry-After"]) <= 120, dict(headers)

    stats = sim.stats()
    assert stats["spotify"]["retry_after_windows"] == 1, stats["spotify"]
    assert_upstream_discipline(sim)
    assert daemon.proc.poll() is None


# A sustained storm: a fault of a random kind every STORM_EVERY_S for STORM_S, on a random provider.
STORM_S = 30.0
STORM_EVERY_S = 0.4
STORM_FAULTS: list[Json] = [
    {"status": 429, "retryAfter": 1},
    {"status": 429, "retryAfter": 2},
    {"status": 503, "retryAfter": 1},
    {"status": 500},
    {"status": 503},
    {"latencyMs": 1500},
    {"malformed": True},
    {"truncated": True},
]


@pytest.mark.slow
def test_a_sustained_storm_on_every_provider_under_two_runs_and_an_import(
    start_daemon: DaemonFactory, sim: Simulator, database_url: str
) -> None:
    """Breaks: for 30 s, every 0.4 s, one to three of a random fault (429 or 503 with
    Retry-After, 500, 503, timeout, malformed JSON, truncated body; seeded, so a failure can be
    replayed) go to a random provider, while complete-catalog-sync and update-active-artists run
    and an artist import is under way. Holds, over the whole storm: nothing is sent to a provider
    inside a Retry-After window, no second goes over a provider's rate, breakers open; both runs
    and the import end (none hangs), each failure counted and listed (a ``partial`` run lists
    its failed artists, a ``failed`` one says why); the daemon stays up; and once the storm is
    over a complete-catalog-sync succeeds with clean integrity checks and every artist's shows."""
    rng = random.Random(8)
    daemon = start_storm_daemon(start_daemon, sim, database_url)
    catalog = sim.catalog(12)
    seeded, extra = catalog[:10], catalog[10]
    seed_artists(database_url, seeded)

    storm_until = time.monotonic() + STORM_S
    catalog_run = trigger(daemon, "complete-catalog-sync", {"maxArtists": len(seeded)})
    active_run = trigger(daemon, "update-active-artists", {"limit": len(seeded)})
    import_id: str | None = None
    while time.monotonic() < storm_until:
        provider = rng.choice(list(RATES_PER_S))
        sim.fault(provider, count=rng.randint(1, 3), **rng.choice(STORM_FAULTS))
        if import_id is None and time.monotonic() > storm_until - STORM_S * 0.75:
            status, answer = request(
                f"{daemon.base_url}/api/artists/import",
                method="POST",
                body={"spotifyId": extra["spotifyId"]},
            )
            # Phase 1 meets the storm too: refused with 503 is a correct answer, try again later.
            assert status in (202, 503), (status, answer)
            if status == 202:
                import_id = answer["jobId"]
        time.sleep(STORM_EVERY_S)
    sim.clear_faults()

    for run_id in (catalog_run, active_run):
        run = wait_for_run(daemon, run_id, ended, 120)
        assert run["status"] in ("succeeded", "partial", "failed"), run
        if run["status"] == "partial":
            assert 0 < len(run["errors"]) <= 50 and run["error"] is None, run
        if run["status"] == "failed":
            assert run["error"], run
    if import_id is not None:
        deadline = time.monotonic() + 120
        while True:
            status, job = request(f"{daemon.base_url}/api/artists/import/{import_id}")
            assert status == 200, job
            if job["status"] != "running" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        # A phase that met the storm ends the import partial (the other phase's data kept).
        assert job["status"] in ("completed", "partial", "failed"), job
        assert job["status"] == "completed" or job["error"]["message"], job

    assert {e["provider"] for e in daemon.events("breaker_opened")}, "no breaker opened"
    assert_upstream_discipline(sim)
    stats = sim.stats()
    assert sum(stats[p]["retry_after_windows"] for p in RATES_PER_S) > 0, stats

    after = wait_for_run(
        daemon, trigger(daemon, "complete-catalog-sync", {"maxArtists": len(seeded)}), ended, 120
    )
    assert after["status"] == "succeeded" and after["errors"] == [], after
    violations = [v for v in after["summary"]["integrity"]["violations"] if v["count"]]
    assert after["summary"]["integrity"]["ok"] and not violations, violations
    upcoming = {a["spotifyId"]: a["counts"]["upcoming_shows"] for a in seeded}
    assert {r["spotify_id"]: r["shows"] for r in seeded_rows(database_url)} == upcoming
    assert_upstream_discipline(sim)
    assert daemon.proc.poll() is None


def kind_of(failure: Json) -> str:
    """What an ``upstream_request_failed`` line says went wrong, in a word."""
    error = str(failure.get("error", ""))
    if "no answer in" in error:
        return "timeout"
    if "invalid JSON" in error:
        return "invalid JSON"
    if "ContentLengthError" in error:
        return "payload"
    return f"status {failure.get('status')}"
