"""A Postgres server a fault test owns: pgserver's binaries, our own data directory, a loopback TCP
port that stays the same across :meth:`PostgresServer.stop` and :meth:`PostgresServer.start`, so a
daemon pointed at it (``DATABASE_URL``) sees the very server go away and come back.

pgserver's own ``get_server`` is no use here: it listens on a Unix socket in the data directory
and stops the server only when its last user leaves. We run ``initdb`` and ``pg_ctl`` ourselves
(as pgserver's ``pgserver`` system user when the tests run as root: Postgres refuses root).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import asyncpg

from tests.plugins.daemon import free_port

PG_CTL_TIMEOUT_S = 30


def _bin_dir() -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: $XDG_RUNTIME_DIR not set
        from pgserver._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


class PostgresServer:
    """One cluster in ``root``; ``start()``/``stop()`` as often as a test likes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pgdata = root / "data"
        self.log_path = root / "postgres.log"
        self.port = free_port()
        self.bin = _bin_dir()
        # Postgres will not run as root; pgserver creates this user for the same reason.
        self._user = "pgserver" if os.geteuid() == 0 else None
        self._init()

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def dsn(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        result = subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            user=self._user,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=PG_CTL_TIMEOUT_S + 10,
            check=False,
        )
        if result.returncode != 0:
            log = self.log_path.read_text() if self.log_path.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {result.stderr}\n{log}")

    def _init(self) -> None:
        self.pgdata.mkdir(mode=0o700)
        if self._user is not None:
            owner = pwd.getpwnam(self._user)
            self.root.chmod(0o755)
            for path in (self.root, self.pgdata):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        self._run("initdb", "-D", str(self.pgdata), "--auth=trust", "--encoding=utf8",
                  "-U", "postgres", "--no-sync")  # fmt: skip

    def start(self) -> None:
        # TCP on loopback only, no Unix socket: nothing else on the machine shares this server.
        options = f"-h 127.0.0.1 -p {self.port} -k '' -c fsync=off"
        self._run("pg_ctl", "-D", str(self.pgdata), "-l", str(self.log_path), "-o", options,
                  "-w", "-t", str(PG_CTL_TIMEOUT_S), "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """``fast``: connections are cut and transactions rolled back, as in a restart;
        ``immediate``: no shutdown checkpoint, as in a crash."""
        self._run("pg_ctl", "-D", str(self.pgdata), "-m", mode, "-w",
                  "-t", str(PG_CTL_TIMEOUT_S), "stop")  # fmt: skip

    @property
    def running(self) -> bool:
        return (self.pgdata / "postmaster.pid").exists()

    def create_database(self, name: str) -> str:
        async def create() -> None:
            conn = await asyncpg.connect(self.admin_dsn)
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        asyncio.run(create())
        return self.dsn(name)


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A running server for the test, stopped and deleted afterwards. Not under pytest's basetemp:
    another session starting meanwhile may prune old basetemp folders (see tests/conftest.py)."""
    root = Path(tempfile.mkdtemp(prefix="theset-faults-pg-"))
    try:
        server = PostgresServer(root)
        server.start()
        try:
            yield server
        finally:
            if server.running:
                with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                    server.stop("immediate")
    finally:
        shutil.rmtree(root, ignore_errors=True)
