"""Schema migrations: ``sql/NNNN_name.sql`` applied in order, once each.

Each file runs in its own transaction that first takes a transaction-scoped advisory lock, so two
processes migrating at once take turns and the second finds the work done. The lock is released
by the commit or rollback itself; a session-level lock on a pooled connection could outlive an
error silently, a transaction-level one cannot.

``schema_migrations`` records each file's name and SHA-256. A file whose text changed after it was
applied is refused, by name, before anything else runs: the database would no longer match the
repository, and only a new numbered file can change an applied schema.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from theset_daemon.db.conn import Connection
from theset_daemon.log import get_logger

log = get_logger(__name__)

#: The repository's migrations; the package is installed editable (``make install``) beside them.
SQL_DIR = Path(__file__).resolve().parents[2] / "sql"

# Any constant works, as long as nothing else in the database uses it: "theset" + 0x01.
MIGRATION_LOCK_KEY = 0x7468_6573_6574_0001

_FILE_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    name        text PRIMARY KEY,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(Exception):
    """The migrations cannot be applied as they stand; the message says which file and why."""


@dataclass(frozen=True, slots=True)
class Migration:
    name: str
    sql: str
    checksum: str


def discover(sql_dir: Path = SQL_DIR) -> list[Migration]:
    """Every ``NNNN_*.sql`` file in order; refuses gaps in naming and duplicate numbers."""
    if not sql_dir.is_dir():
        raise MigrationError(f"migration directory {sql_dir} does not exist")
    migrations: list[Migration] = []
    seen: dict[str, str] = {}
    for path in sorted(sql_dir.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_lower_snake.sql")
        number = match.group(1)
        if number in seen:
            raise MigrationError(f"{path.name} and {seen[number]} share the number {number}")
        seen[number] = path.name
        sql = path.read_text(encoding="utf-8")
        checksum = hashlib.sha256(sql.encode()).hexdigest()
        migrations.append(Migration(path.name, sql, checksum))
    return migrations


async def applied(conn: Connection) -> dict[str, str]:
    """name -> checksum of every applied migration ({} before the first run)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return {}
    rows = await conn.fetch("SELECT name, checksum FROM schema_migrations")
    return {row["name"]: row["checksum"] for row in rows}


def _check_unchanged(migrations: list[Migration], done: dict[str, str]) -> None:
    changed = [m.name for m in migrations if m.name in done and done[m.name] != m.checksum]
    if changed:
        raise MigrationError(
            "applied migration(s) changed since they ran: "
            + ", ".join(changed)
            + "; restore the original file(s) and put the change in a new numbered file"
        )


async def migrate(conn: Connection, migrations: list[Migration]) -> list[str]:
    """Apply what is pending, in order; returns the names applied by this call."""
    applied_now: list[str] = []
    for migration in migrations:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)
            await conn.execute(_CREATE_TABLE)
            done = await applied(conn)
            _check_unchanged(migrations, done)
            if migration.name in done:
                continue
            try:
                await conn.execute(migration.sql)
            except asyncpg.PostgresError as exc:
                raise MigrationError(f"{migration.name} failed: {exc}") from exc
            await conn.execute(
                "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)",
                migration.name,
                migration.checksum,
            )
            applied_now.append(migration.name)
            log.info("migration_applied", migration=migration.name)
    return applied_now
