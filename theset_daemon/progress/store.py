"""The event log in Postgres: ``import_events`` for imports, ``cron_run_events`` for runs.

:func:`record_event` runs inside the caller's transaction, next to the caller's update of its
status row, so the row and the log never disagree; its ``pg_notify`` is delivered at commit, so
no listener ever hears of an event it cannot read yet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, get_args
from uuid import UUID

import asyncpg

from theset_daemon.db.conn import Connection

Kind = Literal["import", "run"]
EventName = Literal["progress", "complete", "failed"]
EVENT_NAMES: tuple[EventName, ...] = get_args(EventName)
TERMINAL: frozenset[str] = frozenset({"complete", "failed"})
CHANNEL = "theset_progress"

# kind -> (status table, its key column, event table, the event table's key column)
_TABLES: dict[str, tuple[str, str, str, str]] = {
    "import": ("import_status", "job_id", "import_events", "job_id"),
    "run": ("cron_logs", "id", "cron_run_events", "run_id"),
}


@dataclass(frozen=True, slots=True)
class StoredEvent:
    seq: int
    event: EventName
    payload: dict[str, Any]

    @property
    def terminal(self) -> bool:
        return self.event in TERMINAL


Executor = Connection | asyncpg.Pool


async def record_event(
    conn: Connection,
    kind: Kind,
    job_id: UUID,
    event: EventName,
    payload: dict[str, Any],
) -> int:
    """Append one event (inside the caller's transaction); returns its sequence number."""
    status_table, status_key, event_table, event_key = _TABLES[kind]
    seq: int = await conn.fetchval(
        f"""UPDATE {status_table} SET last_event_seq = last_event_seq + 1
            WHERE {status_key} = $1 RETURNING last_event_seq""",
        job_id,
    )
    await conn.execute(
        f"INSERT INTO {event_table} ({event_key}, seq, event, payload) VALUES ($1, $2, $3, $4)",
        job_id,
        seq,
        event,
        payload,
    )
    note = json.dumps({"k": kind, "j": str(job_id), "s": seq})
    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, note)
    return seq


async def stream_exists(conn: Executor, kind: Kind, job_id: UUID) -> bool:
    """Whether the job has a status row, so a stream of its events can be asked for (else 404)."""
    status_table, status_key, _, _ = _TABLES[kind]
    found = await conn.fetchval(f"SELECT 1 FROM {status_table} WHERE {status_key} = $1", job_id)
    return found is not None


def _event(row: asyncpg.Record) -> StoredEvent:
    return StoredEvent(row["seq"], row["event"], row["payload"])


async def stored_events(
    conn: Executor, kind: Kind, job_id: UUID, after_seq: int = 0
) -> list[StoredEvent]:
    _, _, event_table, event_key = _TABLES[kind]
    rows = await conn.fetch(
        f"""SELECT seq, event, payload FROM {event_table}
            WHERE {event_key} = $1 AND seq > $2 ORDER BY seq""",
        job_id,
        after_seq,
    )
    return [_event(row) for row in rows]


async def latest_event(conn: Executor, kind: Kind, job_id: UUID) -> StoredEvent | None:
    _, _, event_table, event_key = _TABLES[kind]
    row = await conn.fetchrow(
        f"""SELECT seq, event, payload FROM {event_table}
            WHERE {event_key} = $1 ORDER BY seq DESC LIMIT 1""",
        job_id,
    )
    return _event(row) if row is not None else None
