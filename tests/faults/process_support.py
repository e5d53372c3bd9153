"""What the kill -9, signal and two-daemon fault tests share: a seeded source of fault times whose
seed every failure names, kills and restarts of a daemon process, an HTTP load generator, and the
database's invariants (no duplicate row, nothing left running, every vote kept).

The simulator, the live-mode config aimed at it and the cron-route helpers are the upstream-storm
tests' (``storm_support``), so every fault test drives the daemon the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from tests.conftest import REPO
from tests.faults.storm_support import CRON_SECRET, Json, request
from tests.plugins.daemon import Daemon, DaemonFactory
from tests.waiting import wait_until
from theset_daemon.db.maintenance import INTEGRITY_CHECKS
from theset_daemon.progress.frames import EventStreamParser

JOBS = ("update-active-artists", "trending-artist-sync", "complete-catalog-sync",
        "calculate-trending")  # fmt: skip


def jobs_config(**knobs: dict[str, Any]) -> str:
    """``[jobs.<job>]`` tables, each job's schedule paused unless its knobs say otherwise (keys
    with underscores: ``complete_catalog_sync={"batch_size": 2}``). No schedule fires, and nothing
    is caught up at start-up, unless a test asks for it: a fire (calculate-trending on the hour,
    a Sunday catch-up) would add runs the test did not make."""
    tables = []
    for job in JOBS:
        settings = {"enabled": False, **knobs.get(job.replace("-", "_"), {})}
        lines = [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
        tables.append(f"[jobs.{job}]\n" + "\n".join(lines) + "\n")
    return "\n" + "\n".join(tables)


# --- fault times ---------------------------------------------------------------------------------


def fault_rng() -> tuple[int, random.Random]:
    """A seed (``THESET_FAULT_SEED`` to replay one, else a fresh one) and its RNG."""
    seed = int(os.environ.get("THESET_FAULT_SEED") or random.SystemRandom().randrange(2**32))
    return seed, random.Random(seed)


@contextlib.contextmanager
def noted(**facts: Any) -> Iterator[None]:
    """Whatever fails inside carries ``facts`` (the seed, the trial, the kill time) in its report,
    so a failure can be replayed with ``THESET_FAULT_SEED``."""
    try:
        yield
    except BaseException as exc:
        exc.add_note(", ".join(f"{k}={v}" for k, v in facts.items()))
        raise


# --- processes -----------------------------------------------------------------------------------


class WrappedDaemon(Daemon):
    """A :class:`Daemon` started through a wrapper of the CLI, ``python -m <module> run``
    (``tests.faults.seconds_cron``); the rest (log capture, signals, stop) is the same."""

    def __init__(self, config_path: Path, env: dict[str, str], port: int, module: str) -> None:
        # cwd: where the wrapper's package is importable from.
        super().__init__(config_path, env, port, module=module, cwd=REPO)


def kill9(daemon: Daemon) -> None:
    """SIGKILL: no handler runs, nothing is marked, no lease released, no end written."""
    daemon.signal(signal.SIGKILL)
    daemon.proc.wait(10)
    daemon.stop()  # collects the log reader and closes the pipe; the process is already gone


def restart(start_daemon: DaemonFactory, daemon: Daemon, env: dict[str, str]) -> Daemon:
    """A new process with the same config on the same port (the client's URLs stay valid)."""
    again = start_daemon(daemon.config_path.read_text(), env=env, port=daemon.port)
    again.wait_ready()
    return again


def stop_timed(daemon: Daemon, timeout_s: float) -> tuple[int | None, float]:
    """SIGTERM; (exit code, seconds until the process was gone), code None if still alive
    after ``timeout_s`` (then it is killed)."""
    started_s = time.monotonic()
    daemon.signal(signal.SIGTERM)
    try:
        code: int | None = daemon.proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        code = None
    elapsed_s = time.monotonic() - started_s
    daemon.stop()
    return code, elapsed_s


def wait_for_event(
    daemon: Daemon, event: str, after: int, timeout_s: float, **fields: Any
) -> dict[str, Any]:
    """The first log line ``event`` past the first ``after`` of them whose ``fields`` match.
    Polled every millisecond: a kill timed from it should land where it was aimed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in daemon.events(event)[after:]:
            if all(line.get(k) == v for k, v in fields.items()):
                return line
        if daemon.proc.poll() is not None:
            break
        time.sleep(0.001)
    raise AssertionError(f"no log event {event!r} with {fields} within {timeout_s} s")


# --- the import route ----------------------------------------------------------------------------


def import_artist(daemon: Daemon, spotify_id: str) -> tuple[int, Json]:
    status, body = request(
        f"{daemon.base_url}/api/artists/import", method="POST", body={"spotifyId": spotify_id}
    )
    return status, body


def import_state(daemon: Daemon, job_id: str) -> Json:
    status, body = request(f"{daemon.base_url}/api/artists/import/{job_id}")
    assert status == 200, (status, body)
    return dict(body)


ENDED_IMPORT = ("completed", "partial", "failed")


def wait_for_import(daemon: Daemon, job_id: str, timeout_s: float) -> Json:
    """The job's ImportStatus once it ended (completed or failed)."""
    ended: Json = wait_until(
        f"import {job_id} ending",
        lambda: (s := import_state(daemon, job_id))["status"] in ENDED_IMPORT and s,
        timeout_s,
    )
    return ended


def cron_post(daemon: Daemon, job: str, body: Json | None = None) -> tuple[int, Json]:
    status, answer = request(
        f"{daemon.base_url}/api/cron/{job}", method="POST", body=body or {}, token=CRON_SECRET
    )
    return status, answer


class EventStream:
    """One Server-Sent Events connection read in a thread: the ``(id, event)`` pairs received
    and how it ended (``"closed"`` by the server, else the error), for a stream that must
    survive a restart through ``Last-Event-ID``."""

    def __init__(
        self,
        url: str,
        last_event_id: int | None = None,
        *,
        token: str | None = None,
        timeout_s: float = 60,
    ) -> None:
        self.events: list[tuple[int, str]] = []
        self.ended: str | None = None
        headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        self._request = urllib.request.Request(url, headers=headers)
        self._timeout_s = timeout_s
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        parser = EventStreamParser()
        try:
            with urllib.request.urlopen(self._request, timeout=self._timeout_s) as stream:
                for raw in stream:
                    for event in parser.feed(raw.decode()):
                        if event.id is not None:  # the status page's snapshots carry none
                            self.events.append((int(event.id), event.event))
            self.ended = "closed"
        except Exception as exc:
            self.ended = f"{type(exc).__name__}: {exc}"

    def wait_ended(self, timeout_s: float) -> str | None:
        self._thread.join(timeout_s)
        return self.ended


# --- load ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class Outcome:
    path: str
    status: int | None  # None: no answer (refused, reset, timed out)
    error: str | None
    sent_s: float
    answered_s: float


@dataclass
class Load:
    """Threads sending GETs round-robin over ``paths`` until :meth:`stop`; every outcome kept.

    One connection per request (``urllib``): no keep-alive connection can be closed by the server
    between two requests and turn into a spurious error; what fails is the daemon's doing.
    """

    base_url: str
    paths: Sequence[str]
    workers: int = 4
    pause_s: float = 0.005
    timeout_s: float = 15.0
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Load:
        for n in range(self.workers):
            thread = threading.Thread(target=self._work, args=(n,), daemon=True)
            self._threads.append(thread)
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout_s + 5)

    def _work(self, n: int) -> None:
        turn = n
        while not self._stop.is_set():
            path = self.paths[turn % len(self.paths)]
            turn += 1
            sent_s = time.monotonic()
            status: int | None = None
            error: str | None = None
            try:
                with urllib.request.urlopen(self.base_url + path, timeout=self.timeout_s) as answer:
                    answer.read()
                    status = answer.status
            except urllib.error.HTTPError as exc:
                exc.read()
                status = exc.code
            except Exception as exc:  # refused, reset, timed out: the request failed
                error = f"{type(exc).__name__}: {exc}"
            self.outcomes.append(Outcome(path, status, error, sent_s, time.monotonic()))
            time.sleep(self.pause_s)

    def failures(self, *, answered_before_s: float | None = None) -> list[Outcome]:
        """5xx answers and requests with no answer; with ``answered_before_s``, only those
        sent before that instant (a refusal after the listener closed is no failure)."""
        return [
            o
            for o in list(self.outcomes)
            if (o.status is None or o.status >= 500)
            and (answered_before_s is None or o.sent_s < answered_before_s)
        ]

    def summary(self) -> str:
        counts = Counter(o.status if o.status is not None else o.error for o in self.outcomes)
        return f"{len(self.outcomes)} requests: {dict(counts.most_common(8))}"


# --- the database --------------------------------------------------------------------------------


def run_sql(database_url: str, work: Callable[[asyncpg.Connection], Any]) -> Any:
    """``await work(conn)`` on a fresh connection, from synchronous test code."""

    async def go() -> Any:
        conn = await asyncpg.connect(database_url)
        try:
            return await work(conn)
        finally:
            await conn.close()

    return asyncio.run(go())


# Beyond the daemon's own integrity checks (duplicate external ids, orphans, counters against
# their rows): the catalog's dedup rule (one studio song per artist and normalised title; live
# recordings are each their own song), one setlist per (show, artist, type), and event logs
# numbered 1..n with no gap or repeat.
EXTRA_CHECKS: tuple[tuple[str, str], ...] = (
    (
        "duplicate_studio_songs",
        """SELECT count(*) FROM (SELECT 1 FROM songs WHERE NOT is_live
                                 GROUP BY artist_id, normalized_title HAVING count(*) > 1) AS d""",
    ),
    (
        "duplicate_setlists",
        """SELECT count(*) FROM (SELECT 1 FROM setlists GROUP BY show_id, artist_id, type
                                 HAVING count(*) > 1) AS d""",
    ),
    (
        "import_event_gaps",
        """SELECT count(*) FROM (SELECT 1 FROM import_events GROUP BY job_id
                                 HAVING max(seq) <> count(*) OR min(seq) <> 1) AS g""",
    ),
    (
        "run_event_gaps",
        """SELECT count(*) FROM (SELECT 1 FROM cron_run_events GROUP BY run_id
                                 HAVING max(seq) <> count(*) OR min(seq) <> 1) AS g""",
    ),
    ("imports_running", "SELECT count(*) FROM import_status WHERE status = 'running'"),
    ("imports_interrupted", "SELECT count(*) FROM import_status WHERE status = 'interrupted'"),
    ("runs_running", "SELECT count(*) FROM cron_logs WHERE status = 'running'"),
    ("runs_interrupted", "SELECT count(*) FROM cron_logs WHERE status = 'interrupted'"),
    ("leases_held", "SELECT count(*) FROM job_leases"),
)


def problems(
    database_url: str, checks: Sequence[tuple[str, str]] = INTEGRITY_CHECKS + EXTRA_CHECKS
) -> dict[str, int]:
    """Every check whose count is not 0 (an empty dict: all is well), on one snapshot."""

    async def count(conn: asyncpg.Connection) -> dict[str, int]:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            found = {name: int(await conn.fetchval(sql)) for name, sql in checks}
        return {name: n for name, n in found.items() if n}

    found: dict[str, int] = run_sql(database_url, count)
    return found


def count_rows(database_url: str, table: str) -> int:
    return int(run_sql(database_url, lambda conn: conn.fetchval(f"SELECT count(*) FROM {table}")))


def events_of(daemons: Sequence[Daemon], name: str) -> list[dict[str, Any]]:
    return [event for daemon in daemons for event in daemon.events(name)]
