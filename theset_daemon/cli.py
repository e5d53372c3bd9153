"""``theset-daemon`` subcommands: argument parsing only; each maps to one function elsewhere.

The commands that talk to the running daemon (``import``, ``trigger``, ``status``, ``artists``)
read the daemon's secrets from the environment, the config, or, on loopback with neither set,
``.theset/secrets.env`` next to the config file (``local_secrets.py``), as ``run`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from theset_daemon import __version__, config, local_secrets, log, runtime
from theset_daemon.config import ConfigError, SimulatorSettings
from theset_daemon.db.migrate import MigrationError
from theset_daemon.db.pool import DatabaseUnavailable, open_database
from theset_daemon.importer.follow import follow_import
from theset_daemon.importer.suggest import LIMIT_MAX, list_artists
from theset_daemon.jobs.context import JOB_NAMES
from theset_daemon.jobs.remote import parse_sets, trigger_remote
from theset_daemon.monitoring.terminal import print_status
from theset_daemon.sim.serve import run_simulator


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="theset-daemon", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--config",
            metavar="PATH",
            help="config file (default: $THESET_CONFIG, else ./config.toml)",
        )
        return sub

    command("run", "run the daemon: HTTP + SSE, scheduler, syncs, monitor")
    command("migrate", "apply pending sql/*.sql migrations and print what was applied")
    command("check-config", "validate the configuration; exit 2 listing every problem")
    simulate_parser = command(
        "simulate", "run the upstream simulator alone (Spotify, Ticketmaster, setlist.fm)"
    )
    simulate_parser.add_argument(
        "--port", type=int, default=8090, help="port on 127.0.0.1 (default: 8090; 0: any free)"
    )
    simulate_parser.add_argument("--seed", type=int, help="catalog seed ([upstream.simulator])")
    simulate_parser.add_argument("--artists", type=int, help="artists in the catalog")
    simulate_parser.add_argument(
        "--latency-ms", type=float, dest="latency_ms", help="latency added to every answer"
    )
    for provider, label in (("ticketmaster", "Ticketmaster"), ("setlistfm", "setlist.fm")):
        simulate_parser.add_argument(
            f"--{provider}-daily-quota",
            type=int,
            dest=f"{provider}_daily_quota",
            metavar="N",
            help=f"{label} calls a day before its quota 429 ([upstream.simulator])",
        )

    import_parser = command(
        "import", "start an artist import on the running daemon and follow its progress"
    )
    import_parser.add_argument("what", metavar="NAME_OR_SPOTIFY_ID")

    trigger_parser = command(
        "trigger", "run a cron job on the running daemon (with CRON_SECRET; trigger = cli)"
    )
    trigger_parser.add_argument("job", choices=JOB_NAMES, metavar="JOB", help=", ".join(JOB_NAMES))
    trigger_parser.add_argument(
        "--wait", action="store_true", help="wait for the run to end, print its summary"
    )
    trigger_parser.add_argument(
        "--json", action="store_true", help="print the route's JSON answer (the Run with --wait)"
    )
    trigger_parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a body field, e.g. --set limit=10 (JSON when it parses, else a string)",
    )

    status_parser = command(
        "status", "the cron health table of the running daemon (with ADMIN_API_KEY)"
    )
    status_parser.add_argument(
        "--json", action="store_true", help="print the cron-health document instead"
    )
    artists_parser = command(
        "artists", "names of the simulator's artists, to import (with ADMIN_API_KEY)"
    )
    artists_parser.add_argument("--offset", type=int, default=0, help="skip N (default: 0)")
    artists_parser.add_argument(
        "--limit", type=int, default=20, help=f"at most N, 1-{LIMIT_MAX} (default: 20)"
    )
    artists_parser.add_argument(
        "--json", action="store_true", help="print the simulator's catalog page instead"
    )

    args = parser.parse_args(argv)
    path = config.resolve_path(args.config, os.environ)
    if args.command == "run":
        return runtime.run(path)
    if args.command == "check-config":
        return check_config(path)
    # The arguments are checked before the file is read: a usage error comes first.
    body: dict[str, object] = {}
    if args.command == "trigger":
        try:
            body = parse_sets(args.sets)
        except ValueError as exc:
            trigger_parser.error(str(exc))
    if args.command == "simulate" and not 0 <= args.port <= 65535:
        simulate_parser.error(f"--port {args.port}: must be 0-65535")
    if args.command == "artists" and not (1 <= args.limit <= LIMIT_MAX and args.offset >= 0):
        artists_parser.error(f"--limit must be 1-{LIMIT_MAX} and --offset at least 0")
    try:
        settings = config.load(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return runtime.EXIT_CONFIG
    if args.command == "migrate":
        return migrate(settings)
    if args.command in ("import", "trigger", "status", "artists"):
        settings = local_secrets.fill(settings, path)
    if args.command == "import":
        return asyncio.run(follow_import(settings, args.what))
    if args.command == "trigger":
        return asyncio.run(
            trigger_remote(settings, args.job, body, wait=args.wait, as_json=args.json)
        )
    if args.command == "status":
        return asyncio.run(print_status(settings, as_json=args.json))
    if args.command == "artists":
        return asyncio.run(
            list_artists(settings, offset=args.offset, limit=args.limit, as_json=args.json)
        )
    flags = {
        "seed": args.seed,
        "artists": args.artists,
        "latency_ms": args.latency_ms,
        "ticketmaster_daily_quota": args.ticketmaster_daily_quota,
        "setlistfm_daily_quota": args.setlistfm_daily_quota,
    }
    return simulate(settings, args.port, {k: v for k, v in flags.items() if v is not None})


def check_config(path: Path) -> int:
    try:
        config.load(path)
    except ConfigError as exc:
        print(f"{exc.source}: {len(exc.problems)} problem(s)", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return runtime.EXIT_CONFIG
    print(f"{path}: OK")
    return 0


def migrate(settings: config.Settings) -> int:
    log.configure(settings.log.model_copy(update={"level": "warning"}))

    async def apply() -> list[str]:
        # The pool opening applies what is pending; we only read back what that was.
        async with open_database(settings.database, pool_min_size=1) as database:
            return database.applied_at_open

    try:
        applied = asyncio.run(apply())
    except (MigrationError, DatabaseUnavailable) as exc:
        print(f"migrate: {exc}", file=sys.stderr)
        return 1
    for name in applied:
        print(f"applied {name}")
    if not applied:
        print("nothing to apply: the schema is up to date")
    return 0


def simulate(settings: config.Settings, port: int, overrides: dict[str, object]) -> int:
    """``[upstream.simulator]`` from the file, flags on top (the daily quotas too); serve until
    SIGINT/SIGTERM."""
    try:
        simulator = SimulatorSettings.model_validate(
            {**settings.upstream.simulator.model_dump(), **overrides}
        )
    except ValidationError as exc:
        for problem in exc.errors():
            flag = "--" + "-".join(str(part) for part in problem["loc"]).replace("_", "-")
            print(f"simulate: {flag}: {problem['msg']}", file=sys.stderr)
        return runtime.EXIT_CONFIG
    log.configure(settings.log)
    return run_simulator(simulator, port=port)


if __name__ == "__main__":
    sys.exit(main())
