"""The daily quota ledger (``upstream_quota_days``): one row per provider and UTC day, shared by
every daemon on the database.

A unit is reserved by one conditional ``UPDATE`` before each send: the row lock orders concurrent
reservations, so two callers can never both take the last unit, on one daemon or on several. The
caps come from the caller (``upstream/budget.py`` turns the settings into them); the statement
only compares.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

import asyncpg

Column = Literal["interactive", "background"]

_USAGE = """interactive, background, reported_available, reported_at_total, resets_at,
            spent_until"""


async def ensure_day(pool: asyncpg.Pool, provider: str, day: date, resets_at: datetime) -> None:
    await pool.execute(
        """INSERT INTO upstream_quota_days (provider, day, resets_at) VALUES ($1, $2, $3)
           ON CONFLICT (provider, day) DO NOTHING""",
        provider,
        day,
        resets_at,
    )


async def reserve(
    pool: asyncpg.Pool,
    provider: str,
    day: date,
    column: Column,
    *,
    total_cap: int | None,
    class_cap: int | None,
) -> asyncpg.Record | None:
    """Count one request of ``column``'s class if every cap still has room; the day's usage
    after it, or None when refused (or when the day's row does not exist yet)."""
    # ``column`` is one of two literals, never user input: safe to place in the statement.
    return await pool.fetchrow(
        f"""UPDATE upstream_quota_days
               SET {column} = {column} + 1, updated_at = now()
             WHERE provider = $1 AND day = $2
               AND (spent_until IS NULL OR spent_until <= now())
               AND ($3::int IS NULL OR interactive + background < $3)
               AND ($4::int IS NULL OR {column} < $4)
               AND (reported_available IS NULL
                    OR reported_available - (interactive + background - reported_at_total) > 0)
         RETURNING {_USAGE}""",
        provider,
        day,
        total_cap,
        class_cap,
    )


async def refund(
    pool: asyncpg.Pool, provider: str, day: date, column: Column
) -> asyncpg.Record | None:
    return await _update(pool, provider, day, f"{column} = greatest({column} - 1, 0)")


async def observe_available(
    pool: asyncpg.Pool, provider: str, day: date, available: int, resets_at: datetime | None
) -> asyncpg.Record | None:
    """The provider's own count of what is left: what we send from now on counts against it."""
    return await _update(
        pool, provider, day,
        """reported_available = $3, reported_at_total = interactive + background,
           resets_at = coalesce($4, resets_at)""",
        available, resets_at,
    )  # fmt: skip


async def mark_spent(
    pool: asyncpg.Pool, provider: str, day: date, until: datetime
) -> asyncpg.Record | None:
    """The provider answered that its quota is spent: nothing goes out before ``until``."""
    return await _update(
        pool, provider, day, "spent_until = greatest(coalesce(spent_until, $3), $3)", until
    )


async def _update(
    pool: asyncpg.Pool, provider: str, day: date, assignments: str, *args: object
) -> asyncpg.Record | None:
    """One day's row changed by ``assignments`` (our own SQL text; ``$3`` on are ``args``)."""
    return await pool.fetchrow(
        f"""UPDATE upstream_quota_days SET {assignments}, updated_at = now()
             WHERE provider = $1 AND day = $2
         RETURNING {_USAGE}""",
        provider,
        day,
        *args,
    )


async def usage(pool: asyncpg.Pool, provider: str, day: date) -> asyncpg.Record | None:
    return await pool.fetchrow(
        f"SELECT {_USAGE} FROM upstream_quota_days WHERE provider = $1 AND day = $2",
        provider,
        day,
    )
