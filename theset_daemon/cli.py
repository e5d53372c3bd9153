"""``theset-daemon`` subcommands: argument parsing only; each maps to one function elsewhere."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from theset_daemon import __version__, config, log, runtime
from theset_daemon.config import ConfigError
from theset_daemon.db.migrate import MigrationError
from theset_daemon.db.pool import DatabaseUnavailable, open_database


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

    args = parser.parse_args(argv)
    path = config.resolve_path(args.config, os.environ)
    if args.command == "run":
        return runtime.run(path)
    if args.command == "migrate":
        return migrate(path)
    return check_config(path)


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


def migrate(path: Path) -> int:
    try:
        settings = config.load(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return runtime.EXIT_CONFIG
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


if __name__ == "__main__":
    sys.exit(main())
