"""``theset-daemon status [--json]``: the status page's job table in the terminal.

It reads ``/status/snapshot`` from the running daemon with ``ADMIN_API_KEY`` (from the same
config and environment the daemon reads, or ``.theset/secrets.env``: ``local_secrets.py``).
``--json`` prints the cron-health document (``GET /api/monitoring/cron-health``) instead, as the
contract has it, for scripts; a refusal's JSON error goes to stdout too. Exit codes: 0 healthy,
1 degraded or unhealthy (so a script or a cron can act on it), 2 the daemon could not be asked.
Colour only on a terminal (``tty.py``).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import aiohttp

from theset_daemon.config import Settings
from theset_daemon.tty import Painter

EXIT_HEALTHY, EXIT_UNHEALTHY, EXIT_UNREACHABLE = 0, 1, 2
REQUEST_TIMEOUT_S = 10.0
COLUMNS = ("JOB", "STATE", "LAST RUN", "NEXT RUN", "FAILURES", "ERRORS 24H")


def _ago(iso: str | None, now: datetime) -> str:
    if not iso:
        return "-"
    seconds = (datetime.fromisoformat(iso.replace("Z", "+00:00")) - now).total_seconds()
    span = abs(seconds)
    text = (
        f"{span:.0f} s" if span < 90
        else f"{span / 60:.0f} min" if span < 5400
        else f"{span / 3600:.0f} h" if span < 129_600
        else f"{span / 86_400:.0f} d"
    )  # fmt: skip
    return f"{text} ago" if seconds < 0 else f"in {text}"


def render(snapshot: dict[str, Any], now: datetime, paint: Painter | None = None) -> str:
    paint = paint or Painter(enabled=False)
    rows = [COLUMNS]
    for job in snapshot["jobs"]:
        last = job["lastRun"]
        rows.append(
            (
                job["name"],
                job["state"] if job["enabled"] else f"{job['state']} (paused)",
                f"{last['status']} {_ago(last['startedAt'], now)}" if last else "never",
                _ago(job["nextRunAt"], now),
                str(job["consecutiveFailures"]),
                f"{job['errorRate24h']:.0%}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    status = paint.word(snapshot["status"])
    lines = [f"theset-daemon {snapshot['version']} on {snapshot['instance']}: {status}"]
    # Padded first, painted after: the escapes take no column.
    header = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(COLUMNS)).rstrip()
    lines.append(paint(header, "bold"))
    for row in rows[1:]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
        cells[1] = paint.word(cells[1], row[1].split()[0])
        lines.append("  ".join(cells).rstrip())
    alerts = snapshot["activeAlerts"]
    lines.append("")
    lines.append(f"active alerts: {len(alerts)}" if alerts else "active alerts: none")
    lines += [
        f"  [{paint.word(a['severity'])}] {a['job']} {a['rule']}: {a['message']}" for a in alerts
    ]
    running = [i for i in snapshot["imports"] if i["status"] == "running"]
    if running:
        lines.append(f"imports running: {len(running)}")
        lines += [f"  {i['artist']}: {i['stage']} {i['progress']}%" for i in running]
    if snapshot.get("simulatorUrl"):
        lines.append(f"simulator: {snapshot['simulatorUrl']} (its artists: theset-daemon artists)")
    return "\n".join(lines)


async def print_status(
    settings: Settings,
    out: TextIO = sys.stdout,
    *,
    as_json: bool = False,
    err: TextIO = sys.stderr,
) -> int:
    key = settings.auth.admin_api_key.get_secret_value()
    if not key:
        print(
            "status needs ADMIN_API_KEY (or [auth] admin_api_key); a daemon on loopback without"
            " secrets writes them to .theset/secrets.env next to its config file, where this"
            " command finds them",
            file=err,
        )
        return EXIT_UNREACHABLE
    path = "/api/monitoring/cron-health" if as_json else "/status/snapshot"
    url = f"{settings.server.local_url}{path}"
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, headers={"Authorization": f"Bearer {key}"}) as response,
        ):
            answer: dict[str, Any] = await response.json(content_type=None)
            status = response.status
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        print(f"the daemon at {url} did not answer: {exc}", file=err)
        return EXIT_UNREACHABLE
    if as_json:
        print(json.dumps(answer, indent=2), file=out)
    if status != 200:
        message = (answer.get("error") or {}).get("message", f"HTTP {status}")
        print(f"status refused: {message}", file=err)
        return EXIT_UNREACHABLE
    if not as_json:
        print(render(answer, datetime.now(UTC), Painter.for_stream(out)), file=out)
    return EXIT_HEALTHY if answer["status"] == "healthy" else EXIT_UNHEALTHY
