"""Postgres for the tests: one server per run, one template database migrated once, a clone of it
per test.

The server is pgserver's (the same embedded Postgres the daemon uses), in a temporary directory;
``THESET_TEST_DATABASE_URL`` points the suite at another server instead. Under pytest-xdist the
controller starts it and builds the template before the workers start, and hands both to every
worker (``workerinput``), so all workers share one server; a run without xdist starts it at the
first test that needs it. It is stopped when the run ends.

- ``database_url``: a fresh database for this test, cloned from the template (``CREATE DATABASE
  ... TEMPLATE``), so every migration is already applied; dropped afterwards.
- ``empty_database_url``: a fresh, empty database (no migration applied), for the tests of
  migrating itself.
- ``db`` and ``conn``: a connection to the one and to the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from theset_daemon.db.migrate import discover, migrate

#: The key under which the xdist controller hands the server to its workers.
WORKER_INPUT_KEY = "theset_postgres"
_STASH_KEY = pytest.StashKey["SharedPostgres"]()


@dataclasses.dataclass(frozen=True, slots=True)
class SharedPostgres:
    admin_dsn: str  # a superuser on the maintenance database
    template: str  # the migrated template database's name


def with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def admin(dsn: str, *statements: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


async def _build_template(dsn: str, name: str) -> None:
    await admin(dsn, f'CREATE DATABASE "{name}"')
    conn = await asyncpg.connect(with_database(dsn, name))
    try:
        await migrate(conn, discover())
    finally:
        await conn.close()
    # No connection to a template: CREATE DATABASE ... TEMPLATE refuses a source in use.
    await admin(dsn, f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')


def _start(stack: contextlib.ExitStack) -> SharedPostgres:
    """The server (ours, or THESET_TEST_DATABASE_URL's) with a new template; ``stack`` undoes it."""
    dsn = os.environ.get("THESET_TEST_DATABASE_URL", "")
    if not dsn:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs: $XDG_RUNTIME_DIR not set
            import pgserver
        # Not under pytest's basetemp: pytest prunes old /tmp/pytest-of-<user>/pytest-N folders
        # at every session start, so a second session running at the same time could delete this
        # server's data directory under it.
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="theset-test-pg-"))
        server = pgserver.get_server(Path(folder) / "data", cleanup_mode="delete")
        stack.callback(server.cleanup)
        dsn = server.get_uri()
        # A throwaway server: no need to survive a power cut. Commits and CREATE DATABASE stop
        # waiting for the disk; what the tests check is unchanged.
        asyncio.run(
            admin(
                dsn,
                "ALTER SYSTEM SET fsync = off",
                "ALTER SYSTEM SET synchronous_commit = off",
                "ALTER SYSTEM SET full_page_writes = off",
                "SELECT pg_reload_conf()",
            )
        )
    # Named per run: two runs on one THESET_TEST_DATABASE_URL server never share a template.
    template = f"theset_template_{uuid.uuid4().hex[:12]}"
    asyncio.run(_build_template(dsn, template))
    stack.callback(lambda: asyncio.run(admin(dsn, f'DROP DATABASE IF EXISTS "{template}"')))
    return SharedPostgres(dsn, template)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist's controller, before each worker starts: the shared server, started once."""
    config: pytest.Config = node.config
    postgres = config.stash.get(_STASH_KEY, None)
    if postgres is None:
        stack = contextlib.ExitStack()
        config.add_cleanup(stack.close)
        postgres = config.stash[_STASH_KEY] = _start(stack)
    node.workerinput[WORKER_INPUT_KEY] = dataclasses.asdict(postgres)


@pytest.fixture(scope="session")
def shared_postgres(pytestconfig: pytest.Config) -> Iterator[SharedPostgres]:
    shared = getattr(pytestconfig, "workerinput", {}).get(WORKER_INPUT_KEY)
    if shared is not None:  # an xdist worker: the controller's server
        yield SharedPostgres(**shared)
        return
    with contextlib.ExitStack() as stack:
        yield _start(stack)


@pytest.fixture(scope="session")
def pg_admin_dsn(shared_postgres: SharedPostgres) -> str:
    return shared_postgres.admin_dsn


def _fresh_database(postgres: SharedPostgres, template: str | None) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:16]}"
    source = f' TEMPLATE "{template}"' if template else ""
    asyncio.run(admin(postgres.admin_dsn, f'CREATE DATABASE "{name}"{source}'))
    try:
        yield with_database(postgres.admin_dsn, name)
    finally:
        asyncio.run(admin(postgres.admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def database_url(shared_postgres: SharedPostgres) -> Iterator[str]:
    """A fresh database with every migration applied (dropped afterwards, connections and all)."""
    yield from _fresh_database(shared_postgres, shared_postgres.template)


@pytest.fixture
def empty_database_url(shared_postgres: SharedPostgres) -> Iterator[str]:
    """A fresh, empty database: no migration applied (dropped afterwards)."""
    yield from _fresh_database(shared_postgres, None)


@contextlib.asynccontextmanager
async def connected(url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(url)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to this test's database (migrated)."""
    async with connected(database_url) as connection:
        yield connection


@pytest.fixture
async def conn(empty_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to a fresh, empty database (the migration tests migrate it themselves)."""
    async with connected(empty_database_url) as connection:
        yield connection
