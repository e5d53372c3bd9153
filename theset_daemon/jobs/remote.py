"""``theset-daemon trigger JOB [--wait] [--json] [--set key=value ...]``: run a job on the
running daemon.

It calls ``POST /api/cron/<job>?trigger=cli`` with ``CRON_SECRET`` (from the same config and
environment the daemon reads, or ``.theset/secrets.env``: ``local_secrets.py``), so the run is
recorded with ``"trigger": "cli"``. With ``--wait`` it asks for ``?wait=true`` and prints the
Run's outcome and summary when it ends. ``--json`` prints the route's JSON answer instead, as it
came (the Run with ``--wait``; the error envelope of a refusal), for scripts; the exit code is
the same. The outcome is coloured on a terminal only (``tty.py``).

Exit codes: 0 started, or ended ``succeeded``/``partial``; 1 refused (401, 400, 409), failed, or the
daemon unreachable; 3 the daemon stopped first and the run is ``interrupted`` (it resumes at the
next start).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import aiohttp

from theset_daemon.config import Settings
from theset_daemon.tty import Painter

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 3
#: How many of a run's item errors are printed (the Run holds up to 50).
ERRORS_SHOWN = 10


def parse_sets(pairs: Sequence[str]) -> dict[str, Any]:
    """``key=value`` pairs as a body: a value that parses as JSON is JSON (``10``, ``true``,
    ``"x"``), anything else is a string. Raises ValueError naming a pair without ``=``."""
    body: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set {pair!r}: expected key=value")
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = text
        body[key.strip()] = value
    return body


def _describe(run: dict[str, Any], out: TextIO) -> None:
    took = f" in {run['durationMs']} ms" if run.get("durationMs") is not None else ""
    status = Painter.for_stream(out).word(run["status"])
    print(f"run {run['runId']} of {run['job']}: {status}{took}", file=out)
    if run.get("error"):
        print(f"error: {run['error']}", file=out)
    print(json.dumps(run.get("summary", {}), indent=2, sort_keys=True), file=out)
    errors = run.get("errors") or []
    for item in errors[:ERRORS_SHOWN]:
        print(f"  item {item.get('artistId')}: {item.get('message')}", file=out)
    if len(errors) > ERRORS_SHOWN:
        print(f"  ... {len(errors) - ERRORS_SHOWN} more in the run's errors", file=out)


async def trigger_remote(
    settings: Settings,
    job: str,
    body: dict[str, Any],
    *,
    wait: bool,
    as_json: bool = False,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    base = settings.server.local_url
    secret = settings.auth.cron_secret.get_secret_value()
    if not secret:
        print(
            "CRON_SECRET is not set (auth.cron_secret): the daemon refuses cron routes; a daemon"
            " on loopback without secrets writes them to .theset/secrets.env next to its config"
            " file, where this command finds them",
            file=err,
        )
        return EXIT_FAILED
    url = f"{base}/api/cron/{job}?trigger=cli" + ("&wait=true" if wait else "")
    # A weekly job can run for hours: no read timeout while waiting for its end.
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=None if wait else 30)
    headers = {"Authorization": f"Bearer {secret}"}
    async with aiohttp.ClientSession(timeout=timeout) as session:
        try:
            async with session.post(url, json=body, headers=headers) as response:
                status = response.status
                answer: dict[str, Any] = await response.json(content_type=None)
        except aiohttp.ClientConnectionError as exc:
            print(f"the daemon at {base} is not reachable ({exc}); is it running?", file=err)
            return EXIT_FAILED
    if as_json:
        print(json.dumps(answer, indent=2), file=out)
    return _outcome(job, base, status, answer, out=None if as_json else out, err=err)


def _outcome(
    job: str, base: str, status: int, answer: dict[str, Any], *, out: TextIO | None, err: TextIO
) -> int:
    """The exit code of the route's answer; with ``out``, what it says for people too (the
    refusals always go to ``err``)."""
    if status == 202 and answer.get("status") == "interrupted":
        print(f"run {answer['runId']} was interrupted by a shutdown; it resumes at the next start",
              file=err)  # fmt: skip
        return EXIT_INTERRUPTED
    if status == 202:
        if out is not None:
            print(f"started run {answer['runId']} of {job}: {base}{answer['statusUrl']}", file=out)
        return EXIT_OK
    if status == 200:
        if out is not None:
            _describe(answer, out)
        return EXIT_OK
    if status == 500 and "run" in answer:
        if out is not None:
            _describe(answer["run"], out)
        return EXIT_FAILED
    error = answer.get("error", {})
    message = error.get("message", f"HTTP {status}")
    if status == 404:
        message = f"no job named {job!r}"
    if status == 409 and answer.get("runId"):
        message += f" (run {answer['runId']})"
    print(f"trigger refused: {message}", file=err)
    return EXIT_FAILED
