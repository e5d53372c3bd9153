"""SQL pieces the query modules share: today's date in UTC, and the row count of a command tag."""

from __future__ import annotations

#: Today (UTC) in SQL: the day a show's ``date`` is compared with to be upcoming.
TODAY_UTC = "(now() AT TIME ZONE 'UTC')::date"


def rows_affected(status: str) -> int:
    """The row count of a command tag ("DELETE 3")."""
    return int(status.split()[-1])
