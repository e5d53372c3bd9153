"""The database resource: which Postgres (given or embedded), its asyncpg pool, and migrations.

:func:`open_database` is used by both the daemon and ``theset-daemon migrate``, so the two can
never disagree about where the database is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import asyncpg

from theset_daemon.config import DatabaseSettings
from theset_daemon.db.embedded import EmbeddedPostgres
from theset_daemon.db.migrate import Migration, applied, discover, migrate
from theset_daemon.log import get_logger, redact_text

log = get_logger(__name__)

CONNECT_TIMEOUT_S = 10.0
# A statement that takes longer than this is a bug or an outage, never normal work.
COMMAND_TIMEOUT_S = 60.0
# Readiness must answer fast even when the database hangs.
PING_TIMEOUT_S = 2.0


# What "the database is unreachable" looks like: refused or dropped connections, a server shutting
# down or starting up (SQLSTATE classes 08 and 57), a statement past COMMAND_TIMEOUT_S. The job
# runner retries its end write on these; the HTTP routes answer them 503.
DATABASE_UNREACHABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.InterfaceError,
)


async def set_json_codec(conn: asyncpg.Connection) -> None:
    """Read jsonb as Python values and write Python values to it (asyncpg's default is text).

    Every pooled connection gets it (the pool's ``init``); a connection opened with
    ``asyncpg.connect`` that runs the query modules' jsonb queries must be given it too.
    """
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class DatabaseUnavailable(Exception):
    """Postgres could not be reached at start-up; the message says which setting to look at."""


@dataclass(slots=True)
class Database:
    pool: asyncpg.Pool
    migrations: list[Migration]
    embedded: bool
    #: The migrations this process applied when it opened the database (empty when up to date).
    applied_at_open: list[str]
    #: Where the pool connects; for the dedicated LISTEN connection of the progress broker.
    #: Holds the password: kept out of the repr, never logged.
    dsn: str = field(default="", repr=False)

    async def ping(self) -> tuple[int, int]:
        """(applied, expected) migrations; raises if the database does not answer in time."""
        async with asyncio.timeout(PING_TIMEOUT_S), self.pool.acquire() as conn:
            done = await applied(conn)
        expected = {m.name: m.checksum for m in self.migrations}
        return sum(1 for name, sum_ in expected.items() if done.get(name) == sum_), len(expected)


@contextlib.asynccontextmanager
async def open_database(
    settings: DatabaseSettings, *, pool_min_size: int | None = None
) -> AsyncIterator[Database]:
    """Start (or find) Postgres, open the pool, apply pending migrations; undo all on exit."""
    migrations = discover()
    dsn = settings.url.get_secret_value()
    embedded = None if dsn else EmbeddedPostgres(settings.data_dir)
    try:
        if embedded is not None:
            dsn = await asyncio.to_thread(embedded.start)
        pool = await _create_pool(dsn, settings, pool_min_size, is_embedded=embedded is not None)
        try:
            async with pool.acquire() as conn:
                names = await migrate(conn, migrations)
            if names:
                log.info("migrations_applied", applied=names)
            yield Database(
                pool, migrations, embedded=embedded is not None, applied_at_open=names, dsn=dsn
            )
        finally:
            await _close_pool(pool)
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


async def _create_pool(
    dsn: str, settings: DatabaseSettings, min_size: int | None, *, is_embedded: bool
) -> asyncpg.Pool:
    try:
        pool = await asyncpg.create_pool(
            dsn,
            min_size=settings.pool_min_size if min_size is None else min_size,
            max_size=settings.pool_max_size,
            timeout=CONNECT_TIMEOUT_S,
            command_timeout=COMMAND_TIMEOUT_S,
            server_settings={"application_name": "theset-daemon"},
            init=set_json_codec,
        )
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        where = (
            f"the embedded database in {settings.data_dir}"
            if is_embedded
            else "DATABASE_URL (database.url)"
        )
        hint = "" if is_embedded else "; unset it to use the embedded database"
        raise DatabaseUnavailable(
            f"{where} is unreachable: {redact_text(str(exc)) or type(exc).__name__}{hint}"
        ) from exc
    return pool


async def _close_pool(pool: asyncpg.Pool) -> None:
    try:
        await asyncio.wait_for(pool.close(), timeout=10)
    except TimeoutError:
        log.warning("database_pool_close_timeout")
        pool.terminate()
