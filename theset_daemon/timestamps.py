"""Timestamps on the wire: ISO 8601 in UTC with a ``Z`` (``2026-11-28T17:15:26.123456Z``), the
one format every JSON answer and event of the daemon uses."""

from __future__ import annotations

from datetime import datetime


def iso_utc(value: datetime | None) -> str | None:
    """``value`` (an aware UTC datetime, as asyncpg returns timestamptz) as wire text."""
    return value.isoformat().replace("+00:00", "Z") if value is not None else None
