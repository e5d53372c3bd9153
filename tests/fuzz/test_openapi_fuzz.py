"""Schemathesis against the daemon's own ``/api/openapi.json``: every operation, counted requests.

What runs. A real ``theset-daemon run`` process (the end-to-end suite's fixture) on a real TCP port,
over this test's own Postgres database, with the built-in simulator as every upstream. The
document is loaded from the daemon itself, so the test follows whatever the daemon says it serves.

Every operation gets positive cases (valid by the document; must succeed or fail only as
documented) and, where it takes a query or a body, negative cases (invalid by the document; must be
refused with a documented status). Each response passes these Schemathesis checks:
``not_a_server_error``, ``status_code_conformance``, ``content_type_conformance``,
``response_headers_conformance`` and ``response_schema_conformance``; and a positive case with the
right secret must never get 401. Every request is counted as its answer arrives, and the test
asserts at least ``MIN_REQUESTS`` in total and at least one for every operation, rather than
trusting ``max_examples`` (Hypothesis stops early on small input spaces such as ``GET /healthz``).
Afterwards the daemon must still answer, and its log must hold no error-level line and nothing that
is not JSON (a traceback): a failure behind a well-formed answer counts too.

Auth. Cron routes get ``CRON_SECRET``, admin routes ``ADMIN_API_KEY``, routes taking either get
one or the other (drawn per case), and the status page also HTTP Basic with the admin key. The
hand-written auth variants are in ``test_hostile_inputs.py``.

Known ids. Random ids only ever reach the 404 branch, so before fuzzing the test imports one
simulator artist and runs one job to the end; the id and slug routes draw either a generated value
or one of these, which puts the 200 answers (ImportStatus, Run, the artist page, the event
streams of a finished import and run) under the schema checks too.

Bounded work. The simulator catalog is three artists with no added latency, and the jobs have no
pause between batches, so a run triggered by a fuzz case (``?wait=true`` included) ends in a few
seconds; a trigger while one runs gets the documented 409; whatever still runs at the end is
interrupted within a 5-second shutdown grace. Phase 1 of an import is bounded by
``import.phase1_timeout_seconds`` and the rate limit is raised so imports are tested rather than
refused with 429 after the first 30.

Event streams. ``GET /status/events`` never ends by design, and the progress streams of a running
job last as long as the job. Schemathesis reads a ``text/event-stream`` answer only up to
``max-stream-events`` events or the request timeout, then closes it: one event is enough (the
daemon sends the current state at once on connect) and keeps every stream request under a
second. The events read are validated too: the document gives each event's schema, with its
``data`` as JSON of the stream's model. Unknown and malformed ids answer 404 JSON at once, as the
contract says.

Reproducible. Hypothesis is derandomized (the same cases each run, so CI never flakes on a new
random draw); set ``THESET_FUZZ_SEED`` to explore other cases. No shrinking: every shrink step is
a request, and the failing case is reported with its curl command anyway.
"""

from __future__ import annotations

import base64
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.plugins.daemon import Daemon, DaemonFactory, daemon_base
from tests.plugins.simulator import UNTHROTTLED_CONFIG, UNTHROTTLED_ENV

pytestmark = pytest.mark.timeout(180)

CRON_SECRET = "fuzz-cron-secret-0123456789"
ADMIN_KEY = "fuzz-admin-key-0123456789"
CONFIG = (
    daemon_base(grace_seconds=5)
    + """[upstream.simulator]
artists = 3
latency_ms = 0
[import]
per_client_per_minute = 1000
[jobs.trending-artist-sync]
delay_s = 0
[jobs.complete-catalog-sync]
delay_s = 0
"""
    + UNTHROTTLED_CONFIG
)  # nothing here measures upstream rates (UNTHROTTLED_ENV below)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
#: Hypothesis examples per operation and generation mode (fewer where the input space is small).
EXAMPLES = 45
MIN_REQUESTS = 1000
# Bounds every request, ?wait=true triggers (runs of a few seconds here) and stream reads included.
REQUEST_TIMEOUT_S = 30


@dataclass
class Tally:
    """Every answer received: by operation, and by operation and status."""

    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)

    def count(self, label: str, status: int) -> None:
        self.requests[label] += 1
        self.statuses[(label, status)] += 1

    def total(self) -> int:
        return sum(self.requests.values())

    def table(self) -> str:
        rows = sorted(self.statuses.items())
        return "\n".join(f"  {label} -> {status}: {n}" for (label, status), n in rows)


def call_json(daemon: Daemon, method: str, path: str, **kwargs: Any) -> Any:
    response = requests.request(method, daemon.base_url + path, timeout=30, **kwargs)
    assert response.status_code < 300, (path, response.status_code, response.text)
    return response.json()


def seed_known_ids(daemon: Daemon) -> dict[str, list[str]]:
    """One finished import and one finished run: ids the fuzz can hit besides random ones."""
    sim_url = daemon.wait_for_log("simulator_started")["base_url"]
    artist = requests.get(f"{sim_url}/_sim/catalog?limit=1", timeout=10).json()["artists"][0]
    started = call_json(
        daemon, "POST", "/api/artists/import", json={"spotifyId": artist["spotifyId"]}
    )
    deadline = time.monotonic() + 60
    while (status := call_json(daemon, "GET", started["statusUrl"]))["status"] == "running":
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    assert status["status"] == "completed", status
    run = call_json(
        daemon,
        "POST",
        "/api/cron/calculate-trending?wait=true",
        headers={"Authorization": f"Bearer {CRON_SECRET}"},
    )
    return {
        "jobId": [started["jobId"]],
        "runId": [run["runId"]],
        "idOrSlug": [started["artist"]["id"], started["artist"]["slug"]],
    }


def credentials(document: dict[str, Any], method: str, path: str) -> list[dict[str, str]]:
    """The Authorization headers that satisfy the operation's security (one per scheme)."""
    tokens = {
        "cronSecret": f"Bearer {CRON_SECRET}",
        "adminKey": f"Bearer {ADMIN_KEY}",
        "adminBasic": "Basic " + base64.b64encode(f"operator:{ADMIN_KEY}".encode()).decode(),
    }
    security = document["paths"][path][method.lower()].get("security", [])
    return [{"Authorization": tokens[name]} for option in security for name in option] or [{}]


def negatable(operation: Any) -> bool:
    """Whether Schemathesis can make an invalid request for it: a path string cannot be invalid
    in a URL, and header parameters are free strings, so only a query or a body can."""
    return len(operation.query) > 0 or len(list(operation.body)) > 0


def strategies(operation: Any, mode: GenerationMode, known: dict[str, list[str]]) -> Any:
    base = operation.as_strategy(generation_mode=mode)
    names = [p.name for p in operation.path_parameters if p.name in known]
    if mode is not GenerationMode.POSITIVE or not names:
        return base
    fixed = [
        operation.as_strategy(generation_mode=mode, path_parameters={name: value})
        for name in names
        for value in known[name]
    ]
    return st.one_of(base, *fixed)


def fuzz_operation(
    operation: Any,
    mode: GenerationMode,
    strategy: Any,
    auth: list[dict[str, str]],
    session: requests.Session,
    tally: Tally,
) -> None:
    """Hypothesis over one operation in one mode; raises the first failure it finds."""
    label = operation.label

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize="THESET_FUZZ_SEED" not in os.environ,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
        ],
    )
    @given(case=strategy, headers=st.sampled_from(auth))
    def run(case: Any, headers: dict[str, str]) -> None:
        response = case.call(session=session, headers=headers, timeout=REQUEST_TIMEOUT_S)
        tally.count(label, response.status_code)
        case.validate_response(response, checks=CHECKS, headers=headers)
        if mode is GenerationMode.POSITIVE and headers:
            assert response.status_code != 401, f"{label}: 401 with the right secret"

    if fuzz_seed := os.environ.get("THESET_FUZZ_SEED"):
        run = seed(int(fuzz_seed))(run)
    run()


def operations(schema: Any) -> Iterator[Any]:
    for result in schema.get_all_operations():
        yield result.ok()


def test_every_operation_answers_as_documented(
    start_daemon: DaemonFactory, database_url: str, subtests: pytest.Subtests
) -> None:
    daemon = start_daemon(
        CONFIG,
        env={
            "DATABASE_URL": database_url,
            "CRON_SECRET": CRON_SECRET,
            "ADMIN_API_KEY": ADMIN_KEY,
            **UNTHROTTLED_ENV,
        },
    )
    daemon.wait_ready()
    known = seed_known_ids(daemon)
    document = call_json(daemon, "GET", "/api/openapi.json")
    config = schemathesis.Config.from_dict(
        {"base-url": daemon.base_url, "max-stream-events": 1, "request-timeout": REQUEST_TIMEOUT_S}
    )
    schema = schemathesis.openapi.from_dict(document, config=config)

    tally = Tally()
    started = time.monotonic()
    with requests.Session() as session:
        for operation in operations(schema):
            auth = credentials(document, operation.method, operation.path)
            modes = [GenerationMode.POSITIVE]
            if negatable(operation):
                modes.append(GenerationMode.NEGATIVE)
            for mode in modes:
                with subtests.test(operation=operation.label, mode=mode.value):
                    strategy = strategies(operation, mode, known)
                    fuzz_operation(operation, mode, strategy, auth, session, tally)
    elapsed = time.monotonic() - started
    summary = f"{tally.total()} requests in {elapsed:.1f}s\n{tally.table()}"
    print(summary)

    documented = {op.label for op in operations(schema)}
    assert set(tally.requests) == documented, summary
    assert tally.total() >= MIN_REQUESTS, summary

    # The daemon still serves, and nothing went wrong behind the answers.
    assert call_json(daemon, "GET", "/healthz") == {"status": "ok"}
    problems = [line for line in daemon.lines if line.get("level") in ("error", "critical")]
    assert not problems, problems
    raw = [line for line in daemon.raw_lines if not line.startswith("{")]
    assert not raw, "".join(raw)
