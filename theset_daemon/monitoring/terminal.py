"""``theset-daemon status``: the status page's job table in the terminal.

It reads ``/status/snapshot`` from the running daemon with ``ADMIN_API_KEY`` (from the same
config and environment the daemon reads). Exit codes: 0 healthy, 1 degraded or unhealthy (so a
script or a cron can act on it), 2 the daemon could not be asked.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import aiohttp

from theset_daemon.config import Settings

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


def render(snapshot: dict[str, Any], now: datetime) -> str:
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
    lines = [f"theset-daemon {snapshot['version']} on {snapshot['instance']}: {snapshot['status']}"]
    lines += [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows
    ]
    alerts = snapshot["activeAlerts"]
    lines.append("")
    lines.append(f"active alerts: {len(alerts)}" if alerts else "active alerts: none")
    lines += [f"  [{a['severity']}] {a['job']} {a['rule']}: {a['message']}" for a in alerts]
    running = [i for i in snapshot["imports"] if i["status"] == "running"]
    if running:
        lines.append(f"imports running: {len(running)}")
        lines += [f"  {i['artist']}: {i['stage']} {i['progress']}%" for i in running]
    return "\n".join(lines)


async def print_status(settings: Settings, out: TextIO = sys.stdout) -> int:
    key = settings.auth.admin_api_key.get_secret_value()
    if not key:
        print("status needs ADMIN_API_KEY (or [auth] admin_api_key)", file=sys.stderr)
        return EXIT_UNREACHABLE
    url = f"{settings.server.local_url}/status/snapshot"
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, headers={"Authorization": f"Bearer {key}"}) as response,
        ):
            if response.status != 200:
                body = await response.json(content_type=None)
                print(f"status refused: {body['error']['message']}", file=sys.stderr)
                return EXIT_UNREACHABLE
            snapshot: dict[str, Any] = await response.json()
    except (aiohttp.ClientError, TimeoutError) as exc:
        print(f"the daemon at {url} did not answer: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    print(render(snapshot, datetime.now(UTC)), file=out)
    return EXIT_HEALTHY if snapshot["status"] == "healthy" else EXIT_UNHEALTHY
