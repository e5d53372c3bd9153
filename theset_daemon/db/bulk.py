"""Bulk idempotent upserts: many rows in one COPY and one statement.

The rows are COPied (binary) into a temporary table, then one ``INSERT ... SELECT ... ON CONFLICT
DO UPDATE`` writes them. The SELECT joins the stored rows and keeps only the new ones and those
where some column IS DISTINCT FROM the stored value, and the DO UPDATE repeats the test (a
concurrent writer may have changed the row in between). So an unchanged re-sync rewrites nothing:
no new row versions, no dead tuples, no index churn, no ``updated_at`` bump, and it costs a COPY
plus a join (``make bench``: well over 100,000 unchanged rows/s, against about 2,000/s for
per-row upserts).

:class:`BulkTable` says how one table takes them; :func:`time_ordered_ids` makes the ids of new
rows.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from time import time_ns
from typing import Any

import asyncpg
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

from theset_daemon.db.conn import Connection

_TEMP_PREFIX = "_bulk_"
UPSERT_ATTEMPTS = 3  # a bulk upsert that lost an insert race on a second unique key is redone


@dataclass(frozen=True, slots=True)
class BulkTable:
    """How one table takes bulk upserts: its conflict key, the columns we write, and which of
    those an existing row takes from the new one (``keep_when_null`` ones only when the new value
    is known: a development-mode sync has no popularity and must not erase a stored one)."""

    table: str
    key: str
    columns: tuple[str, ...]
    updated: tuple[str, ...]
    keep_when_null: tuple[str, ...] = ()

    @property
    def temp(self) -> str:
        return _TEMP_PREFIX + self.table

    def _new_value(self, column: str, new: str, old: str) -> str:
        if column in self.keep_when_null:
            return f"coalesce({new}.{column}, {old}.{column})"
        return f"{new}.{column}"

    def _changed(self, new: str, old: str) -> str:
        left = ", ".join(f"{old}.{c}" for c in self.updated)
        right = ", ".join(self._new_value(c, new, old) for c in self.updated)
        return f"({left}) IS DISTINCT FROM ({right})"

    def create_sql(self) -> str:
        """The temp table, made once per connection. ON COMMIT DELETE ROWS empties it at each
        commit by truncating its file in place: no DELETE statement, no dead rows piling up
        (a temp table is never vacuumed), no periodic TRUNCATE (a new file, catalog writes)."""
        cols = ", ".join(self.columns)
        return (
            f"CREATE TEMP TABLE IF NOT EXISTS {self.temp} ON COMMIT DELETE ROWS AS "
            f"SELECT {cols} FROM {self.table} WITH NO DATA"
        )

    def upsert_sql(self) -> str:
        """The upsert from the temp table; answers one row, ``written``. Rows are written in key
        order, so two transactions upserting overlapping rows (two artists' syncs sharing
        venues) take their row locks in the same order and cannot deadlock. The order is
        bytewise (``COLLATE "C"``): the same whatever the database's collation, the order in
        which ``db.catalog.song_rows`` hands out ids, and cheaper to sort (memcmp, no strcoll)."""
        cols = ", ".join(self.columns)
        sets = ", ".join(
            f"{c} = {self._new_value(c, 'EXCLUDED', self.table)}" for c in self.updated
        )
        return f"""
            WITH written AS (
                INSERT INTO {self.table} ({cols})
                SELECT {", ".join(f"t.{c}" for c in self.columns)}
                FROM {self.temp} t LEFT JOIN {self.table} s ON s.{self.key} = t.{self.key}
                WHERE s.{self.key} IS NULL OR {self._changed("t", "s")}
                ORDER BY t.{self.key} COLLATE "C"
                ON CONFLICT ({self.key}) DO UPDATE SET {sets}
                WHERE {self._changed("EXCLUDED", self.table)}
                RETURNING 1
            )
            SELECT count(*) AS written FROM written"""


async def bulk_upsert(conn: Connection, spec: BulkTable, records: Iterable[tuple[Any, ...]]) -> int:
    """Upsert ``records`` (tuples in ``spec.columns`` order, keys unique) into ``spec.table``;
    returns how many rows were inserted or changed (unchanged ones are not written)."""
    rows = list(records)
    if not rows:
        return 0
    # One temp table per connection and table, kept rather than created and dropped per call:
    # creating and dropping one costs milliseconds of catalog writes, which would dominate a
    # sync's small batches. The commit empties it (ON COMMIT DELETE ROWS); the DELETE here only
    # finds rows when an enclosing transaction already used it (two calls in one transaction),
    # and costs next to nothing on an empty table.
    # The temp table has no statistics, so the planner would hash the whole target table to join
    # a few hundred rows; a batch is always small next to the table, so index probes are the plan.
    # synchronous_commit off: the commit does not wait for its WAL flush (a few ms, more than the
    # write itself for a sync's batch). A crash may lose the last fraction of a second of such
    # commits, never consistency; every write here is an idempotent upsert the next run redoes,
    # and a checkpoint saved after it (a synchronous commit) flushes the WAL before it, so no
    # checkpoint ever points past a lost write.
    prepare = (
        f"{spec.create_sql()}; DELETE FROM {spec.temp}; SET LOCAL enable_hashjoin = off; "
        "SET LOCAL enable_mergejoin = off; SET LOCAL synchronous_commit = off"
    )
    # ON CONFLICT covers only the conflict key: two transactions inserting the same new row (two
    # artists' syncs sharing a venue) both pass its check, and the later one then fails on the
    # table's other unique index (the slug) once the first commits. Tried again, it sees the
    # committed row and updates it.
    attempts = AsyncRetrying(
        retry=retry_if_exception_type(asyncpg.UniqueViolationError),
        stop=stop_after_attempt(UPSERT_ATTEMPTS),
        reraise=True,
    )
    async for attempt in attempts:
        with attempt:
            return await _upsert_once(conn, spec, rows, prepare)
    raise AssertionError("unreachable: the last attempt returns or raises")


async def _upsert_once(
    conn: Connection, spec: BulkTable, rows: list[tuple[Any, ...]], prepare: str
) -> int:
    if conn.is_in_transaction():
        async with conn.transaction():  # a savepoint in the caller's transaction
            await conn.execute(prepare)
            return await _copy_and_upsert(conn, spec, rows)
    # Our own transaction, begun in the same round trip as its settings: a BEGIN of its own is
    # one more round trip, 3 % of a 500-song call (``make bench``).
    await conn.execute(f"BEGIN; {prepare}")
    try:
        written = await _copy_and_upsert(conn, spec, rows)
    except BaseException:
        if not conn.is_closed():
            await conn.execute("ROLLBACK")
        raise
    await conn.execute("COMMIT")
    return written


async def _copy_and_upsert(conn: Connection, spec: BulkTable, rows: list[tuple[Any, ...]]) -> int:
    await conn.copy_records_to_table(spec.temp, records=rows, columns=list(spec.columns))
    return int(await conn.fetchval(spec.upsert_sql()))


def time_ordered_ids(count: int) -> list[str]:
    """``count`` new UUIDs (version 7, RFC 9562), increasing: the current Unix time in ms,
    then 12 random bits, then a 62-bit counter that starts at a random value (method 2 of the
    RFC, monotonic random). Unique across processes by their 73 random bits."""
    now_ms = time_ns() // 1_000_000
    bits = int.from_bytes(os.urandom(10), "big")
    high = f"{(now_ms & 0xFFFF_FFFF_FFFF) << 16 | 0x7000 | (bits & 0xFFF):016x}"
    # 61 random bits leave the counter room to run without reaching the variant bits (0b10).
    low = 0b10 << 62 | (bits >> 12) & ((1 << 61) - 1)
    return [f"{high}{low + n:016x}" for n in range(count)]
